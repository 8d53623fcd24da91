#!/usr/bin/env bash
# The slow-link benchmark (issue #14, compression on the wire): bench.events exported through a
# link of 100 Mbit/s, 1 Gbit/s and with no limit, by chexport (one worker, --wire-compression
# auto and none) and, with the same queries through the same link, by `curl | zstd -1` and
# `clickhouse-client | zstd -1`.
#
#   bash bench/link.sh                 # ClickHouse 18.16, 3 repetitions of each case
#   SERVER=26.7 bash bench/link.sh     # ClickHouse 26.7 (started with a native port, see below)
#   RATES="100 1000 0"                 # link rates in Mbit/s; 0: the same proxy without a limit
#   TABLE_RATES="1000 0"               # the rates at which the whole table is exported (1,685 MB
#                                      # of CSV); at the others one month, MONTH (174 MB)
#   MONTH=2024-05
#   WIRE="auto none"                   # the chexport --wire-compression methods measured
#   REPS, BENCH_DIR, PIN, BUILD        # as in bench/run.sh (bench/lib.sh)
#
# The link: nginx's stream module as a TCP proxy on 127.0.0.1 with proxy_download_rate (per
# connection), one port to the server's HTTP port and one to its native TCP port for each rate,
# so that HTTP clients and clickhouse-client go through the same throttle. nginx lets each
# connection run up to a second's worth of bytes ahead of the rate (bench/README.md), so each
# transfer should last many seconds: hence one month at 100 Mbit/s, the whole table at 1 Gbit/s.
# The server runs on core 0, nginx and every client on core 1 (PIN=0: not pinned).
#
# Prints one table per rate (medians) and writes them to $BENCH_DIR/link-$SERVER.md; raw numbers
# in $BENCH_DIR/link-raw-$SERVER.tsv, nginx's log of every connection in
# $BENCH_DIR/link-access-$SERVER.log. Takes about 15 minutes with REPS=3.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
RATES=${RATES:-100 1000 0}
TABLE_RATES=${TABLE_RATES:-1000 0}
MONTH=${MONTH:-2024-05}
WIRE=${WIRE:-auto none}
NGINX_STREAM_MODULE=${NGINX_STREAM_MODULE:-/usr/lib/nginx/modules/ngx_stream_module.so}

# 26.7 listens on a native port only when asked to (scripts/clickhouse-server.sh); 18.16 always does.
export CHEXPORT_NATIVE_TCP=1

raw=$BENCH_DIR/link-raw-$SERVER.tsv
floors=$BENCH_DIR/link-floor-$SERVER.tsv
datasets=$BENCH_DIR/link-data-$SERVER.tsv
results=$BENCH_DIR/link-$SERVER.md
work=""        # a temporary directory: nginx's configuration and logs, the queries
nginx_pid=""
# The cases' commands (bash -c '...', and the functions exported below) read these from the
# environment: the queries hold backticks and quotes, which are never quoted inside a string.
export OUT=$BENCH_DIR/out WIRE_FILE=$BENCH_DIR/link-wire.txt QUERIES LINK_URL LINK_TCP

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_all() {
  if [[ -n $nginx_pid ]]; then
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
  fi
  if [[ -n $work ]]; then
    cp "$work/access.log" "$BENCH_DIR/link-access-$SERVER.log" 2>/dev/null || true
    rm -rf "$work"
  fi
  bench_stop_server
}

# --- what is exported ---------------------------------------------------------------------------

# Two data sets: "month" (the one partition of $MONTH, chosen by bounds, so that chexport plans
# one task) and "table" (the ten partitions, ten tasks). For each, chexport's flags, the queries it
# sends (from its debug log: curl and clickhouse-client send the very same, in the same order, one
# after another on one connection, as one chexport worker does) and the bytes of CSV.
month_from=$MONTH-01
month_to=$(date -u -d "$month_from +1 month" +%F)
# (Used through namerefs: ${data}_args.)
# shellcheck disable=SC2034
month_args=(--lower-condition "event_date >= '$month_from'" --upper-condition "event_date < '$month_to'")
# shellcheck disable=SC2034
table_args=()
export_args=(export --progress none -t bench.events --zstd-level 1 --workers 1)
declare -A csv_bytes

data_for() {  # the data set exported at rate $1
  if [[ " $TABLE_RATES " == *" $1 "* ]]; then echo table; else echo month; fi
}

