#!/usr/bin/env bash
# A Distributed table over two shards, each on its own server (A on 127.0.77.11, B on
# 127.0.77.12, the same ports): the whole table as a client would fetch it through the entry node
# (curl -o /dev/null, curl | zstd -1), against chexport through remote() on the entry node and
# chexport --shard-url (each shard straight from its server), and two chexport --worker hosts
# (processes) sharing the export. Every case reads the same rows; exports are checked for them.
#
#   bash bench/cluster.sh                # ClickHouse 18.16, 3 repetitions
#   SERVER=26.7 bash bench/cluster.sh
#   ROWS=4000000 BENCH_DIR=/var/tmp/chexport-bench REPS=3 PIN=1 BUILD=1   (see bench/lib.sh)
#
# With PIN=1 both servers share core 0 and every client runs on core 1. Prints medians and ratios
# (and writes them to $BENCH_DIR/cluster-$SERVER.md).
set -euo pipefail
ROWS=${ROWS:-4000000}
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

bench_build
host_a=127.0.77.11
host_b=127.0.77.12
dir_a=$BENCH_DIR/cluster-$SERVER-a
dir_b=$BENCH_DIR/cluster-$SERVER-b
stop_cluster() {
  scripts/clickhouse-server.sh stop "$dir_a" || true
  scripts/clickhouse-server.sh stop "$dir_b" || true
}
trap stop_cluster EXIT

