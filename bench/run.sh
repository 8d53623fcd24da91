#!/usr/bin/env bash
# The benchmark harness: one command that builds chexport in Release, starts one of the project's
# private ClickHouse servers, creates the benchmark table if it is missing, and measures, on the
# same queries and one after another, curl, curl | zstd, clickhouse-client | zstd (18.16 only: the
# 26.7 server has no native port here), chexport and zstd alone.
#
#   bash bench/run.sh                 # ClickHouse 18.16, 3 repetitions of each case
#   SERVER=26.7 bash bench/run.sh     # the same against ClickHouse 26.7
#   REPS=5 bash bench/run.sh
#   BENCH_DIR=/var/tmp/chexport-bench # where the servers' data, the CSV copies and results live
#   PIN=0 bash bench/run.sh           # do not pin (see below)
#
# With 2 or more cores the server runs on core 0 and every client (curl, zstd, chexport) on core 1
# (taskset), a model of a server on another machine: otherwise the server and zstd fight for CPU.
# Prints a table of medians and ratios (and writes it to $BENCH_DIR/results-$SERVER.md); raw
# numbers in $BENCH_DIR/raw-$SERVER.tsv. Takes a few minutes; the table (about 1.6 GB of CSV) is
# made once per server.
set -euo pipefail
# The settings, the build, the server and bench.events are shared with bench/link.sh.
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

bench_build
trap bench_stop_server EXIT
bench_start_server
bench_create_events

whole="SELECT * FROM bench.events FORMAT CSV"
partition_id=$(ch <<<"SELECT partition_id FROM system.parts WHERE database = 'bench' AND table = 'events' AND active ORDER BY partition_id LIMIT 1 OFFSET 4")
# The predicate chexport sends for one partition (reference clickhouse-http.md §7).
if [[ $SERVER == 18.16 ]]; then in_partition="startsWith(_part, '%s_')"; else in_partition="_partition_id = '%s'"; fi
# shellcheck disable=SC2059
one="SELECT * FROM bench.events WHERE $(printf "$in_partition" "$partition_id") FORMAT CSV"
csv=$BENCH_DIR/events-$SERVER.csv
if [[ ! -s $csv ]]; then curl -sS --fail -o "$csv" --data-binary "$whole" "$url/"; fi
csv_bytes=$(stat -c %s "$csv")
parts=$(ch <<<"SELECT uniqExact(partition) FROM system.parts WHERE database = 'bench' AND table = 'events' AND active")
echo "bench: bench.events: $(ch <<<'SELECT count() FROM bench.events') rows, $parts partitions, $csv_bytes bytes of CSV" >&2

raw=$BENCH_DIR/raw-$SERVER.tsv
: >"$raw"
out=$BENCH_DIR/out
# measure NAME QUERY_KIND COMMAND...: wall, user, sys, max RSS (KiB) of COMMAND (a shell pipeline
# counts all its processes' CPU; the peak RSS is of the largest process).
measure() {
  local name=$1 kind=$2
  shift 2
  for ((i = 1; i <= REPS; i++)); do
    rm -rf "$out" && mkdir -p "$out"
    sync
    /usr/bin/time -f "%e %U %S %M" -o "$BENCH_DIR/time.txt" "${client[@]}" "$@" >/dev/null 2>"$BENCH_DIR/stderr.txt" || {
      echo "bench: $name failed:" >&2
      cat "$BENCH_DIR/stderr.txt" >&2
      exit 1
    }
    read -r wall user sys rss <"$BENCH_DIR/time.txt"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$kind" "$wall" "$user" "$sys" "$rss" >>"$raw"
    echo "bench: $name #$i: ${wall}s wall, ${user}s user, ${sys}s sys, ${rss} KiB" >&2
  done
}

cat "$csv" >/dev/null  # page cache
measure "zstd -1 on the CSV file" file zstd -1 -T1 -q -c "$csv"
measure "zstd -3 on the CSV file" file zstd -3 -T1 -q -c "$csv"
measure "curl -o /dev/null (one partition)" partition curl -sS --fail -o /dev/null --data-binary "$one" "$url/"
measure "curl -o /dev/null" table curl -sS --fail -o /dev/null --data-binary "$whole" "$url/"
ids=$(ch <<<"SELECT DISTINCT partition_id FROM system.parts WHERE database = 'bench' AND table = 'events' AND active ORDER BY partition_id" | tr '\n' ' ')
# The same queries chexport sends, one after another: the server's floor for a 1-worker export.
per_partition=""
for p in $ids; do
  # shellcheck disable=SC2059
  per_partition+="curl -sS --fail -o /dev/null --data-binary \"SELECT * FROM bench.events WHERE $(printf "$in_partition" "$p") FORMAT CSV\" '$url/' && "
done
measure "curl -o /dev/null, one query per partition" table bash -c "${per_partition}true"
measure "curl | zstd -1" table bash -c "curl -sS --fail --data-binary '$whole' '$url/' | zstd -1 -T1 -q > '$out/t.csv.zst'"
measure "curl | zstd -3" table bash -c "curl -sS --fail --data-binary '$whole' '$url/' | zstd -3 -T1 -q > '$out/t.csv.zst'"
if [[ $tcp_port != 0 ]]; then
  measure "clickhouse-client | zstd -1" table bash -c "clickhouse-client --port $tcp_port --query '$whole' | zstd -1 -T1 -q > '$out/t.csv.zst'"