# prepare_data DATA: runs chexport once straight to the server (which also fills the page cache),
# writes its queries to $work/DATA/NN.sql, and checks that curl and clickhouse-client receive as
# many bytes of CSV as chexport did.
prepare_data() {
  local data=$1 n q i=0
  local -n args=${data}_args
  rm -rf "$OUT"
  "${client[@]}" "$chexport" "${export_args[@]}" "${args[@]}" --log-level debug --url "$url" -o "$OUT" \
    2>"$BENCH_DIR/stderr.txt" || {
    cat "$BENCH_DIR/stderr.txt" >&2
    exit 1
  }
  mkdir -p "$work/$data"
  while IFS= read -r q; do
    i=$((i + 1))
    printf '%s\n' "$q" >"$work/$data/$(printf %02d "$i").sql"
  done < <(sed -n 's/.*attempt 1, query_id chexport-[0-9a-f]*: \(SELECT .*\)$/\1/p' "$BENCH_DIR/stderr.txt")
  if ((i == 0)); then
    echo "link: no query in chexport's debug log:" >&2
    cat "$BENCH_DIR/stderr.txt" >&2
    exit 1
  fi
  csv_bytes[$data]=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["totals"]["csv_bytes"])' "$OUT/manifest.json")
  echo "link: $data: $i quer$( ((i == 1)) && echo y || echo ies), ${csv_bytes[$data]} bytes of CSV; the first: $(cat "$work/$data/01.sql")" >&2
  QUERIES=$work/$data LINK_URL=$url LINK_TCP=$tcp_port
  n=$(curl_all - 2>/dev/null | wc -c)
  if [[ $n != "${csv_bytes[$data]}" ]]; then checks+="$data: curl received $n bytes of CSV, chexport ${csv_bytes[$data]}. "; fi
  if [[ $tcp_port != 0 ]]; then
    n=$(client_all | wc -c)
    if [[ $n != "${csv_bytes[$data]}" ]]; then checks+="$data: clickhouse-client printed $n bytes of CSV, chexport ${csv_bytes[$data]}. "; fi
  fi
  printf '%s\t%s\t%s\n' "$data" "${csv_bytes[$data]}" "$i" >>"$datasets"
}

