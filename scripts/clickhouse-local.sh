#!/usr/bin/env bash
# Starts / stops a private ClickHouse server (Debian's clickhouse-server package) as a plain
# process: its own config in a directory, 127.0.0.1 only, free ports, no systemd.
#
#   scripts/clickhouse-local.sh start DIR   -> prints "HTTP_PORT TCP_PORT PID" once SELECT 1 answers
#   scripts/clickhouse-local.sh stop DIR    -> kills the server recorded in DIR/pid and waits
#   scripts/clickhouse-local.sh kill DIR    -> kill -9, as a crash would (for fault tests)
#   scripts/clickhouse-local.sh restart DIR -> starts it again with the same config and ports
#
# Users it creates: default (no password), exporter (password "exporter-secret"),
# reader (readonly=1, no password).
set -euo pipefail

cmd=${1:?usage: clickhouse-local.sh start|stop|kill|restart DIR}
dir=${2:?usage: clickhouse-local.sh start|stop DIR}

free_port() {
  python3 - <<'PY' 2>/dev/null || shuf -i 20000-60000 -n 1
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

stop() {
  local pid
  [[ -f $dir/pid ]] || return 0
  pid=$(cat "$dir/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pid"
}

crash() {
  [[ -f $dir/pid ]] || return 0
  kill -9 "$(cat "$dir/pid")" 2>/dev/null || true
  while kill -0 "$(cat "$dir/pid")" 2>/dev/null; do sleep 0.05; done
  rm -f "$dir/pid"
}

# Runs the server with DIR/config.xml and waits until it answers on port $1.
launch() {
  local http=$1 tcp=$2
  clickhouse-server --config-file="$dir/config.xml" >>"$dir/log/stdout.log" 2>&1 &
  echo $! >"$dir/pid"
  local pid=$!
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "clickhouse-local: server exited during startup; see $dir/log" >&2
      tail -5 "$dir/log/server.err.log" >&2 2>/dev/null || true
      rm -f "$dir/pid"
      return 1
    fi
    if [[ $(curl -s --max-time 2 "http://127.0.0.1:$http/?query=SELECT%201" 2>/dev/null) == 1 ]]; then
      echo "$http $tcp $pid" >"$dir/ports"
      echo "$http $tcp $pid"
      return 0
    fi
    sleep 0.1
  done
  echo "clickhouse-local: server did not answer SELECT 1 within 30 s; see $dir/log" >&2
  stop
  return 1
}

restart() {
  dir=$(cd "$dir" && pwd)
  local http tcp
  read -r http tcp _ <"$dir/ports"
  launch "$http" "$tcp"
}

start() {
  mkdir -p "$dir"/{data,tmp,user_files,log,format_schemas}
  dir=$(cd "$dir" && pwd)
  local http tcp inter
  http=$(free_port); tcp=$(free_port); inter=$(free_port)
  while [[ $tcp == "$http" ]]; do tcp=$(free_port); done
  while [[ $inter == "$http" || $inter == "$tcp" ]]; do inter=$(free_port); done
  cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/server.err.log</errorlog><size>100M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
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
  <mlock_executable>false</mlock_executable>
</yandex>
XML
  cat >"$dir/users.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default><max_memory_usage>4000000000</max_memory_usage></default>
    <readonly><readonly>1</readonly></readonly>
  </profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>
    <exporter><password>exporter-secret</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></exporter>
    <reader><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>readonly</profile><quota>default</quota></reader>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
  launch "$http" "$tcp"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  restart) restart ;;
  *) echo "usage: clickhouse-local.sh start|stop|kill|restart DIR" >&2; exit 2 ;;
esac
