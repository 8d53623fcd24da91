#!/usr/bin/env bash
# Import throughput: `chexport import` of an export of bench.events against the same files loaded
# by hand, `zstd -dc FILE | curl --data-binary @- 'INSERT ... FORMAT CSV'` one after another (and,
# on servers that read a zstd request body, `curl -H 'Content-Encoding: zstd' --data-binary @FILE`),
# into a fresh copy of the table each time. The same files, the same server, one after another.
#
#   bash bench/import.sh                 # ClickHouse 18.16, 3 repetitions
#   SERVER=26.7 bash bench/import.sh
#   ROWS=2000000 BENCH_DIR=/var/tmp/chexport-bench REPS=3 PIN=1 BUILD=1   (see bench/lib.sh)
#
# Prints medians and ratios (and writes them to $BENCH_DIR/import-$SERVER.md).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

bench_build
trap bench_stop_server EXIT
bench_start_server
bench_create_events

export_dir=$BENCH_DIR/import-source-$SERVER
if [[ ! -s $export_dir/manifest.json ]]; then
  rm -rf "$export_dir"
  "$chexport" export --url "$url" -t bench.events -o "$export_dir" --quiet
fi
mapfile -t files < <(cd "$export_dir" && find bench -name 'part-*.csv.zst' | sort)
rows=$(ch <<<'SELECT count() FROM bench.events')
csv_bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["csv_bytes"])' "$export_dir/manifest.json")
echo "bench: ${#files[@]} files, $rows rows, $csv_bytes bytes of CSV" >&2

fresh_target() {
  ch <<<'DROP DATABASE IF EXISTS bench_import'
  ch <<<'CREATE DATABASE bench_import'
  ch <<<'CREATE TABLE bench_import.events AS bench.events'
}
insert_url="$url/?query=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("INSERT INTO bench_import.events FORMAT CSV"))')"
by_hand() {
  cd "$export_dir"
  for f in "${files[@]}"; do zstd -dc "$f" | curl -sS --fail --data-binary @- "$insert_url"; done
}
by_hand_zstd() {
  cd "$export_dir"
  for f in "${files[@]}"; do curl -sS --fail -H 'Content-Encoding: zstd' --data-binary @"$f" "$insert_url"; done
}
with_chexport() {
  rm -f "$BENCH_DIR/import-journal.json"
  "$chexport" import "$export_dir" --url "$url" --database bench_import \
    --journal "$BENCH_DIR/import-journal.json" --quiet "$@"
}
export -f by_hand by_hand_zstd with_chexport
export export_dir insert_url chexport BENCH_DIR url
raw=$BENCH_DIR/import-raw-$SERVER.tsv
: >"$raw"
measure() {
  local name=$1
  shift
  for ((i = 1; i <= REPS; i++)); do
    fresh_target
    /usr/bin/time -f "%e %U %S %M" -o "$BENCH_DIR/time.txt" "${client[@]}" bash -c "files=(${files[*]}); $*" >/dev/null 2>"$BENCH_DIR/stderr.txt" || {
      echo "bench: $name failed:" >&2
      cat "$BENCH_DIR/stderr.txt" >&2
      exit 1
    }
    [[ $(ch <<<'SELECT count() FROM bench_import.events') == "$rows" ]] || { echo "bench: $name loaded a wrong count" >&2; exit 1; }
    read -r wall user sys rss <"$BENCH_DIR/time.txt"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$wall" "$user" "$sys" "$rss" >>"$raw"
    echo "bench: $name #$i: ${wall}s wall, ${user}s user, ${sys}s sys, ${rss} KiB" >&2
  done
}
measure "zstd -dc | curl INSERT" by_hand
measure "chexport import --wire-compression none" with_chexport --wire-compression none
if [[ $SERVER != 18.16 ]]; then
  measure "curl -H 'Content-Encoding: zstd' INSERT" by_hand_zstd
  measure "chexport import (zstd as it is)" with_chexport
fi

PYTHONPATH="$(dirname "$0")" python3 - "$raw" "$SERVER" "$rows" "$csv_bytes" "${#files[@]}" <<'PY' | tee "$BENCH_DIR/import-$SERVER.md"
import sys
from medians import cell, read_medians
raw, server, rows, csv_bytes, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
reps, med = read_medians(raw)
base = med["zstd -dc | curl INSERT"][0]
print(f"ClickHouse {server}: {rows:,} rows, {csv_bytes / 1e6:,.0f} MB of CSV in {files} files; median of {reps} runs\n")
print("| case | wall s | MB/s of CSV | client CPU s | max RSS MiB | wall / by hand |")
print("|---|---:|---:|---:|---:|---:|")
for k, (wall, cpu, rss) in med.items():
    print(f"| {cell(k)} | {wall:.2f} | {csv_bytes / 1e6 / wall:.0f} | {cpu:.2f} | {rss / 1024:.0f} | {wall / base:.2f} |")
PY