# curl_all OUTPUT: the queries in $QUERIES, one after another on one connection (--next), the
# CSV to OUTPUT (- for stdout); the body bytes of each appended to $WIRE_FILE.
curl_all() {
  local args=(--fail-early) f
  for f in "$QUERIES"/*.sql; do
    if ((${#args[@]} > 1)); then args+=(--next); fi
    args+=(-sS --fail -o "$1" -w '%{stderr}%{size_download}\n' --data-binary "@$f" "$LINK_URL/")
  done
  curl "${args[@]}" 2>>"$WIRE_FILE"
}

# client_all: the same queries with clickhouse-client over the native protocol, one connection.
client_all() {
  local sql="" f
  for f in "$QUERIES"/*.sql; do sql+="$(<"$f");"$'\n'; done
  clickhouse-client --host 127.0.0.1 --port "$LINK_TCP" --multiquery --query "$sql"
}
export -f curl_all client_all

# --- the link -----------------------------------------------------------------------------------

declare -A link_http link_tcp  # rate in Mbit/s -> the proxy's port to the server's HTTP / TCP port

# Writes an nginx configuration with two proxy ports per rate and starts nginx on the clients'
# core: the proxy's CPU is part of what the receiving side pays for the link.
start_link() {
  local servers="" rate limit
  for rate in $RATES; do
    link_http[$rate]=$(free_port)
    link_tcp[$rate]=$(free_port)
    limit="proxy_download_rate $((rate * 125000));"  # bytes/s; 0 turns the limit off
    servers+="  server { listen 127.0.0.1:${link_http[$rate]}; proxy_pass 127.0.0.1:$http_port; $limit }"$'\n'
    if [[ $tcp_port != 0 ]]; then
      servers+="  server { listen 127.0.0.1:${link_tcp[$rate]}; proxy_pass 127.0.0.1:$tcp_port; $limit }"$'\n'
    fi
  done
  cat >"$work/nginx.conf" <<CONF
load_module $NGINX_STREAM_MODULE;
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 256; }
stream {
  # One line per connection when it closes: bytes_sent is what went down the link to the client.
  log_format link '\$server_port \$bytes_sent \$bytes_received \$session_time';
  access_log $work/access.log link;
$servers}
CONF
  : >"$work/access.log"
  # -e: the error log before the configuration is read (not /var/log/nginx).
  "${client[@]}" nginx -e "$work/error.log" -c "$work/nginx.conf" -p "$work" &
  nginx_pid=$!
  for rate in $RATES; do
    for _ in $(seq 1 100); do
      [[ $(curl -s --max-time 2 "http://127.0.0.1:${link_http[$rate]}/?query=SELECT%201" 2>/dev/null) == 1 ]] && continue 2
      sleep 0.1
    done
    echo "link: nginx does not answer on port ${link_http[$rate]}:" >&2
    cat "$work/error.log" >&2 || true
    exit 1
  done
}

# Waits until nginx has closed every connection (it logs a connection when it closes it), so that
# the access log holds all the bytes of the command that just ended.
wait_link_idle() {
  local filter="" p
  for p in "${link_http[@]}" "${link_tcp[@]}"; do filter+="${filter:+ or }sport = :$p"; done
  for _ in $(seq 1 100); do
    [[ -z $(ss -Htn state established "( $filter )") ]] && return 0
    sleep 0.05
  done
  echo "link: connections still open after 5 s" >&2
}

log_lines() { wc -l <"$work/access.log"; }
# The bytes nginx sent to clients on every connection logged after line $1.
link_bytes_since() { tail -n +$(($1 + 1)) "$work/access.log" | awk '{ s += $2 } END { print s + 0 }'; }

# --- measuring ----------------------------------------------------------------------------------

# measure RATE NAME WIRE_FROM COMMAND...: runs COMMAND (pinned) REPS times; records wall, user and
# sys time (of every process of COMMAND), the bytes on the wire and the bytes nginx sent.
# WIRE_FROM says where the bytes on the wire come from: curl (the size_download of each transfer,
# in $WIRE_FILE), manifest (chexport's tasks[].wire_bytes) or link (what nginx sent: the native
# protocol gives no other account of them).
measure() {
  local rate=$1 name=$2 wire_from=$3 i lines wall user sys wire link note
  shift 3
  for ((i = 1; i <= REPS; i++)); do
    rm -rf "$OUT" && mkdir -p "$OUT"
    : >"$WIRE_FILE"
    sync
    lines=$(log_lines)
    /usr/bin/time -f "%e %U %S" -o "$BENCH_DIR/time.txt" "${client[@]}" "$@" >/dev/null 2>"$BENCH_DIR/stderr.txt" || {
      echo "link: $name at $rate Mbit/s failed:" >&2
      cat "$BENCH_DIR/stderr.txt" "$WIRE_FILE" >&2
      exit 1
    }
    read -r wall user sys <"$BENCH_DIR/time.txt"
    wait_link_idle
    link=$(link_bytes_since "$lines")
    note=""
    case $wire_from in
      curl) wire=$(awk '/^[0-9]+$/ { s += $1 } END { print s + 0 }' "$WIRE_FILE") ;;
      link) wire=$link ;;
      manifest)
        read -r wire note < <(manifest_wire "$OUT/manifest.json")
        # A chexport whose manifest has no wire_bytes yet: what nginx sent instead.
        if ((wire < 0)); then wire=$link; fi
        ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rate" "$(data_for "$rate")" "$name" "$wall" "$user" "$sys" \
      "$wire" "$link" "$note" >>"$raw"
    echo "link: $rate Mbit/s, $name #$i: ${wall}s wall, ${user}s user, ${sys}s sys, $wire bytes on the wire, $link through nginx${note:+ ($note)}" >&2
  done
}

# Prints the body bytes chexport received and how they came encoded, from its manifest: each
# task's wire_bytes and wire_encoding (or its server_response's wire_bytes and content_encoding),
# else totals.wire_bytes and options.wire_compression.encoding; -1 when it has none of these.
manifest_wire() {
  python3 - "$1" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
tasks = m["tasks"]
def field(task, name, response_name):
    return task.get(name, task.get("server_response", {}).get(response_name))
per_task = [field(t, "wire_bytes", "wire_bytes") for t in tasks]
if all(b is not None for b in per_task):
    wire = sum(per_task)
elif "wire_bytes" in m.get("totals", {}):
    wire = m["totals"]["wire_bytes"]
else:
    print(-1, "no-wire_bytes")
    sys.exit()
encodings = {field(t, "wire_encoding", "content_encoding") for t in tasks} - {None}
if not encodings:
    encodings = {m.get("options", {}).get("wire_compression", {}).get("encoding") or "none"}
print(wire, "encoding=" + ",".join(sorted(e or "none" for e in encodings)))
PY
}

# The floor a link sets for BYTES: the time curl takes for that many bytes that the server makes at
# once (a RowBinary stream of 1000-byte strings), REPS times. Against BYTES / rate it shows how
# exact nginx's throttle is.
declare -A floor_done
measure_floor() {
  local rate=$1 bytes=$2 key i
  key="$rate/$((bytes / 1000000))"
  [[ -n ${floor_done[$key]:-} ]] && return 0
  floor_done[$key]=1
  for ((i = 1; i <= REPS; i++)); do
    "${client[@]}" curl -sS --fail -o /dev/null -w "$rate\t$bytes\t%{time_total}\n" --data-binary \
      "SELECT toFixedString('x', 1000) FROM numbers($((bytes / 1000))) FORMAT RowBinary" "$LINK_URL/" >>"$floors"
  done
}

# The median bytes on the wire of case NAME at RATE (the lower middle one of an even count).
median_wire() {
  awk -F '\t' -v r="$1" -v n="$2" '$1 == r && $3 == n { print $7 }' "$raw" | sort -n |
    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# --- the run ------------------------------------------------------------------------------------

bench_build
trap stop_all EXIT
bench_start_server
bench_create_events
work=$(mktemp -d /tmp/chexport-link.XXXXXX)

# (Not `| grep -q`: with pipefail, grep's early exit can fail the pipeline by SIGPIPE.)
wire_flags=0
if [[ $("$chexport" export --help) == *--wire-compression* ]]; then wire_flags=1; fi

checks=""
: >"$datasets"
for data in $(for rate in $RATES; do data_for "$rate"; done | sort -u); do prepare_data "$data"; done
if [[ -n $checks ]]; then echo "link: warning: $checks" >&2; fi

start_link
: >"$raw"
: >"$floors"
# The commands in single quotes are expanded by the bash -c that runs them.
# shellcheck disable=SC2016
for rate in $RATES; do
  data=$(data_for "$rate")
  declare -n data_args=${data}_args
  QUERIES=$work/$data
  LINK_URL=http://127.0.0.1:${link_http[$rate]}
  LINK_TCP=${link_tcp[$rate]}
  measure "$rate" "curl -o /dev/null" curl bash -c 'curl_all /dev/null'
  measure "$rate" "curl | zstd -1" curl bash -c 'set -o pipefail; curl_all - | zstd -1 -T1 -q >"$OUT/t.csv.zst"'
  if [[ $tcp_port != 0 ]]; then
    measure "$rate" "clickhouse-client | zstd -1" link bash -c 'set -o pipefail; client_all | zstd -1 -T1 -q >"$OUT/t.csv.zst"'
  fi
  if ((wire_flags)); then
    for method in $WIRE; do
      measure "$rate" "chexport --wire-compression $method" manifest \
        "$chexport" "${export_args[@]}" "${data_args[@]}" --log-level warn --url "$LINK_URL" -o "$OUT" \
        --wire-compression "$method"
    done
  else
    echo "link: this chexport has no --wire-compression: only its plain-CSV case is measured" >&2
    measure "$rate" "chexport (no --wire-compression)" manifest \
      "$chexport" "${export_args[@]}" "${data_args[@]}" --log-level warn --url "$LINK_URL" -o "$OUT"
  fi
  unset -n data_args
  # What the link itself takes for each amount of bytes measured above.
  if ((rate != 0)); then
    while IFS= read -r name; do
      measure_floor "$rate" "$(median_wire "$rate" "$name")" </dev/null
    done < <(awk -F '\t' -v r="$rate" '$1 == r { print $3 }' "$raw" | sort -u)
  fi
done

version=$(ch <<<'SELECT version()')
python3 - "$raw" "$floors" "$datasets" "$version" "$SERVER" "$MONTH" "$checks" "${#client[@]}" "$wire_flags" \
  >"$results" <<'PY'
import statistics, sys
from collections import OrderedDict
raw, floors_path, datasets, version, server, month, checks, pinned, wire_flags = sys.argv[1:]
data_csv, data_queries = {}, {}
for line in open(datasets):
    data, csv, queries = line.split()
    data_csv[data], data_queries[data] = int(csv), int(queries)
runs, notes, data_of = OrderedDict(), {}, {}
for line in open(raw):
    rate, data, name, wall, user, sys_, wire, link, note = line.rstrip("\n").split("\t")
    key = (int(rate), name)
    runs.setdefault(key, []).append((float(wall), float(user) + float(sys_), int(wire), int(link)))
    data_of[int(rate)] = data
    if note:
        notes[key] = note
floors = {}
for line in open(floors_path):
    rate, nbytes, seconds = line.split()
    floors.setdefault((int(rate), int(nbytes) // 1000000), []).append(float(seconds))

def med(key, i):
    return statistics.median(r[i] for r in runs[key])

def label(rate):
    if rate == 0:
        return "no limit (loopback through the proxy)"
    return f"{rate / 1000:g} Gbit/s" if rate >= 1000 else f"{rate} Mbit/s"

def what(data):
    csv = data_csv[data] / 1e6
    if data == "month":
        return f"one partition ({month}), {csv:.0f} MB of CSV, 1 query"
    return f"the whole table, {csv:.0f} MB of CSV, {data_queries[data]} queries (one per partition) on one connection"

reps = len(next(iter(runs.values())))
print(f"ClickHouse {version}; {'server on core 0, nginx and clients on core 1' if pinned != '0' else 'not pinned'}; "
      f"medians of {reps} runs.\n")
print("wire MB: body bytes received (curl: size_download; chexport: the manifest's wire_bytes; clickhouse-client: "
      "what nginx sent, the native protocol with its LZ4). link MB: every byte nginx sent to the client, on all "
      "its connections (headers, chexport's other queries). link floor: the median time curl takes for as many "
      "bytes of a stream the server makes at once. CPU: user+sys of every process of the command (for chexport, "
      "itself), not the server's nor nginx's.\n")
for rate in OrderedDict.fromkeys(rate for rate, _ in runs):
    keys = [k for k in runs if k[0] == rate]
    csv_bytes = data_csv[data_of[rate]]
    base = (rate, "curl | zstd -1")
    base_wall = med(base, 0) if base in runs else None
    print(f"### {label(rate)}: {what(data_of[rate])}\n")
    print("| case | wall s | wire MB | link MB | wall / curl \\| zstd -1 | wall / (wire bytes / link rate) "
          "| wall / link floor | MB/s of CSV | CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in keys:
        wall, cpu, wire, link = (med(key, i) for i in range(4))
        name, note = key[1], notes.get(key, "")
        if note.startswith("encoding="):
            name += f" ({note[len('encoding='):]})"
        elif note == "no-wire_bytes":
            name += " (wire: nginx's count)"
        vs_curl = f"{wall / base_wall:.2f}" if base_wall else "-"
        vs_rate = vs_floor = "-"
        if rate:
            vs_rate = f"{wall / (wire / (rate * 125000)):.2f}"
            floor = floors.get((rate, statistics.median_low(r[2] for r in runs[key]) // 1000000))
            if floor:
                vs_floor = f"{wall / statistics.median(floor):.2f}"
        name = name.replace("|", "\\|")
        print(f"| {name} | {wall:.2f} | {wire / 1e6:.1f} | {link / 1e6:.1f} | {vs_curl} | {vs_rate} | {vs_floor} "
              f"| {csv_bytes / 1e6 / wall:.0f} | {cpu:.2f} |")
    print()
    plain = (rate, "curl -o /dev/null")
    if rate and plain in runs:
        got = med(plain, 2) / med(plain, 0) / 1e6
        print(f"- nginx's throttle: the plain CSV came through at {got:.1f} MB/s for a nominal {rate / 8:.1f} MB/s "
              f"({got / (rate / 8):.2f} x).")
    auto, none = (rate, "chexport --wire-compression auto"), (rate, "chexport --wire-compression none")
    if rate == 100:
        if auto in runs and base_wall:
            wall, wire = med(auto, 0), med(auto, 2)
            r1, r2 = wall / base_wall, wall / (wire / (rate * 125000))
            print(f"- Targets (issue #14): chexport (auto) wall / `curl | zstd -1` wall = {r1:.2f} (target <= 0.40: "
                  f"{'met' if r1 <= 0.40 else 'missed'}); wall / (wire bytes / link rate) = {r2:.2f} (target <= 1.15: "
                  f"{'met' if r2 <= 1.15 else 'missed'}).")
        else:
            print("- Targets (issue #14): not measured (no `chexport --wire-compression auto` case).")
    if auto in runs and none in runs:
        wa, wn, ca, cn = med(auto, 0), med(none, 0), med(auto, 1), med(none, 1)
        print(f"- auto against none: wall {wa:.2f} s against {wn:.2f} s ({wa / wn:.2f} x); chexport's CPU {ca:.2f} s "
              f"against {cn:.2f} s ({ca / cn:.2f} x); {med(auto, 2) / 1e6:.1f} MB against {med(none, 2) / 1e6:.1f} MB "
              "on the wire.")
    print()
if server == "26.7" and not any(k[1].startswith("clickhouse-client") for k in runs):
    print("No clickhouse-client case: the server has no native port.\n")
if wire_flags == "0":
    print("This chexport has no --wire-compression: only its plain-CSV case was measured.\n")
if checks:
    print(f"Warning: the clients did not receive the same CSV: {checks}\n")
PY
cat "$results"
echo "link: raw numbers in $raw and $floors" >&2
