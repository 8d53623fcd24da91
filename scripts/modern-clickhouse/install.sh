#!/usr/bin/env bash
# Installs ClickHouse 26.7 for the tests, the benchmarks and the demo: the engine ships as
# libchdb.so inside the npm package @chdb/lib-linux-x64-gnu (pinned below), which npm (a Debian
# package) puts into a cache directory outside the repository; a small launcher of ours
# (launcher.c beside this file) runs it as an HTTP server. Idempotent and quick when installed.
#
#   scripts/modern-clickhouse/install.sh    -> prints the cache directory
#
# The cache is $CHEXPORT_CACHE (default: ${XDG_CACHE_HOME:-~/.cache}/chexport); it then holds
# clickhouse-26.7/libchdb.so (a link into node_modules) and clickhouse-26.7/chdb-launcher.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
package=@chdb/lib-linux-x64-gnu
version=26.7.3-stable.1
cache=${CHEXPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chexport}
dir=$cache/clickhouse-26.7
lib=$dir/node_modules/$package/libchdb.so

mkdir -p "$dir"
if [[ ! -s $lib || $(cat "$dir/version" 2>/dev/null) != "$version" ]]; then
  if ! command -v npm >/dev/null; then
    echo "modern-clickhouse: npm is missing (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
  echo "modern-clickhouse: installing $package@$version into $dir (about 570 MB)" >&2
  npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock --loglevel=error \
    "$package@$version" >&2
  [[ -s $lib ]] || { echo "modern-clickhouse: $lib is missing after npm install" >&2; exit 1; }
  echo "$version" >"$dir/version"
fi
ln -sf "$lib" "$dir/libchdb.so"
if [[ ! -x $dir/chdb-launcher || $here/launcher.c -nt $dir/chdb-launcher ]]; then
  cc -O2 -Wall -Wextra -Werror -o "$dir/chdb-launcher.tmp" "$here/launcher.c" -ldl
  mv "$dir/chdb-launcher.tmp" "$dir/chdb-launcher"
fi
echo "$dir"
