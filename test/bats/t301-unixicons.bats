#!/usr/bin/env bats
# t301-unixicons.bats - unix stream and seqpacket connections that no
# listener has accepted yet (in flight), whose client is a socket of the
# tree (test/c/unixicons.c): after a restore the listener holds the same
# number of them, accept(2) returns them in the same order, with the bytes
# the clients had sent, the client's shutdown, the client's PID as the
# peer's credentials, and replies reach the right client; with the client
# in a child process too. A client outside the tree is lost (a warning);
# under -R a client that has sent data is refused (it cannot be read
# without accepting the connection).

load helpers

PROG=$CS_BUILDDIR/test/c/unixicons

require_prog() {
	require_cs
	[ -x "$PROG" ] || skip "$PROG is not built (make test/c/unixicons)"
}

@test "unixicons: the checks pass on an undisturbed process (control)" {
	require_prog
	control unixicons data
	control unixicons nodata
	control unixicons child
	control unixicons lchild
}

@test "unixicons: the checks catch a changed count, order, data, shutdown, message, socket file, shutdown before connect (negative control)" {
	require_prog
	expect_detects_all unixicons "count data order shutdown seq preshut" data
	expect_detects unixicons file unlinked
}

@test "unixicons: connections not accepted yet, with data, come back in order (dump killed, restore)" {
	require_prog
	round_trip unixicons data
	grep -qF "connection 2 of 3 not accepted yet on listener fd 3" "$T/dump.log"
	"$CS_SHOW" "$T/img" | grep -q '"icons"'
	"$CS_SHOW" "$T/img" | grep -qF '"unix-icons"'
}

@test "unixicons: a client in a child process, connected between two of the parent's" {
	require_prog
	round_trip unixicons child
	grep -q "connected again, 10 bytes sent again" "$T/restore.log"
}

@test "unixicons: a listener in a child process, with clients in its parent before and after its own" {
	require_prog
	round_trip unixicons lchild
	# clients 0 and 2 of the parent connect to the child's listener, and 1 of the child
	[ "$(grep -c "of process $PID (unix stream socket), connection [13] not accepted yet on fd" "$T/restore.log")" = 2 ]
	[ "$(grep -c "connection 2 not accepted yet on fd" "$T/restore.log")" = 1 ]
	! grep -q "connection 2 not accepted yet on fd [0-9]* of process $PID:" "$T/restore.log"
}

@test "unixicons: the checks catch wrong data and a missing shutdown with the listener in a child (negative control)" {
	require_prog
	expect_detects_all unixicons "data shutdown" lchild
}

@test "unixicons: a listener whose socket file was removed, and one bound to a relative path" {
	require_prog
	round_trip unixicons unlinked
	[ ! -e "$T/ready.sock" ]
	grep -qF "connection 1 not accepted yet on fd 7" "$T/restore.log"
	cs_teardown
	cs_setup
	round_trip unixicons relative
	"$CS_SHOW" "$T/img" | grep -qF '"name_dir"'
}

