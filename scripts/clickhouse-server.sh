#!/usr/bin/env bash
# Starts / stops a private ClickHouse server as a plain process: its own config in DIR,
# 127.0.0.1 only, a free port, no systemd. Two versions, the two every test runs against:
#   18.16  Debian's clickhouse-server package (scripts/install-deps.sh)
#   26.7   the engine of the npm package @chdb/lib-linux-x64-gnu, run by our launcher
#          (scripts/modern-clickhouse/install.sh, called from here when missing)
#
#   scripts/clickhouse-server.sh start DIR [18.16|26.7] -> "HTTP_PORT TCP_PORT PID" once it answers
#   scripts/clickhouse-server.sh stop DIR    -> stops the server recorded in DIR/pid and waits
#   scripts/clickhouse-server.sh kill DIR    -> kill -9, as a crash would (for fault tests)
#   scripts/clickhouse-server.sh restart DIR -> starts it again: same version, port and data
#
# Users on both: default (no password), exporter (password "exporter-secret"), reader
# (readonly=1, no password), and table_reader (password "table-secret") who may read only the
# table granted.t: `GRANT SELECT ON granted.t` on 26.7; on 18.16, which has no grants, the
# database `granted` alone (allow_databases). On 26.7 also policy_reader (password
# "policy-secret"), who sees only the rows of granted.policy with an even n (a row policy declared
# in users.xml; 18.16 has no row policies). DIR/version records the version.
# 26.7 has no TCP port here (only HTTP is started): TCP_PORT is printed as 0. With
# CHEXPORT_NATIVE_TCP=1 in the environment of start or restart, 26.7 also listens on a native TCP
# port (for clickhouse-client in bench/link.sh); without it, nothing changes.
# Each server's display name (X-ClickHouse-Server-Display-Name) is "chexport-<basename of DIR>",
# so that tests can tell two servers on one host apart.
# For clusters (tests/integration/cluster.cc), start also reads from its environment:
#   CHEXPORT_LISTEN_HOST   a loopback address other than 127.0.0.1 (kept across restarts)
#   CHEXPORT_HTTP_PORT, CHEXPORT_TCP_PORT   fixed ports instead of free ones (26.7: TCP implies
#                          CHEXPORT_NATIVE_TCP=1)
#   CHEXPORT_CONFIG_XML    a file whose XML (e.g. <remote_servers>) goes into the server's config
set -euo pipefail

usage="usage: clickhouse-server.sh start DIR [18.16|26.7] | stop|kill|restart DIR"
cmd=${1:?$usage}
dir=${2:?$usage}
scripts=$(cd "$(dirname "$0")" && pwd)

free_port() {
  python3 - <<'PY' 2>/dev/null || shuf -i 20000-60000 -n 1
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

wait_gone() {
  local pid=$1
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

stop() {
  [[ -f $dir/pid ]] || return 0
  local pid
  pid=$(cat "$dir/pid")
  if kill "$pid" 2>/dev/null; then wait_gone "$pid"; fi
  rm -f "$dir/pid"
}

crash() {
  [[ -f $dir/pid ]] || return 0
  local pid
  pid=$(cat "$dir/pid")
  kill -9 "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$dir/pid"
}

# Waits until the server in DIR/pid answers SELECT 1 on port $1; prints the ports and pid.
await() {
  local http=$1 tcp=$2 pid
  pid=$(cat "$dir/pid")
  for _ in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "clickhouse-server: the $(cat "$dir/version") server exited during startup; see $dir/log" >&2
      tail -5 "$dir/log/server.err.log" "$dir/log/stdout.log" >&2 2>/dev/null || true
      rm -f "$dir/pid"
      return 1
    fi
    if [[ $http == 0 && -s $dir/http_port ]]; then http=$(tr -dc 0-9 <"$dir/http_port"); fi
    if [[ $http != 0 && $(curl -s --max-time 2 "http://$(host):$http/?query=SELECT%201" 2>/dev/null) == 1 ]]; then
      echo "$http $tcp $pid" >"$dir/ports"
      echo "$http $tcp $pid"
      return 0
    fi
    sleep 0.1
  done
  echo "clickhouse-server: the server did not answer SELECT 1 within 60 s; see $dir/log" >&2
  stop
  return 1
}

# The address the server in $dir listens on.
host() { cat "$dir/host" 2>/dev/null || echo 127.0.0.1; }

# What CHEXPORT_CONFIG_XML adds to the config, if anything.
extra_config() { if [[ -n ${CHEXPORT_CONFIG_XML:-} ]]; then cat "$CHEXPORT_CONFIG_XML"; fi; }

launch_18() {
  clickhouse-server --config-file="$dir/config.xml" >>"$dir/log/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
}

# clickhouse-local inside libchdb.so: start the HTTP handler, write the port it got (0 asks the
# OS for a free one), then keep the process alive with a query that sleeps at ~0 % CPU.
# A TCP port other than 0 ($2) also starts the native protocol's handler there.
launch_26() {
  local http=$1 tcp=${2:-0} modern listen_tcp=""
  modern=$("$scripts/modern-clickhouse/install.sh")
  rm -f "$dir/http_port"
  if [[ $tcp != 0 ]]; then listen_tcp="SYSTEM START LISTEN TCP;
      "; fi
  TZ=UTC "$modern/chdb-launcher" "$modern/libchdb.so" \
    --config-file="$dir/config.xml" --listen_host="$(host)" --http_port="$http" --tcp_port="$tcp" \
    --path="$dir/data/" --query "SYSTEM START LISTEN HTTP;
      ${listen_tcp}SELECT getServerPort('http_port') INTO OUTFILE '$dir/http_port' TRUNCATE FORMAT TSV;
      SELECT sleepEachRow(1) FROM numbers(1000000000)
      SETTINGS max_block_size = 1, function_sleep_max_microseconds_per_block = 0 FORMAT Null" \
    >>"$dir/log/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
}

launch() {
  local http=$1 tcp=$2
  case $(cat "$dir/version") in
    18.16) launch_18 ;;
    26.7)
      # The native port only on request (CHEXPORT_NATIVE_TCP=1): kept across restarts, else 0.
      if [[ ${CHEXPORT_NATIVE_TCP:-0} == 1 || $tcp != 0 ]]; then
        if [[ $tcp == 0 ]]; then tcp=$(free_port); fi
        while [[ $tcp == "$http" ]]; do tcp=$(free_port); done
      else
        tcp=0
      fi
      launch_26 "$http" "$tcp"
      ;;
  esac
  await "$http" "$tcp"
}

