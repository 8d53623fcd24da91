#!/usr/bin/env bash
# Installs one pinned npm package into a cache directory outside the repository, unless that
# version is there already: the tool behind scripts/modern-clickhouse/install.sh and
# scripts/duckdb/install.sh. npm itself is a Debian package (scripts/install-deps.sh).
#
#   scripts/npm-package.sh DIR PACKAGE VERSION FILE    FILE: a path below DIR/node_modules/PACKAGE
#                                                      that shows the package is whole
set -euo pipefail
if (($# != 4)); then
  echo "usage: $0 DIR PACKAGE VERSION FILE" >&2
  exit 2
fi
dir=$1 package=$2 version=$3 file=$4
mkdir -p "$dir"
if [[ ! -s $dir/node_modules/$package/$file || $(cat "$dir/version" 2>/dev/null) != "$version" ]]; then
  if ! command -v npm >/dev/null; then
    echo "$package: npm is missing (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
  echo "installing $package@$version into $dir" >&2
  npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock --loglevel=error \
    "$package@$version" >&2
  if [[ ! -s $dir/node_modules/$package/$file ]]; then
    echo "$package: $dir/node_modules/$package/$file is missing after npm install" >&2
    exit 1
  fi
  echo "$version" >"$dir/version"
fi