@test "unixicons: cs-dump -R leaves them to the process, and the image restores them" {
	require_prog
	start_prog unixicons nodata
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
	# the original wrote its verdict to its output file after the dump
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "unixicons: a client outside the tree is lost, with a warning; the others come back" {
	require_prog
	command -v python3 >/dev/null || skip "python3 is not installed"
	local name i
	start_prog unixicons nodata
	name=$(cat "$T/ready.name")
	# an outside client, last in the stream listener's queue; its command line names $T
	(close_fds; exec python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect("\0" + sys.argv[1])
open(sys.argv[2], "w").write("x")
time.sleep(60)' "$name" "$T/outside.ready") </dev/null >"$T/prog-outside.out" 2>&1 &
	record_pid $!
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/outside.ready" ] && break
		sleep 0.1
	done
	[ -s "$T/outside.ready" ] || { echo "the outside client did not connect: $(cat "$T/prog-outside.out")" >&2; return 1; }
	dump_killed
	grep -qF "1 connection(s) not accepted yet from clients outside the tree are not saved" "$T/dump.log"
	# the program wants exactly its own three: the outside one is gone
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "refuse: cs-dump -R when a client has sent data into a connection not accepted yet" {
	require_prog
	local st=0
	start_prog unixicons data
	mkdir -p "$T/img"
	timeout -k 5 60 "$CS_DUMP" -R -t "$PID" -D "$T/img" </dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	cat "$T/err" >>"$T/dump.out"
	[ "$st" = 1 ] || { echo "cs-dump -R: status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line:" >&2; cat "$T/err" >&2; return 1; }
	grep -qF "has sent data into its connection to listener fd 3 of process $PID, which is not accepted yet" "$T/err"
	grep -qF "not supported with -R" "$T/err"
	[ -z "$(ls -A "$T/img")" ] || { echo "cs-dump left images" >&2; return 1; }
	# the process kept everything: its own checks pass
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "unixicons: a dump failing after the connections were taken to read them says they are lost" {
	require_prog
	local st=0
	start_prog unixicons data
	mkdir -p "$T/img"
	CS_FAULT=sync timeout -k 5 60 "$CS_DUMP" -t "$PID" -D "$T/img" -v4 -o "$T/dump.log" </dev/null \
		>"$T/out" 2>"$T/err" 3>&- || st=$?
	cat "$T/err" >>"$T/dump.out"
	[ "$st" = 1 ] || { echo "cs-dump: status $st, want 1" >&2; return 1; }
	grep -qF "fd 3 of process $PID (unix listener): 3 connection(s) not accepted yet were taken from it" "$T/dump.log"
	grep -qF "fd 7 of process $PID (unix listener): 2 connection(s) not accepted yet were taken from it" "$T/dump.log"
	[ -z "$(ls -A "$T/img")" ] || { echo "cs-dump left images" >&2; return 1; }
	# left running, without them: its checks say so
	[ "$(proc_state "$PID")" = S ] || { echo "$PID is in state $(proc_state "$PID")" >&2; return 1; }
	wake_and_wait "$PID"
	[ "$STATUS" = 1 ] || { echo "exit status $STATUS, want 1 (connections lost)" >&2; return 1; }
	grep -qF "stream listener: connections not accepted differs: 0, want 3" "$T/prog.out"
}

# The pages are written before the connections are taken: a dump failing
# there (a full disk shows in the bulk of the writing) leaves them pending.
@test "unixicons: a dump failing while the pages are written leaves the connections not accepted yet, with their data" {
	require_prog
	local f st
	for f in write icons; do
		st=0
		start_prog unixicons data
		mkdir -p "$T/img"
		CS_FAULT=$f timeout -k 5 60 "$CS_DUMP" -t "$PID" -D "$T/img" -v4 -o "$T/dump.log" </dev/null \
			>"$T/out" 2>"$T/err" 3>&- || st=$?
		cat "$T/err" >>"$T/dump.out"
		[ "$st" = 1 ] || { echo "CS_FAULT=$f: cs-dump: status $st, want 1" >&2; return 1; }
		grep -qF "fault injection: step $f fails" "$T/err"
		! grep -qF "not accepted yet were taken" "$T/dump.log" || { echo "CS_FAULT=$f: connections taken" >&2; return 1; }
		[ -z "$(ls -A "$T/img")" ] || { echo "cs-dump left images" >&2; return 1; }
		wake_and_wait "$PID"
		assert_prog_ok
		rm -rf "$T/img" "$T/ready" "$T/prog.out"
	done
}

@test "refuse at restore: a connection not accepted yet whose client is not in the images" {
	require_prog
	local edit=$CS_BUILDDIR/test/c/img-edit st=0
	[ -x "$edit" ] || skip "img-edit is not built (make test/c/img-edit)"
	start_prog unixicons data
	dump_killed
	"$edit" "$T/img" icon-client files.img 3 12345
	(close_fds; exec timeout -k 5 60 "$CS_RESTORE" -D "$T/img") </dev/null >"$T/out" 2>"$T/err" || st=$?
	cat "$T/err" >>"$T/restore.out"
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line:" >&2; cat "$T/err" >&2; return 1; }
	grep -qF "fd 3 (unix stream listener): connection 1 not accepted yet is from socket inode 12345 (fd 4), which is not a client of it in the images" "$T/err"
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
}
