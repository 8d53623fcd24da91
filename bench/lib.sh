# Sourced by bench/run.sh and bench/link.sh (not run on its own): the settings both share, the
# Release build, one of the project's private ClickHouse servers and the benchmark table
# bench.events. Sourcing it moves to the repository's root.
#
#   REPS=3             repetitions of each case
#   SERVER=18.16       or 26.7
#   BENCH_DIR=/var/tmp/chexport-bench   the servers' data, the CSV copies and results
#   ROWS=7000000       rows of bench.events (when it is created)
#   PIN=1              with 2 or more cores: the server on core 0, every client on core 1
#   BUILD=1            0: do not install or build, use build-release/chexport as it is
# shellcheck shell=bash
# The variables below are used by the scripts that source this file.
# shellcheck disable=SC2034

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
root=$(pwd)
REPS=${REPS:-3}
SERVER=${SERVER:-18.16}
BENCH_DIR=${BENCH_DIR:-/var/tmp/chexport-bench}
ROWS=${ROWS:-7000000}
PIN=${PIN:-1}
mkdir -p "$BENCH_DIR"
# The prefix of every client command: a model of a server on another machine, where the server
# and the client's zstd do not fight for one CPU.
client=()
if [[ $PIN == 1 && $(nproc) -ge 2 ]]; then client=(taskset -c 1); fi
server_dir=$BENCH_DIR/server-$SERVER

# Installs the dependencies and builds build-release/chexport (and the micro-benchmarks);
# BUILD=0 uses the build-release/chexport there is.
bench_build() {
  if [[ ${BUILD:-1} != 0 ]]; then
    scripts/install-deps.sh
    BUILD_DIR=build-release BUILD_TYPE=Release scripts/build.sh -DCHEXPORT_BENCH=ON -DCHEXPORT_TESTS=OFF >/dev/null
  fi
  chexport=$root/build-release/chexport
}

# Starts the server of $SERVER in $server_dir (again, with its data, when it ran before) and sets
# http_port, tcp_port (0: none), server_pid and url. The caller's EXIT trap calls bench_stop_server.
bench_start_server() {
  if [[ -f $server_dir/ports ]]; then
    read -r http_port tcp_port server_pid < <(scripts/clickhouse-server.sh restart "$server_dir")
  else
    read -r http_port tcp_port server_pid < <(scripts/clickhouse-server.sh start "$server_dir" "$SERVER")
  fi
  # Every thread of the server, and those it starts later, on core 0.
  if ((${#client[@]})); then taskset -a -c -p 0 "$server_pid" >/dev/null; fi
  url="http://127.0.0.1:$http_port"
}

bench_stop_server() {
  scripts/clickhouse-server.sh stop "$server_dir"
}

# ch <<<SQL: one query over HTTP, straight to the server; the answer on stdout.
ch() { curl -sS --fail-with-body --data-binary @- "$url/"; }

# Creates bench.events when it is missing: $ROWS rows in ten monthly partitions, 2024-01 to
# 2024-10, about 1.7 GB of CSV for the default 7,000,000 rows; deterministic (numbers()).
bench_create_events() {
  if [[ $(ch <<<"SELECT count() FROM system.tables WHERE database = 'bench' AND name = 'events'") == 1 ]]; then
    return 0
  fi
  echo "bench: creating bench.events ($ROWS rows, deterministic)" >&2
  ch <<<'CREATE DATABASE IF NOT EXISTS bench'
  ch <<'SQL'
CREATE TABLE bench.events
(
    event_date Date,
    event_time DateTime,
    user_id UInt64,
    session_id UInt32,
    country String,
    device String,
    price Float64,
    quantity Int32,
    url String,
    referrer String,
    comment String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_date)
ORDER BY (event_date, user_id)
SQL
  # Ten monthly partitions; strings of varying length with quotes and commas.
  ch <<SQL
INSERT INTO bench.events
SELECT
    toDate('2024-01-01') + intDiv(number * 300, $ROWS) AS event_date,
    toDateTime(event_date) + (cityHash64(number, 1) % 86400),
    cityHash64(number) % 10000000,
    toUInt32(cityHash64(number, 2) % 4000000000),
    ['DE', 'US', 'FR', 'JP', 'BR', 'IN', 'GB', 'NL'][1 + number % 8],
    ['desktop', 'mobile', 'tablet', 'tv'][1 + cityHash64(number, 3) % 4],
    (cityHash64(number, 4) % 1000000) / 100,
    toInt32(cityHash64(number, 5) % 20) - 2,
    concat('https://shop.example.com/', ['p', 'search', 'cart', 'product/view'][1 + number % 4], '?id=',
           toString(cityHash64(number, 6) % 1000000), '&q=',
           substring('red "shoes", size 42, "quoted" text, more, words, and commas', 1 + cityHash64(number, 7) % 20,
                     cityHash64(number, 8) % 40)),
    if(number % 3 = 0, '', concat('https://ref.example.org/', toString(cityHash64(number, 9) % 100000))),
    substring('A comment with "quotes", commas, and a long tail: lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "incididunt" ut labore et dolore magna aliqua.',
              1 + cityHash64(number, 10) % 60, cityHash64(number, 11) % 140)
FROM numbers($ROWS)
SQL
  ch <<<'OPTIMIZE TABLE bench.events FINAL' || true
}
