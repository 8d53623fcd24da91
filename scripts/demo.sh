#!/usr/bin/env bash
# The demo: on a fresh Debian 12 machine, as root, installs the dependencies, builds chexport,
# starts a private ClickHouse server with ~3 million rows of sample data in demo.trips (5 monthly
# partitions, awkward strings, arrays, NULLs), runs a real export into ./demo-out and checks it.
# The server is always stopped on exit, also on failure or Ctrl-C. Re-runnable.
#
#   bash scripts/demo.sh          # against ClickHouse 18.16 (Debian's package)
#   bash scripts/demo.sh 26.7     # against ClickHouse 26.7 (npm; scripts/modern-clickhouse/)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-18.16}

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "Installing dependencies (scripts/install-deps.sh)"
scripts/install-deps.sh

step "Building (scripts/build.sh -> ./build/chexport)"
scripts/build.sh
chexport=./build/chexport

step "Starting a private ClickHouse $version server (scripts/clickhouse-server.sh)"
server_dir=$(mktemp -d /tmp/chexport-demo.XXXXXX)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  echo "==> Stopping the ClickHouse server in $server_dir"
  scripts/clickhouse-server.sh stop "$server_dir" || true
  rm -rf "$server_dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ports=$(scripts/clickhouse-server.sh start "$server_dir" "$version")  # "HTTP_PORT TCP_PORT PID"
read -r http_port tcp_port server_pid <<<"$ports"
url="http://127.0.0.1:$http_port"
echo "server pid $server_pid, HTTP port $http_port, TCP port $tcp_port, data in $server_dir"

# Runs the SQL on stdin (one statement) and prints the answer.
ch() { curl -sS --fail-with-body --data-binary @- "$url/"; }
echo "ClickHouse version: $(ch <<<'SELECT version()')"

