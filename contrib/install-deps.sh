#!/bin/sh
# Install the Debian packages checksync needs to build, test and run its demo.
#
#   contrib/install-deps.sh
#
# Idempotent: only packages that are not installed yet are installed, and
# `apt-get update` runs only when something is missing. Run as root on
# Debian 12 (bookworm). Exit status is non-zero on any failure.
set -eu

PACKAGES="
build-essential autoconf automake libtool pkg-config
libprotobuf-c-dev protobuf-c-compiler libzstd-dev libcap-dev
libnl-3-dev libnl-route-3-dev libdw-dev libelf-dev
bats golang-go golang-github-patrickmn-go-cache-dev
iproute2 procps util-linux jq
"

say() { echo "install-deps: $*"; }
die() { echo "install-deps: error: $*" >&2; exit 1; }

command -v dpkg-query >/dev/null 2>&1 ||
	die "dpkg-query not found: this script supports Debian 12 only"

missing=""
for pkg in $PACKAGES; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $pkg"
done

if [ -z "$missing" ]; then
	say "all required packages are installed"
	exit 0
fi

say "missing packages:$missing"
[ "$(id -u)" -eq 0 ] || die "must run as root to install:$missing"

export DEBIAN_FRONTEND=noninteractive
say "running apt-get update"
apt-get update -q || die "apt-get update failed"
say "installing:$missing"
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing ||
	die "apt-get install failed for:$missing"

# Verify: a package apt could not install must not pass silently.
still=""
for pkg in $missing; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = installed ] || still="$still $pkg"
done
[ -z "$still" ] || die "still not installed after apt-get:$still"
say "installed:$missing"
