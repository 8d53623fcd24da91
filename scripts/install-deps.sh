#!/usr/bin/env bash
# Installs everything chexport needs to build, test and demo on Debian 12: Debian's packages (FAT
# through FUSE is the tests' file system that ignores case), then the second test server,
# ClickHouse 26.7, and DuckDB (a reader of exports in the tests), from the
# npm registry (scripts/modern-clickhouse/, scripts/duckdb/).
# Idempotent: skips apt entirely when every package is already installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates python3
  libcurl4-openssl-dev libzstd-dev liblz4-dev zlib1g-dev libsimdjson-dev libcli11-dev libspdlog-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev
  clickhouse-server clickhouse-client curl zstd clang-format
  radosgw ceph-mon ceph-osd
  nginx-light libnginx-mod-stream tinyproxy-bin openssl
  dosfstools fusefat fuse3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's npm, unless an npm (e.g. one that ships with another nodejs build) is already there.
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]} == 0)); then
  "$(dirname "$0")/modern-clickhouse/install.sh" >/dev/null
  exec "$(dirname "$0")/duckdb/install.sh" >/dev/null
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The clickhouse-server package tries to start a system service; we never use it (our scripts run
# a private server), and in containers without systemd the attempt is refused harmlessly.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
"$(dirname "$0")/modern-clickhouse/install.sh" >/dev/null
"$(dirname "$0")/duckdb/install.sh" >/dev/null
