#!/usr/bin/env bats
# t520-fifo.bats - named FIFOs, and pipes with one end outside the tree.
# See test/c/fifo.c: the program checks every value itself on SIGUSR2.
#
# FIFOs: three open file descriptions of one FIFO (O_RDONLY|O_NONBLOCK,
# O_WRONLY with FD_CLOEXEC, O_RDWR|O_APPEND) with 100000 unread bytes in a
# 256 KiB FIFO, a FIFO held by its writer only, one held by its reader only
# (EOF after its bytes); a FIFO opened separately by two processes of a tree.
# The bytes come back once per FIFO, in order; the ends still talk. A FIFO
# that another process kept open through the kill still holds its bytes:
# they are not added again (and bytes that are not the saved ones refuse
# the restore).
#
# Pipes with one end outside: `producer | target` (the reader gets the saved
# bytes, then EOF) and `target | logger` (the bytes are back in the pipe, a
# write gets EPIPE and SIGPIPE), while the outside process still runs.
#
# cs-restore --inherit-fd fd[N]:pipe:[INODE]: the reader gets cs-restore's
# fd N, another pipe, with what its writer put there, instead of the saved
# bytes.
#
# Refused: a FIFO removed or replaced by a regular file before the restore
# (cs-restore, check phase: no process made), a FIFO removed while open
# (cs-dump); --inherit-fd naming a pipe the images do not have, a pipe with
# both ends in the images, a descriptor cs-restore does not have or that is
# not a pipe, or written wrong. Each: exit status 1, one line on stderr
# naming the path or the argument.

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
	local mode=$1 corrupt=${2:-} o i st
	rm -f "$T/outside.pid"
	CS_TEST_CORRUPT=$corrupt start_prog fifo "$mode" "$T"
	o=$(outside_pid)
	kill -KILL "$o"
	# its fds are closed once it is a zombie or gone, not when kill returns
	for ((i = 0; i < 100; i++)); do
		st=$(proc_state "$o") || break
		[ "$st" != Z ] || break
		sleep 0.05
	done
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