# Same ports on both addresses, kept across runs (the data stays too).
start_cluster() {
  local http tcp xml=$BENCH_DIR/cluster-$SERVER.xml
  if [[ -f $dir_a/ports ]]; then
    scripts/clickhouse-server.sh restart "$dir_a" >/dev/null
    scripts/clickhouse-server.sh restart "$dir_b" >/dev/null
  else
    http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.77.11",0)); print(s.getsockname()[1])')
    tcp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.77.11",0)); print(s.getsockname()[1])')
    cat >"$xml" <<XML
<remote_servers><bench_cluster>
  <shard><replica><host>$host_a</host><port>$tcp</port></replica></shard>
  <shard><replica><host>$host_b</host><port>$tcp</port></replica></shard>
</bench_cluster></remote_servers>
XML
    for side in a b; do
      local d=$dir_a h=$host_a
      if [[ $side == b ]]; then d=$dir_b h=$host_b; fi
      CHEXPORT_LISTEN_HOST=$h CHEXPORT_HTTP_PORT=$http CHEXPORT_TCP_PORT=$tcp CHEXPORT_CONFIG_XML=$xml \
        scripts/clickhouse-server.sh start "$d" "$SERVER" >/dev/null
    done
  fi
  read -r http_port _ pid_a <"$dir_a/ports"
  read -r _ _ pid_b <"$dir_b/ports"
  if ((${#client[@]})); then
    taskset -a -c -p 0 "$pid_a" >/dev/null
    taskset -a -c -p 0 "$pid_b" >/dev/null
  fi
  url="http://$host_a:$http_port"
  url_b="http://$host_b:$http_port"
}
start_cluster
at() { curl -sS --fail-with-body --data-binary @- "$1/"; }

# Each shard holds half of the rows, in ten monthly partitions (bench.events' shape).
if [[ $(at "$url" <<<"SELECT count() FROM system.tables WHERE database = 'bench' AND name = 'dist'") != 1 ]]; then
  echo "bench: creating bench.local on both shards and bench.dist ($ROWS rows)" >&2
  half=$((ROWS / 2))
  for u in "$url" "$url_b"; do
    offset=0
    if [[ $u == "$url_b" ]]; then offset=$half; fi
    at "$u" <<<'CREATE DATABASE IF NOT EXISTS bench'
    at "$u" <<<"CREATE TABLE bench.local (event_date Date, event_time DateTime, user_id UInt64, country String, price Float64, url String, comment String) ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) ORDER BY (event_date, user_id)"
    at "$u" <<SQL
INSERT INTO bench.local SELECT
    toDate('2024-01-01') + intDiv((number + $offset) * 300, $ROWS) AS event_date,
    toDateTime(event_date) + (cityHash64(number + $offset, 1) % 86400),
    cityHash64(number + $offset) % 10000000,
    ['DE', 'US', 'FR', 'JP'][1 + (number + $offset) % 4],
    (cityHash64(number + $offset, 4) % 1000000) / 100,
    concat('https://shop.example.com/p?id=', toString(cityHash64(number + $offset, 6) % 1000000)),
    substring('A comment with "quotes", commas, and a long tail: lorem ipsum dolor sit amet, consectetur', 1 + cityHash64(number + $offset, 10) % 30, 60)
FROM numbers($half)
SQL
    at "$u" <<<'OPTIMIZE TABLE bench.local FINAL' || true
  done
  at "$url" <<<"CREATE TABLE bench.dist AS bench.local ENGINE = Distributed(bench_cluster, bench, local)"
fi
rows=$(at "$url" <<<'SELECT count() FROM bench.dist')
[[ $rows == "$ROWS" ]] || { echo "bench: bench.dist has $rows rows, not $ROWS" >&2; exit 1; }

query_url="$url/?query=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("SELECT * FROM bench.dist FORMAT CSV"))')"
out=$BENCH_DIR/cluster-out
export chexport url query_url out
raw=$BENCH_DIR/cluster-raw-$SERVER.tsv
: >"$raw"
measure() {
  local name=$1 check=$2
  shift 2
  for ((i = 1; i <= REPS; i++)); do
    rm -rf "$out"
    /usr/bin/time -f "%e %U %S %M" -o "$BENCH_DIR/time.txt" "${client[@]}" bash -c "$*" >/dev/null 2>"$BENCH_DIR/stderr.txt" || {
      echo "bench: $name failed:" >&2
      cat "$BENCH_DIR/stderr.txt" >&2
      exit 1
    }
    if [[ $check == verify ]]; then
      "$chexport" verify "$out" >/dev/null 2>&1 || { echo "bench: $name: verify failed" >&2; exit 1; }
      got=$(python3 -c 'import glob, json, sys; print(sum(json.load(open(p))["totals"]["rows"] for p in glob.glob(sys.argv[1] + "/manifest*.json")))' "$out")
      [[ $got == "$ROWS" ]] || { echo "bench: $name exported $got rows, not $ROWS" >&2; exit 1; }
    fi
    read -r wall user sys rss <"$BENCH_DIR/time.txt"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$wall" "$user" "$sys" "$rss" >>"$raw"
    echo "bench: $name #$i: ${wall}s wall, ${user}s user, ${sys}s sys, ${rss} KiB" >&2
  done
}
measure "curl -o /dev/null (Distributed query)" none 'curl -sS --fail -o /dev/null "$query_url"'
measure "curl | zstd -1 (Distributed query)" none 'curl -sS --fail "$query_url" | zstd -1 -q -o /dev/null'
# Plain CSV on the wire and zstd -1, as curl | zstd -1 does (bench/run.sh measures the same way).
export cx='-q --zstd-level 1 --wire-compression none'
measure "chexport, remote() through A, -j 2" verify '"$chexport" export --url "$url" -t bench.dist -o "$out" -j 2 $cx'
measure "chexport --shard-url, -j 2" verify "\"\$chexport\" export --url \"\$url\" -t bench.dist -o \"\$out\" -j 2 $cx --shard-url 'http://{host}:$http_port'"
measure "chexport --worker 1/2 + 2/2, --shard-url" verify "\"\$chexport\" export --url \"\$url\" -t bench.dist -o \"\$out\" $cx --shard-url 'http://{host}:$http_port' --worker 1/2 & first=\$!; \"\$chexport\" export --url \"\$url\" -t bench.dist -o \"\$out\" $cx --shard-url 'http://{host}:$http_port' --worker 2/2 && wait \$first"

csv_bytes=$(curl -sS --fail "$query_url" | wc -c)
PYTHONPATH="$(dirname "$0")" python3 - "$raw" "$SERVER" "$rows" "$csv_bytes" <<'PY' | tee "$BENCH_DIR/cluster-$SERVER.md"
import sys
from medians import cell, read_medians
raw, server, rows, csv_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
reps, med = read_medians(raw)
base = med["curl -o /dev/null (Distributed query)"][0]
zbase = med["curl | zstd -1 (Distributed query)"][0]
print(f"ClickHouse {server}, two shards on two servers: {rows:,} rows, {csv_bytes / 1e6:,.0f} MB of CSV; median of {reps} runs\n")
print("| case | wall s | MB/s of CSV | client CPU s | max RSS MiB | / curl | / curl \\| zstd |")
print("|---|---:|---:|---:|---:|---:|---:|")
for k, (wall, cpu, rss) in med.items():
    print(f"| {cell(k)} | {wall:.2f} | {csv_bytes / 1e6 / wall:.0f} | {cpu:.2f} | {rss / 1024:.0f} | {wall / base:.2f} | {wall / zbase:.2f} |")
PY
