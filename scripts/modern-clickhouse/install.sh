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

# About 570 MB.
"$here/../npm-package.sh" "$dir" "$package" "$version" libchdb.so
ln -sf "$lib" "$dir/libchdb.so"
if [[ ! -x $dir/chdb-launcher || $here/launcher.c -nt $dir/chdb-launcher ]]; then
  cc -O2 -Wall -Wextra -Werror -o "$dir/chdb-launcher.tmp" "$here/launcher.c" -ldl
  mv "$dir/chdb-launcher.tmp" "$dir/chdb-launcher"
fi
echo "$dir"
