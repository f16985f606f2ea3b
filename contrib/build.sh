#!/bin/bash
# Install missing build dependencies, then build checksync out of tree.
#
#   contrib/build.sh                   # builds in ./build (repo root)
#   CS_BUILD_DIR=/some/dir contrib/build.sh
#
# Environment:
#   CS_BUILD_DIR         build directory (default: <repo>/build)
#   CS_CONFIGURE_FLAGS   extra ./configure arguments, e.g. --enable-debug
#                        (used only when the build directory is configured)
#   CS_MAKE_JOBS         parallel make jobs (default: 2)
#   CS_SKIP_DEPS=1       do not run contrib/install-deps.sh
#
# Idempotent: autoreconf runs only when configure is missing or older than
# configure.ac, configure only when the build directory has not been
# configured yet (automake's rebuild rules take care of later changes), and
# make does nothing when everything is up to date.
set -eu

say() { echo "build: $*"; }
die() { echo "build: error: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
builddir=${CS_BUILD_DIR:-$root/build}
jobs=${CS_MAKE_JOBS:-2}

if [ "${CS_SKIP_DEPS:-0}" != 1 ]; then
	"$here/install-deps.sh" || die "installing dependencies failed"
fi

cd "$root"
if [ ! -x configure ] || [ configure.ac -nt configure ] ||
	[ ! -f Makefile.in ] || [ Makefile.am -nt Makefile.in ]; then
	say "autoreconf -fi in $root"
	autoreconf -fi || die "autoreconf failed"
fi

mkdir -p "$builddir"
builddir=$(cd "$builddir" && pwd)

if [ "$builddir" != "$root" ] && [ -f "$root/config.status" ]; then
	die "$root is configured in-tree (config.status exists); out-of-tree builds need a clean source tree: run 'make distclean' in $root first"
fi

cd "$builddir"
if [ ! -f Makefile ] || [ ! -f config.status ]; then
	# ../configure when the build directory is the default <repo>/build
	if [ "$(cd .. && pwd)" = "$root" ]; then
		configure=../configure
	else
		configure=$root/configure
	fi
	say "configuring in $builddir ($configure ${CS_CONFIGURE_FLAGS:-})"
	# shellcheck disable=SC2086 # flags are meant to be split
	"$configure" ${CS_CONFIGURE_FLAGS:-} || die "configure failed (see $builddir/config.log)"
fi

say "make -j$jobs in $builddir"
make -j"$jobs" || die "make failed"
say "done: $builddir/cs-dump/cs-dump $builddir/cs-restore/cs-restore $builddir/images/cs-show"
