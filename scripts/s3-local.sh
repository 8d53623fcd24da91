#!/usr/bin/env bash
# Starts / stops a private S3 server: Ceph's radosgw from Debian packages on a one-monitor,
# one-OSD (memstore) cluster, all on 127.0.0.1, as plain processes with their files in DIR.
# It verifies AWS SigV4 signatures and body hashes and enforces the 5 MiB minimum part size, like
# AWS (see ../shared/reference/object-storage.md for why each setting is there).
#
#   scripts/s3-local.sh start DIR   -> prints "PORT ACCESS_KEY SECRET_KEY" once the endpoint answers
#   scripts/s3-local.sh stop DIR    -> stops radosgw, the OSD and the monitor by their pid files
set -euo pipefail

cmd=${1:?usage: s3-local.sh start|stop DIR}
dir=${2:?usage: s3-local.sh start|stop DIR}
access_key=chexport-test-access
secret_key=chexport-test-secret-0123456789abcdef

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

stop() {
  # radosgw first, then the OSD, then the monitor (radosgw.pid, osd.0.pid, mon.a.pid).
  for pidfile in "$dir"/radosgw.pid "$dir"/osd.*.pid "$dir"/mon.*.pid; do
    [[ -f $pidfile ]] || continue
    local pid
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

start() {
  # Always a new cluster: stop what an earlier run left and start from an empty directory.
  stop
  rm -rf "$dir"
  mkdir -p "$dir"/{mon,osd,run,log}
  dir=$(cd "$dir" && pwd)
  local p1 p2 rgw fsid osd_uuid
  p1=$(free_port); p2=$(free_port); rgw=$(free_port)
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$dir/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$p2,v1:127.0.0.1:$p1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 2147483648
osd max object name len = 460
osd max object namespace len = 64
keyring = $dir/keyring
run dir = $dir/run
log file = $dir/log/\$name.log
pid file = $dir/\$name.pid
admin socket = $dir/run/\$name.asok
mon data = $dir/mon/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
mon cluster log file = $dir/log/cluster.log

[client.rgw.local]
rgw frontends = beast endpoint=127.0.0.1:$rgw
# Virtual-hosted requests name <bucket>.localhost (libcurl resolves it to 127.0.0.1);
# path-style ones name 127.0.0.1 or localhost.
rgw dns name = localhost
log file = $dir/log/rgw.log
CONF
  local conf=(-c "$dir/ceph.conf")
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.rgw.local --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
  monmaptool --create --addv a "[v2:127.0.0.1:$p2,v1:127.0.0.1:$p1]" --fsid "$fsid" "$dir/monmap" >/dev/null
  mkdir -p "$dir/mon/ceph-a" "$dir/osd/ceph-0"
  ceph-mon "${conf[@]}" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" >/dev/null 2>&1
  ceph-mon "${conf[@]}" -i a 2>>"$dir/log/daemons.stderr"
  # The monitor answers within a few seconds.
  timeout 60 ceph "${conf[@]}" osd create "$osd_uuid" >/dev/null
  ceph-osd "${conf[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>&1
  ceph-osd "${conf[@]}" -i 0 2>>"$dir/log/daemons.stderr"
  radosgw "${conf[@]}" -n client.rgw.local -f >"$dir/log/rgw.stdout" 2>&1 &
  echo $! >"$dir/radosgw.pid"
  for _ in $(seq 1 600); do
    if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$rgw/"; then
      if radosgw-admin "${conf[@]}" -n client.admin user create --uid=chexport --display-name=chexport \
        --access-key="$access_key" --secret="$secret_key" >/dev/null 2>&1; then
        echo "$rgw $access_key $secret_key" >"$dir/endpoint"
        echo "$rgw $access_key $secret_key"
        return 0
      fi
    fi
    if ! kill -0 "$(cat "$dir/radosgw.pid")" 2>/dev/null; then
      echo "s3-local: radosgw exited; see $dir/log" >&2
      stop
      return 1
    fi
    sleep 0.2
  done
  echo "s3-local: radosgw did not answer within 120 s; see $dir/log" >&2
  stop
  return 1
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) echo "usage: s3-local.sh start|stop DIR" >&2; exit 2 ;;
esac