fi
# Plain CSV on the wire, like curl's: this table is about the client's own work. bench/link.sh
# measures compression on the wire (--wire-compression auto, the default) over slow links.
for level in 1 3; do
  measure "chexport 1 worker, zstd -$level" table "$chexport" export --log-level warn --url "$url" \
    -t bench.events -o "$out" --zstd-level "$level" --wire-compression none
done
for workers in 2 4; do
  measure "chexport $workers workers, zstd -1" table "$chexport" export --log-level warn --url "$url" \
    -t bench.events -o "$out" --zstd-level 1 --workers "$workers" --wire-compression none
done
# Memory must not grow with the data: the same export of a quarter of the table (75 of 300 days).
measure "chexport 4 workers, zstd -1, a quarter of the table" quarter "$chexport" export --log-level warn \
  --url "$url" -t bench.events -o "$out" --zstd-level 1 --workers 4 --wire-compression none \
  --upper-condition "event_date < toDate('2024-01-01') + 75"

results=$BENCH_DIR/results-$SERVER.md
echo "ClickHouse $(ch <<<'SELECT version()'), $( ((${#client[@]})) && echo 'server on core 0, clients on core 1' || echo 'not pinned')." >"$results"
python3 - "$raw" "$csv_bytes" >>"$results" <<'PY'
import statistics, sys
from collections import OrderedDict
raw, csv_bytes = sys.argv[1], int(sys.argv[2])
runs = OrderedDict()
for line in open(raw):
    name, kind, wall, user, sys_, rss = line.rstrip("\n").split("\t")
    runs.setdefault((name, kind), []).append((float(wall), float(user) + float(sys_), int(rss)))
med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v), max(r[2] for r in v))
       for k, v in runs.items()}
base = {"table": med[("curl -o /dev/null", "table")][0], "partition": med[("curl -o /dev/null (one partition)", "partition")][0]}
zstd1_cpu = med[("zstd -1 on the CSV file", "file")][1]
print(f"CSV: {csv_bytes / 1e6:.0f} MB. Medians of {len(next(iter(runs.values())))} runs; "
      "wall ratio against `curl -o /dev/null` of the same query; CPU is user+sys of every process of the command.\n")
per_partition = med[("curl -o /dev/null, one query per partition", "table")][0]
quarter_rss = med[("chexport 4 workers, zstd -1, a quarter of the table", "quarter")][2]
full_rss = med[("chexport 4 workers, zstd -1", "table")][2]
print("| case | wall s | wall / curl | wall / curl per partition | MB/s | CPU s | CPU / zstd -1 CPU | peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for (name, kind), (wall, cpu, rss) in med.items():
    ratio = f"{wall / base[kind]:.2f}" if kind in base else "-"
    ratio_pp = f"{wall / per_partition:.2f}" if kind == "table" else "-"
    mbs = f"{csv_bytes / 1e6 / wall:.0f}" if kind == "table" or kind == "file" else "-"
    name = name.replace("|", "\\|")
    print(f"| {name} | {wall:.2f} | {ratio} | {ratio_pp} | {mbs} | {cpu:.2f} | {cpu / zstd1_cpu:.2f} | {rss / 1024:.1f} |")
print(f"\nPeak RSS with 4 workers: {full_rss / 1024:.1f} MiB for the whole table, {quarter_rss / 1024:.1f} MiB "
      f"for a quarter of it ({(full_rss / quarter_rss - 1) * 100:+.1f} % for 4x the data).")
PY
# Planning: a table with 1,000 partitions (issue 4 asks for well under a second).
if [[ $(ch <<<"SELECT count() FROM system.tables WHERE database = 'bench' AND name = 'many'") != 1 ]]; then
  ch <<<'CREATE TABLE bench.many (p UInt16, n UInt64) ENGINE = MergeTree PARTITION BY p ORDER BY n'
  # 18.16 refuses more than 100 partitions per INSERT block: ten inserts of 100 partitions each.
  for k in 0 1 2 3 4 5 6 7 8 9; do
    ch <<<"INSERT INTO bench.many SELECT $k * 100 + number % 100, number FROM numbers(10000)"
  done
fi
: >"$BENCH_DIR/plan.tsv"
for ((i = 1; i <= REPS; i++)); do
  /usr/bin/time -f "%e" -o "$BENCH_DIR/time.txt" "${client[@]}" "$chexport" plan --url "$url" -t bench.many --json >/dev/null
  cat "$BENCH_DIR/time.txt" >>"$BENCH_DIR/plan.tsv"
  /usr/bin/time -f "%e" -o "$BENCH_DIR/time.txt" "${client[@]}" "$chexport" plan --url "$url" -t bench.many \
    --lower-condition "n > 10" --json >/dev/null
  sed 's/^/bounds /' "$BENCH_DIR/time.txt" >>"$BENCH_DIR/plan.tsv"
done
python3 - "$BENCH_DIR/plan.tsv" >>"$results" <<'PY'
import statistics, sys
plain, bounded = [], []
for line in open(sys.argv[1]):
    parts = line.split()
    (bounded if parts[0] == "bounds" else plain).append(float(parts[-1]))
print(f"\nPlanning `bench.many` (1,000 partitions), `chexport plan --json`, median wall time: "
      f"{statistics.median(plain):.3f} s; with a lower_condition (one extra GROUP BY count): "
      f"{statistics.median(bounded):.3f} s.")
PY
cat "$results"
echo "bench: raw numbers in $raw" >&2
"$root/build-release/bench/micro_bench" --benchmark_min_time=0.5
