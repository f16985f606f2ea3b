#!/usr/bin/env bats
# t520-fifo.bats - named FIFOs, and pipes with one end outside the tree.
# See test/c/fifo.c: the program checks every value itself on SIGUSR2.
#
# FIFOs: three open file descriptions of one FIFO (O_RDONLY|O_NONBLOCK,
# O_WRONLY with FD_CLOEXEC, O_RDWR|O_APPEND) with 100000 unread bytes in a
# 256 KiB FIFO, a FIFO held by its writer only, one held by its reader only
# (EOF after its bytes); a FIFO opened separately by two processes of a tree.
# The bytes come back once per FIFO, in order; the ends still talk.
#
# Pipes with one end outside: `producer | target` (the reader gets the saved
# bytes, then EOF) and `target | logger` (the bytes are back in the pipe, a
# write gets EPIPE and SIGPIPE), while the outside process still runs.
#
# Refused: a FIFO removed or replaced by a regular file before the restore
# (cs-restore, check phase: no process made), a FIFO removed while open
# (cs-dump). Each: exit status 1, one line on stderr naming the path.

load helpers

FIFO=$CS_BUILDDIR/test/c/fifo

require_fifo() {
	require_cs
	[ -x "$FIFO" ] || skip "$FIFO is not built (make test/c/fifo)"
}

# The process outside the tree (pipe-in, pipe-out): its PID, recorded.
outside_pid() {
	local p
	p=$(cat "$T/outside.pid") || return 1
	record_pid "$p"
	echo "$p"
}

# checked_without_dump MODE [CORRUPT]: the program's checks on an
# undisturbed process, the outside end killed first (as a restore leaves
# it). With CORRUPT the checks must fail, without they must pass.
checked_without_dump() {
	local mode=$1 corrupt=${2:-} o
	rm -f "$T/outside.pid"
	CS_TEST_CORRUPT=$corrupt start_prog fifo "$mode" "$T"
	o=$(outside_pid)
	kill -KILL "$o"
	wake_and_wait "$PID"
	if [ -z "$corrupt" ]; then
		assert_prog_ok
		return
	fi
	mv "$T/prog.out" "$T/prog-$corrupt.out"
	[ "$STATUS" = 1 ] && grep -q differs "$T/prog-$corrupt.out" || {
		echo "CS_TEST_CORRUPT=$corrupt: status $STATUS, want 1 with a \"differs\" line" >&2
		return 1
	}
}

# expect_restore_refusal WORDS...: cs-restore -d exits 1 with one line on
# stderr holding every WORD, and makes no process $PID.
expect_restore_refusal() {
	local st=0 w
	(close_fds; exec timeout -k 5 60 "$CS_RESTORE" -D "$T/img" -d -v4 -o "$T/restore.log") \
		</dev/null >"$T/out" 2>"$T/err" || st=$?
	{ echo "\$ cs-restore -D $T/img -d  (status $st)"; sed 's/^/  stderr: /' "$T/err"; } >>"$T/restore.out"
	if [ "$st" != 1 ] || [ "$(wc -l <"$T/err")" != 1 ]; then
		echo "cs-restore: status $st (want 1), stderr: $(cat "$T/err")" >&2
		return 1
	fi
	for w in "$@"; do
		grep -qF -- "$w" "$T/err" && continue
		echo "cs-restore: \"$w\" not in: $(cat "$T/err")" >&2
		return 1
	done
	if [ -e "/proc/$PID" ]; then
		echo "process $PID exists after the refused restore" >&2
		return 1
	fi
}

@test "fifo: the checks pass without a dump, and catch each corruption" {
	require_fifo
	control fifo fifo "$T"
	expect_detects_all fifo "data flags size lone eof" fifo "$T"
}

@test "fifo: three opens of one FIFO, a lone writer, a lone reader: round trip killed" {
	require_fifo
	round_trip fifo fifo "$T"
	# the bytes and the size are saved once per FIFO
	[ "$("$CS_SHOW" "$T/img" | jq '[.. | objects | select(.type? == 4 and .pipe_data? != null)] | length')" = 3 ]
}

@test "fifo: one FIFO opened by two processes of a tree: round trip killed" {
	require_fifo
	control fifo tree "$T"
	expect_detects fifo twice tree "$T"
	round_trip fifo tree "$T"
}

@test "fifo: a pipe whose writer is outside (producer | target): saved bytes, then EOF" {
	require_fifo
	checked_without_dump pipe-in
	for m in data size; do checked_without_dump pipe-in $m; done
	rm -f "$T/outside.pid"
	start_prog fifo pipe-in "$T"
	outside_pid >/dev/null
	dump_killed
	grep -q "read end of a pipe .* whose other end is outside the process" "$T/dump.log"
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	# the producer was not touched
	kill -0 "$(cat "$T/outside.pid")"
}

@test "fifo: a pipe whose reader is outside (target | logger): bytes kept, then EPIPE and SIGPIPE" {
	require_fifo
	checked_without_dump pipe-out
	for m in size epipe; do checked_without_dump pipe-out $m; done
	rm -f "$T/outside.pid"
	start_prog fifo pipe-out "$T"
	outside_pid >/dev/null
	dump_killed
	grep -q "write end of a pipe .* whose other end is outside the process" "$T/dump.log"
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	kill -0 "$(cat "$T/outside.pid")"
}

@test "fifo: refused at restore: the FIFO is gone, or is a regular file now" {
	require_fifo
	start_prog fifo fifo "$T"
	dump_killed
	mv "$T/f2" "$T/f2.saved"
	expect_restore_refusal "fd 7" "$T/f2" "is gone"
	: >"$T/f2"
	expect_restore_refusal "fd 7" "$T/f2" "not a named FIFO any more"
	# and with the FIFO back, the restore works
	rm -f "$T/f2"
	mv "$T/f2.saved" "$T/f2"
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "fifo: refused at dump: a FIFO removed while open" {
	require_fifo
	local st=0
	start_prog fifo fifo "$T"
	rm -f "$T/f3"
	timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img" \
		</dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	cat "$T/err" >>"$T/dump.out"
	[ "$st" = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] || { echo "status $st, stderr: $(cat "$T/err")" >&2; false; }
	grep -qF "fd 8 is named FIFO $T/f3" "$T/err"
	grep -qF "removed while open" "$T/err"
	[ ! -e "$T/img" ]
	[ "$(proc_state "$PID")" = S ]
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")" = 0 ]
}
