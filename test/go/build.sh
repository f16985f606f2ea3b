#!/bin/sh
# Build the Go test workloads (kvserver, kvclient, kvload, churn, mcclient for
# memcached, clockcheck, etcdload for etcd's HTTP gateway) into OUTDIR.
#
#   test/go/build.sh OUTDIR
#
# Builds offline in GOPATH mode against Debian's packaged go-cache
# (golang-github-patrickmn-go-cache-dev); no network, no go.mod. The kv
# programs share package kvwire, imported as "../kvwire" (a relative import:
# allowed in GOPATH mode for programs outside GOPATH, as test/go is).
set -eu

die() {
	echo "build.sh: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: $0 OUTDIR"

# Resolve our own directory so this works from any cwd.
here=$(cd "$(dirname "$0")" && pwd)
gopath=/usr/share/gocode
gocache_src=$gopath/src/github.com/patrickmn/go-cache

command -v go >/dev/null 2>&1 ||
	die "'go' not found in PATH (install golang-go)"
[ -f "$gocache_src/cache.go" ] ||
	die "go-cache source not found in $gocache_src (install golang-github-patrickmn-go-cache-dev)"

mkdir -p "$1"
out=$(cd "$1" && pwd)
mkdir -p "$out/gocache"

cd "$here"
for prog in kvserver kvclient kvload churn mcclient clockcheck etcdload; do
	echo "  GO       $out/$prog"
	GO111MODULE=off GOPATH=$gopath CGO_ENABLED=0 GOCACHE=$out/gocache \
		go build -o "$out/$prog" "./$prog" ||
		die "building $prog failed"
done

# The same server built the ways the runtime reader must decline (issue 4):
# without DWARF, without a symbol table, and with cgo (dynamically linked).
build_variant() {
	local name=$1 cgo=$2
	shift 2
	echo "  GO       $out/$name"
	GO111MODULE=off GOPATH=$gopath CGO_ENABLED=$cgo GOCACHE=$out/gocache \
		go build "$@" -o "$out/$name" ./kvserver ||
		die "building $name failed"
}
build_variant kvserver-nodwarf 0 -ldflags=-w
build_variant kvserver-stripped 0 "-ldflags=-s -w"
if command -v gcc >/dev/null 2>&1; then
	build_variant kvserver-cgo 1 -tags netcgo
fi
