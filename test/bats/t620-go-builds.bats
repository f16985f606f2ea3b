#!/usr/bin/env bats
# Go binaries the runtime reader must decline (issue 4): built without DWARF
# (-ldflags=-w), without a symbol table (-s -w), and with cgo. Each is dumped
# whole with one warning line saying why, restored, and checked key by key;
# --runtime=go on it is refused, naming what is missing, and the server keeps
# running.

load helpers

variant_round_trip() {
	local bin=$GO_BIN/$1 why=$2
	require_cs
	require_go
	[ -x "$bin" ] || skip "$1 is not built (test/go/build.sh)"
	KV_BIN=$bin start_kvserver -preload 20000
	# --runtime=go: refused, the target untouched
	run "$CS_DUMP" -t "$PID" -D "$T/img-go" --runtime=go --tcp-close
	[ "$status" = 1 ] || { echo "--runtime=go: status $status, want 1" >&2; return 1; }
	[[ "$output" == *"$why"* ]] || { echo "--runtime=go: unexpected error: $output" >&2; return 1; }
	[ ! -e "$T/img-go" ] || { echo "--runtime=go left $T/img-go" >&2; return 1; }
	kvc -check 20000 || return 1
	# default: a whole dump, one warning line
	# --tcp-close: kvclient's connection may still be closing (CLOSE_WAIT)
	run "$CS_DUMP" -t "$PID" -D "$T/img" --runtime=auto --tcp-close --display-stats
	[ "$status" = 0 ] || { echo "dump: status $status: $output" >&2; return 1; }
	[ "$(grep -c 'warning:.*runtime: every page' <<<"$output")" = 1 ] ||
		{ echo "want one runtime warning line, got: $output" >&2; return 1; }
	[[ "$output" == *"$why"* ]] || { echo "the warning does not say why ($why): $output" >&2; return 1; }
	[[ "$output" == *"pages_dead=0 "* ]] || { echo "dead pages in a whole dump: $output" >&2; return 1; }
	wait_pid_gone "$PID"
	run "$CS_RESTORE" -D "$T/img" -d
	[ "$status" = 0 ] || { echo "restore: status $status: $output" >&2; return 1; }
	kvc -check 20000 || return 1
	kvc -gc || return 1
	kvc -set-prefix v -set-count 500 || return 1
}

@test "go builds: -ldflags=-w (no DWARF) dumps whole with a warning and restores" {
	variant_round_trip kvserver-nodwarf "no DWARF"
}

@test "go builds: -ldflags='-s -w' (no symbol table) dumps whole with a warning and restores" {
	variant_round_trip kvserver-stripped "no symbol table"
}

@test "go builds: a cgo program dumps whole with a warning and restores" {
	variant_round_trip kvserver-cgo "cgo program"
}
