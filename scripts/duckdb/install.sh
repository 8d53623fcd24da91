#!/usr/bin/env bash
# Installs DuckDB for the tests that read exports as users do (tests/integration/readers_test.cc):
# the npm package @duckdb/node-api (pinned below; its native binding is a package of its own,
# no download at run time), which npm (a Debian package) puts into a cache directory outside the
# repository. Idempotent and quick when installed.
#
#   scripts/duckdb/install.sh    -> prints the directory whose node_modules holds it
#
# The cache is $CHEXPORT_CACHE (default: ${XDG_CACHE_HOME:-~/.cache}/chexport).
set -euo pipefail
package=@duckdb/node-api
version=1.5.6-r.1
cache=${CHEXPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chexport}
dir=$cache/duckdb

# About 70 MB.
"$(dirname "$0")/../npm-package.sh" "$dir" "$package" "$version" lib/index.js
echo "$dir"
