#!/usr/bin/env bash
# Thousands of tiny partitions (10 rows each): what a task costs when its rows cost nothing.
# For 1,000, 4,000 and 10,000 partitions: chexport -j 4 against a sequential shell loop of
# curl | zstd -1 over the same partitions (one query per partition, WHERE p = <its value>: the
# partition key prunes on both servers, where _partition_id is slow on 18.16), chexport's
# CPU per task, the bytes it wrote to record progress against the final manifest's size, and the
# time to plan.
#
#   bash bench/partitions.sh                 # ClickHouse 18.16
#   SERVER=26.7 bash bench/partitions.sh
#   COUNTS="1000 4000 10000" LOOP_REPS=1 LOOP_MAX=10000 REPS=3 BENCH_DIR=... PIN=1 BUILD=1
#   (see bench/lib.sh; the shell loop runs only up to LOOP_MAX partitions: it is the slow one)
#
# With PIN=1 the server runs on core 0 and every client on core 1. Prints a Markdown table (and
# writes it to $BENCH_DIR/partitions-$SERVER.md).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
COUNTS=${COUNTS:-1000 4000 10000}
LOOP_REPS=${LOOP_REPS:-1}
LOOP_MAX=${LOOP_MAX:-10000}

bench_build
bench_start_server
trap bench_stop_server EXIT

ch <<<'CREATE DATABASE IF NOT EXISTS bench'
for n in $COUNTS; do
  if [[ $(ch <<<"SELECT count() FROM system.tables WHERE database = 'bench' AND name = 'p$n'") == 1 ]]; then
    continue
  fi
  echo "bench: creating bench.p$n ($n partitions of 10 rows)" >&2
  ch <<<"CREATE TABLE bench.p$n (p UInt32, n UInt64, s String) ENGINE = MergeTree PARTITION BY p ORDER BY n"
  # 100 partitions per INSERT: the servers' limit per block.
  for ((first = 0; first < n; first += 100)); do
    ch <<<"INSERT INTO bench.p$n SELECT intDiv(number, 10), number, toString(cityHash64(number)) FROM numbers($((first * 10)), 1000)"
  done
done

out=$BENCH_DIR/partitions-out
raw=$BENCH_DIR/partitions-raw-$SERVER.tsv
: >"$raw"
export chexport url out
measure() {
  local name=$1 reps=$2
  shift 2
  for ((i = 1; i <= reps; i++)); do
    rm -rf "$out" && mkdir -p "$out"
    /usr/bin/time -f "%e %U %S %M" -o "$BENCH_DIR/time.txt" "${client[@]}" bash -c "$*" >/dev/null 2>"$BENCH_DIR/stderr.txt" || {
      echo "bench: $name failed:" >&2
      tail -5 "$BENCH_DIR/stderr.txt" >&2
      exit 1
    }
    read -r wall user sys rss <"$BENCH_DIR/time.txt"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$wall" "$user" "$sys" "$rss" >>"$raw"
    echo "bench: $name #$i: ${wall}s wall, ${user}s user, ${sys}s sys, ${rss} KiB" >&2
  done
}

declare -A bookkeeping manifest_size
for n in $COUNTS; do
  ch <<<"SELECT DISTINCT partition_id FROM system.parts WHERE database = 'bench' AND table = 'p$n' AND active" >"$BENCH_DIR/ids-$n"
  export ids=$BENCH_DIR/ids-$n n
  ((n > LOOP_MAX)) || measure "shell loop $n" "$LOOP_REPS" 'while read -r id; do curl -sS --fail "$url/" --data-binary "SELECT * FROM bench.p$n WHERE p = $id FORMAT CSV" | zstd -1 -q -o "$out/$id.csv.zst"; done <"$ids"'
  measure "chexport $n" "$REPS" '"$chexport" export --url "$url" -t "bench.p$n" -o "$out" -j 4 -q --zstd-level 1 --wire-compression none'
  "$chexport" verify "$out" >/dev/null 2>&1 || { echo "bench: chexport $n: verify failed" >&2; exit 1; }
  rows=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["totals"]["rows"])' "$out/manifest.json")
  [[ $rows == $((n * 10)) ]] || { echo "bench: chexport $n exported $rows rows, not $((n * 10))" >&2; exit 1; }
  measure "plan $n" "$REPS" '"$chexport" plan --url "$url" -t "bench.p$n"'
  # Untimed: the bytes written to record progress (manifests and journal), as the run counts them.
  rm -rf "$out"
  bookkeeping[$n]=$("$chexport" export --url "$url" -t "bench.p$n" -o "$out" -j 4 --log-level debug --zstd-level 1 --wire-compression none 2>&1 |
    sed -n 's/.*progress recorded in \([0-9]*\) bytes.*/\1/p')
  manifest_size[$n]=$(stat -c %s "$out/manifest.json")
done

{
  for n in $COUNTS; do printf '%s\t%s\t%s\n' "$n" "${bookkeeping[$n]}" "${manifest_size[$n]}"; done
} >"$BENCH_DIR/partitions-bytes-$SERVER.tsv"
PYTHONPATH="$(dirname "$0")" python3 - "$raw" "$BENCH_DIR/partitions-bytes-$SERVER.tsv" "$SERVER" <<'PY' | tee "$BENCH_DIR/partitions-$SERVER.md"
import sys
from medians import read_medians
raw, bytes_file, server = sys.argv[1], sys.argv[2], sys.argv[3]
_, med = read_medians(raw)
reps = sum(1 for line in open(raw) if line.startswith("chexport "))  // len({line.split("\t")[0] for line in open(raw) if line.startswith("chexport ")})
written = {}
for line in open(bytes_file):
    n, book, manifest = line.split()
    written[int(n)] = (int(book), int(manifest))
counts = sorted(written)
first = counts[0]
print(f"ClickHouse {server}: partitions of 10 rows; chexport -j 4, median of {reps} runs "
      f"(the shell loop: as many as LOOP_REPS)\n")
print("| partitions | shell loop s | chexport s | / shell loop | chexport / its time at "
      f"{first:,} x partitions ratio | CPU ms per task | bookkeeping / final manifest | plan s |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for n in counts:
    loop = med.get(f"shell loop {n}", (None,))[0]
    wall, cpu, _ = med[f"chexport {n}"]
    base = med[f"chexport {first}"][0]
    book, manifest = written[n]
    loop_cells = f"{loop:.1f} | {wall:.2f} | {wall / loop:.2f}" if loop else f"not run | {wall:.2f} | -"
    print(f"| {n:,} | {loop_cells} | "
          f"{wall / base / (n / first):.2f} | {cpu / n * 1000:.2f} | {book / manifest:.2f} | "
          f"{med[f'plan {n}'][0]:.2f} |")
PY