restart() {
  dir=$(cd "$dir" && pwd)
  local http tcp
  read -r http tcp _ <"$dir/ports"
  launch "$http" "$tcp"
}

write_config_18() {
  local http=$1 tcp=$2 inter=$3
  cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/server.err.log</errorlog><size>100M</size><count>1</count></logger>
  <listen_host>$(host)</listen_host>
  <http_port>$http</http_port>
  <tcp_port>$tcp</tcp_port>
  <interserver_http_port>$inter</interserver_http_port>
  <max_connections>256</max_connections>
  <keep_alive_timeout>10</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mark_cache_size>268435456</mark_cache_size>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <display_name>chexport-$(basename "$dir")</display_name>
  <mlock_executable>false</mlock_executable>
$(extra_config)
</yandex>
XML
}

# One users file for both versions; $1 is the root element's name, $2 what confines table_reader,
# $3 more users.
write_users() {
  local root=$1 confine=$2 more=${3:-} localhost='<networks><ip>127.0.0.0/8</ip><ip>::1</ip></networks>'
  cat >"$dir/users.xml" <<XML
<?xml version="1.0"?>
<$root>
  <profiles>
    <default><max_memory_usage>4000000000</max_memory_usage></default>
    <readonly><readonly>1</readonly></readonly>
  </profiles>
  <users>
    <default><password></password>$localhost<profile>default</profile><quota>default</quota></default>
    <exporter><password>exporter-secret</password>$localhost<profile>default</profile><quota>default</quota></exporter>
    <reader><password></password>$localhost<profile>readonly</profile><quota>default</quota></reader>
    <table_reader><password>table-secret</password>$localhost<profile>default</profile><quota>default</quota>$confine</table_reader>
    $more
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</$root>
XML
}

start() {
  local version=${1:-18.16}
  case $version in
    18.16 | 26.7) ;;
    *) echo "clickhouse-server: unknown version '$version' (18.16 or 26.7)" >&2; exit 2 ;;
  esac
  mkdir -p "$dir"/{data,tmp,user_files,log,format_schemas}
  dir=$(cd "$dir" && pwd)
  echo "$version" >"$dir/version"
  echo "${CHEXPORT_LISTEN_HOST:-127.0.0.1}" >"$dir/host"
  if [[ $version == 18.16 ]]; then
    local http=${CHEXPORT_HTTP_PORT:-} tcp=${CHEXPORT_TCP_PORT:-} inter
    [[ -n $http ]] || http=$(free_port)
    [[ -n $tcp ]] || tcp=$(free_port)
    inter=$(free_port)
    while [[ $tcp == "$http" ]]; do tcp=$(free_port); done
    while [[ $inter == "$http" || $inter == "$tcp" ]]; do inter=$(free_port); done
    write_config_18 "$http" "$tcp" "$inter"
    write_users yandex '<allow_databases><database>granted</database></allow_databases>'
    launch "$http" "$tcp"
  else
    # Only users_config is read from this file (modern-clickhouse.md: <users> here has no effect).
    echo "<clickhouse><display_name>chexport-$(basename "$dir")</display_name><users_config>$dir/users.xml</users_config>$(extra_config)</clickhouse>" >"$dir/config.xml"
    write_users clickhouse '<grants><query>GRANT SELECT ON granted.t</query></grants>' \
      "<policy_reader><password>policy-secret</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota><databases><granted><policy><filter>n % 2 = 0</filter></policy></granted></databases></policy_reader>"
    launch "${CHEXPORT_HTTP_PORT:-0}" "${CHEXPORT_TCP_PORT:-0}"
  fi
}

case $cmd in
  start) start "${3:-}" ;;
  stop) stop ;;
  kill) crash ;;
  restart) restart ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
