#!/usr/bin/env bash
# The test command: installs the dependencies, builds, and runs every test (unit tests and the
# integration tests against a private ClickHouse server that ctest starts and always stops).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j 2 "$@"