# expect_restore_refusal WORDS... [-- OPTS...]: cs-restore -d OPTS (run with
# an empty pipe as its fd 5) exits 1 with one line on stderr holding every
# WORD, and makes no process $PID.
expect_restore_refusal() {
	local st=0 w words=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do words+=("$1"); shift; done
	[ $# = 0 ] || shift
	(close_fds; exec 5< <(:); exec timeout -k 5 60 "$CS_RESTORE" -D "$T/img" -d -v4 -o "$T/restore.log" "$@") \
		</dev/null >"$T/out" 2>"$T/err" || st=$?
	{ echo "\$ cs-restore -D $T/img -d $*  (status $st)"; sed 's/^/  stderr: /' "$T/err"; } >>"$T/restore.out"
	if [ "$st" != 1 ] || [ "$(wc -l <"$T/err")" != 1 ]; then
		echo "cs-restore: status $st (want 1), stderr: $(cat "$T/err")" >&2
		return 1
	fi
	for w in "${words[@]}"; do
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

# The inode of the pipe saved with pipe_alone (cs-show, jq).
alone_pipe_ino() {
	"$CS_SHOW" "$T/img" | jq -r '[.. | objects | select(.type? == 3 and .pipe_alone? == true) | .ino] | first'
}

@test "fifo: cs-restore --inherit-fd fd[N]:pipe:[INODE] gives the process cs-restore's pipe" {
	require_fifo
	local ino i
	rm -f "$T/outside.pid"
	# the program wants stream 31 after SIGUSR2, not the 30 it holds now
	start_prog fifo pipe-in "$T" 31
	outside_pid >/dev/null
	dump_killed
	ino=$(alone_pipe_ino)
	[[ $ino =~ ^[0-9]+$ ]] || { echo "no pipe_alone pipe in the images: $ino" >&2; false; }
	expect_restore_refusal "--inherit-fd" "fd[5]:pipe:[1]" "no pipe with inode 1" -- --inherit-fd "fd[5]:pipe:[1]"
	expect_restore_refusal "--inherit-fd" "no fd 9" -- --inherit-fd "fd[9]:pipe:[$ino]"
	expect_restore_refusal "--inherit-fd" "fd 0 of cs-restore is not a pipe" -- --inherit-fd "fd[0]:pipe:[$ino]"
	expect_restore_refusal "invalid --inherit-fd" "fd[N]:pipe:[INODE]" -- --inherit-fd "pipe:[$ino]"
	# digits only: a sign, a blank, an inode 0 or one past 64 bits is not an inode
	expect_restore_refusal "invalid --inherit-fd" -- --inherit-fd "fd[5]:pipe:[-$ino]"
	expect_restore_refusal "invalid --inherit-fd" -- --inherit-fd "fd[5]:pipe:[ $ino]"
	expect_restore_refusal "invalid --inherit-fd" -- --inherit-fd "fd[5]:pipe:[0]"
	expect_restore_refusal "invalid --inherit-fd" -- --inherit-fd "fd[5]:pipe:[18446744073709551616]"
	# fd 3 is not open in the caller: not taken for cs-restore's own fd 3
	expect_restore_refusal "--inherit-fd" "no fd 3" -- --inherit-fd "fd[3]:pipe:[$ino]"
	# the process had the read end: a write end in its place is refused
	(close_fds; exec 6> >(exec cat >/dev/null)
	 exec timeout -k 5 60 "$CS_RESTORE" -D "$T/img" -d --inherit-fd "fd[6]:pipe:[$ino]") \
		</dev/null >"$T/out" 2>"$T/err" && { echo "restored with a write end for a read end" >&2; false; }
	[ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err" >&2; false; }
	grep -qF "fd 6 of cs-restore is write-only, the process had the read end" "$T/err" || { cat "$T/err" >&2; false; }
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; false; }
	# fd 5 of cs-restore: a pipe that `fifo feed` filled with stream 31
	(close_fds; exec 5< <(exec "$FIFO" "$T/feed.ready" feed "$T" 31)
	 exec "$CS_RESTORE" -D "$T/img" -v4 -o "$T/restore.log" --inherit-fd "fd[5]:pipe:[$ino]") \
		</dev/null >"$T/restore.out" 2>&1 &
	RPID=$!
	record_pid "$RPID"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -e "/proc/$PID" ] && break
		kill -0 "$RPID" 2>/dev/null || break
		sleep 0.1
	done
	[ -e "/proc/$PID" ] || { echo "PID $PID did not come back" >&2; false; }
	wait_restored
	# cs-restore gave its fd 5 away: it does not hold the pipe any more
	[ ! -e "/proc/$RPID/fd/5" ] || { echo "cs-restore still holds fd 5" >&2; false; }
	wake_and_wait "$RPID"
	assert_prog_ok
	grep -q "pipe:\[$ino\] will be fd 5 of cs-restore" "$T/restore.log"
}

@test "fifo: --inherit-fd refuses a pipe with both ends in the images" {
	require_fifo
	local ino
	start_prog fifo fifo "$T"
	dump_killed
	# fds 6 and 9: the two ends of one pipe
	ino=$("$CS_SHOW" "$T/img" | jq -r '[.. | objects | select(.type? == 3 and .fd? == 6) | .ino] | first')
	[[ $ino =~ ^[0-9]+$ ]] || { echo "no pipe at fd 6 in the images: $ino" >&2; false; }
	expect_restore_refusal "--inherit-fd" "both ends of that pipe are in the images" -- --inherit-fd "fd[5]:pipe:[$ino]"
}

@test "fifo: a FIFO kept open by another process: its bytes are not put back twice, other bytes refuse" {
	require_fifo
	local h
	start_prog fifo fifo "$T"
	# this shell holds f2 open through the kill: the kernel keeps its bytes
	exec {h}<>"$T/f2"
	dump_killed
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	# again, with the first of the kept bytes taken out
	mv "$T/prog.out" "$T/prog-1.out"
	rm -rf "$T/img"
	start_prog fifo fifo "$T"
	exec {h}>&-
	exec {h}<>"$T/f2"
	dump_killed
	dd bs=1 count=1 status=none <&$h >/dev/null
	expect_restore_refusal "fd 7" "named FIFO $T/f2 holds 332 bytes that do not start with the 333 saved ones"
	exec {h}>&-
}
