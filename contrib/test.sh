#!/bin/sh
# Install missing dependencies, build checksync and run the whole test suite.
#
#   contrib/test.sh          # as root; build directory: $CS_BUILD_DIR or <repo>/build
#
# This is the README's test command and what .ci/run runs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
builddir=${CS_BUILD_DIR:-$here/../build}
"$here/build.sh"
exec make -C "$builddir" check
