#!/usr/bin/env bash
# Configures and builds chexport (and its tests) in ./build. Extra arguments go to cmake.
#   scripts/build.sh                      RelWithDebInfo build
#   BUILD_DIR=build-asan scripts/build.sh -DCHEXPORT_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