step "Creating demo.trips and inserting 3,000,000 rows"
ch <<<'CREATE DATABASE IF NOT EXISTS demo'
ch <<<'DROP TABLE IF EXISTS demo.trips'
ch <<'SQL'
CREATE TABLE demo.trips
(
    pickup_date Date,
    pickup_datetime DateTime,
    id UInt64,
    vendor String,
    passenger_count UInt8,
    fare Float64,
    note String,
    tags Array(String),
    tip Nullable(Float64)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(pickup_date)
ORDER BY (pickup_date, id)
SQL
# Deterministic: every value is a function of `number`. 2024-01-01 + 0..151 days = 5 months.
# The notes exercise CSV quoting: double quotes, commas, \n, \r\n, a bare \r, tabs, backslashes,
# unicode, and text that looks like a server error but is data.
ch <<'SQL'
INSERT INTO demo.trips
SELECT
    toDate('2024-01-01') + intDiv(number, 19737) AS pickup_date,
    toDateTime(pickup_date) + modulo(cityHash64(number, 1), 86400) AS pickup_datetime,
    number + 1 AS id,
    ['CMT', 'VTS', 'DDS', 'Yellow "Cab", Inc.'][modulo(cityHash64(number, 2), 4) + 1] AS vendor,
    toUInt8(1 + modulo(cityHash64(number, 3), 6)) AS passenger_count,
    round(2.5 + modulo(cityHash64(number, 4), 10000) / 100, 2) AS fare,
    multiIf(
        modulo(number, 12) = 0, concat('He said "take the highway", then paid. #', toString(number)),
        modulo(number, 12) = 1, 'café ☕, ünïcödé, 東京',
        modulo(number, 12) = 2, concat('line one\nline two\nline three #', toString(number)),
        modulo(number, 12) = 3, 'windows\r\nline ending',
        modulo(number, 12) = 4, 'tab\tseparated\tvalues',
        modulo(number, 12) = 5, 'bare \r carriage return',
        modulo(number, 12) = 6, '',
        modulo(number, 12) = 7, 'backslash \\ and \'single\' quotes',
        modulo(number, 12) = 8, 'Code: 395, looks like a server error but is data',
        modulo(number, 12) = 9, '__exception__ is just data here\n',
        concat('plain note ', toString(number))) AS note,
    arrayMap(x -> if(x = 2, 'comma, "quote"', concat('tag', toString(x))),
             range(toUInt64(modulo(number, 4)))) AS tags,
    if(modulo(number, 5) = 0, NULL, round(modulo(cityHash64(number, 5), 2000) / 100, 2)) AS tip
FROM numbers(3000000)
SQL
echo "partitions (partition, active parts, rows):"
ch <<<"SELECT partition, count(), sum(rows) FROM system.parts WHERE database = 'demo' AND table = 'trips' AND active GROUP BY partition ORDER BY partition" |
  sed 's/^/  /'

step "Exporting: chexport export --url $url --table demo.trips --out ./demo-out --fresh --max-rows-per-file 400000"
export_started=$SECONDS
"$chexport" export --url "$url" --table demo.trips --out ./demo-out --fresh --max-rows-per-file 400000
echo "export took $((SECONDS - export_started)) s"

step "Files written"
find demo-out -type f | sort | xargs ls -l

step "Testing every compressed file (zstd -t)"
find demo-out -type f -name '*.zst' -print0 | sort -z | xargs -0 zstd -t

step "Checking every file's SHA-256 against the manifest"
python3 - demo-out <<'PY'
import hashlib, json, sys
root = sys.argv[1]
manifest = json.load(open(f"{root}/manifest.json"))
bad = 0
for task in manifest["tasks"]:
    for f in task["files"]:
        with open(f"{root}/{f['path']}", "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        if digest != f["sha256"]:
            print(f"MISMATCH {f['path']}")
            bad += 1
print(f"{sum(len(t['files']) for t in manifest['tasks'])} files checked, {bad} mismatches")
sys.exit(1 if bad else 0)
PY

first_file=$(find demo-out -type f -name 'part-*' | sort | head -1)
step "First 5 lines of $first_file (zstd -dc | head -5)"
zstd -dc "$first_file" | head -5 || true

step "Manifest totals"
python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print(json.dumps(m["totals"], indent=2)); print("exit_code:", m["exit_code"])' demo-out/manifest.json

step "Comparing the exported row count with the server's count()"
manifest_rows=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["totals"]["rows"])' demo-out/manifest.json)
server_rows=$(ch <<<'SELECT count() FROM demo.trips')
echo "manifest totals.rows:  $manifest_rows"
echo "SELECT count():        $server_rows"
if [[ $manifest_rows != "$server_rows" ]]; then
  echo "demo: FAILED: the row counts differ" >&2
  exit 1
fi

step "Reading the export with DuckDB, one glob for every file (docs/reading-exports.md)"
duckdb_sql="SELECT partition, count(*) AS rows, count(tip) AS tips
FROM read_csv('demo-out/demo/trips/*/*/*.csv.zst', header = false,
    names = ['pickup_date', 'pickup_datetime', 'id', 'vendor', 'passenger_count', 'fare', 'note', 'tags', 'tip'],
    delim = ',', quote = '\"', escape = '\"', new_line = '\\n', nullstr = '\\N',
    hive_partitioning = true, hive_types_autocast = false)
GROUP BY partition ORDER BY partition"
echo "$duckdb_sql"
duckdb_counts=$(node tests/tools/duckdb_query.mjs "$(scripts/duckdb/install.sh)" "$duckdb_sql")
server_counts=$(ch <<<"SELECT toYYYYMM(pickup_date) AS p, count(), count(tip) FROM demo.trips GROUP BY p ORDER BY p FORMAT TSV")
echo "DuckDB (partition, rows, non-NULL tips):"
sed 's/^/  /' <<<"$duckdb_counts"
if [[ $duckdb_counts != "$server_counts" ]]; then
  echo "demo: FAILED: DuckDB read other counts than the server's:" >&2
  sed 's/^/  /' <<<"$server_counts" >&2
  exit 1
fi
echo "equal to the server's counts per partition"

step "Demo OK in $((SECONDS - started)) s: $server_rows rows exported into ./demo-out"
