#!/usr/bin/env bash
# Builds the Debian package with CPack, installs it into a temporary root (dpkg-deb -x, as dpkg
# would unpack it) and runs the binary from there: the package holds what a machine without
# compilers needs, and its Depends come from the libraries the binary links (dpkg-shlibdeps).
#
#   package_test.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cpack -G DEB -B "$work/pkg" --config "$build/CPackConfig.cmake" >"$work/cpack.log" 2>&1 || {
  cat "$work/cpack.log"
  exit 1
}
deb=$(ls "$work"/pkg/*.deb)
dpkg-deb -x "$deb" "$work/root"
failed=0
check() {  # check WHAT COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; failed=$((failed + 1)); fi
}
check "the binary runs from the package: $("$work/root/usr/bin/chexport" --version)" \
  test "$("$work/root/usr/bin/chexport" --version)" = "chexport $(sed -n 's/^project(chexport VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")"
check "the man page is installed" test -s "$work/root/usr/share/man/man1/chexport.1.gz"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libcurl4 libzstd1 libssl3 libc6 libstdc++6; do
  check "Depends names $lib" grep -q "$lib" <<<"$depends"
done
echo "$((8 - failed)) passed, $failed failed"
exit $((failed > 0))
