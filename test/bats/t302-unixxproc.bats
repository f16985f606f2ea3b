#!/usr/bin/env bats
# t302-unixxproc.bats - unix connections between two processes of the tree
# (test/c/unixxproc.c): a parent listening on a path has accepted the
# connections of two children (one client bound to its own name; data
# queued both ways; one half shut down), and holds a named datagram socket
# connected both ways with a child's, datagrams queued both ways. After a
# restore every process checks names, peer names, the peer's PID
# (SO_PEERCRED), the queued bytes, the shutdown, and new messages both ways;
# a seqpacket connection the other way round (the listener in the child,
# the client in the parent), watched by an epoll set; an accepted end
# inherited by the other child; connections whose listener every process
# has closed (cs-restore listens on its name for the time of the accept).

load helpers

PROG=$CS_BUILDDIR/test/c/unixxproc

require_prog() {
	require_cs
	[ -x "$PROG" ] || skip "$PROG is not built (make test/c/unixxproc)"
}

@test "unixxproc: the checks pass on an undisturbed tree (control)" {
	require_prog
	control unixxproc
}

@test "unixxproc: the checks catch wrong data, shutdown, peer's PID, name, datagrams, epoll (negative control)" {
	require_prog
	expect_detects_all unixxproc "data shutdown peercred name dgram epoll"
}

@test "unixxproc: accepted connections and a datagram pair across processes come back (dump killed, restore)" {
	require_prog
	round_trip unixxproc
	grep -q "is connected to fd" "$T/dump.log"
	"$CS_SHOW" "$T/img" | grep -q '"xproc"'
	"$CS_SHOW" "$T/img" | grep -qF '"unix-xproc"'
	[ "$(grep -c "connected again, " "$T/restore.log")" = 3 ]
	grep -q "also at fd [0-9]* of process" "$T/restore.log"
	grep -q "in epoll set fd [0-9]* of process [0-9]* again" "$T/restore.log"
	grep -q "parked there" "$T/dump.log"
}

@test "unixxproc: cs-dump -R leaves the tree running, and the image restores it" {
	require_prog
	start_prog unixxproc
	dump_running
	"$CS_SHOW" "$T/img" | grep -qF '"unix-xproc"'
	wake_and_wait "$PID"
	assert_prog_ok
	# the original wrote its verdict to its output file after the dump
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "unixxproc: restored into a new PID namespace (cs-restore --pidns)" {
	require_prog
	local capeff i st=0 hpid
	capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
	(((0x$capeff >> 21 & 1) == 1)) || skip "--pidns needs CAP_SYS_ADMIN"
	[ -e /proc/self/ns/pid ] || skip "no PID namespaces in this kernel"
	start_prog unixxproc
	dump_killed
	(close_fds; exec "$CS_RESTORE" -D "$T/img" --pidns --pidfile "$T/rpid" -v4 -o "$T/restore.log") \
		</dev/null >"$T/restore.out" 2>&1 &
	RPID=$!
	record_pid "$RPID"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/rpid" ] && break
		kill -0 "$RPID" 2>/dev/null || break
		sleep 0.1
	done
	[ -s "$T/rpid" ] || { echo "cs-restore --pidns wrote no pidfile" >&2; return 1; }
	hpid=$(cat "$T/rpid")
	record_pid "$hpid"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ "$(readlink "/proc/$hpid/exe" 2>/dev/null)" = "$PROG_EXE" ] && wait_settled_once "$hpid" && break
		sleep 0.1
	done
	# inside, the tree has the saved PIDs: SO_PEERCRED says them
	kill -USR2 "$hpid"
	wait "$RPID" || st=$?
	STATUS=$st
	assert_prog_ok
	[ "$(grep -c "connected again, " "$T/restore.log")" = 3 ]
}

@test "unixxproc: connections accepted from a listener that every process has closed, its file removed" {
	require_prog
	control unixxproc closed
	expect_detects unixxproc file closed
	cs_teardown
	cs_setup
	round_trip unixxproc closed
	grep -q "was accepted from a listening socket named .* that is closed" "$T/dump.log"
	"$CS_SHOW" "$T/img" | grep -q '"listener_gone"'
	[ "$(grep -c "connected again, " "$T/restore.log")" = 3 ]
	[ ! -e "$T/ready.sock" ]
}

@test "refuse: an accepted unix connection whose listener is closed when its client has a name too" {
	require_prog
	start_prog unixxproc closednamed
	refused "both ends of its connection are bound and no listening socket of the tree has either name" \
		"(unix stream socket, inode"
	# the tree runs on, untouched
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "unixxproc: a restore failing after the connections were made (CS_FAULT=create) leaves nothing; then it works" {
	require_prog
	local st=0 p pids
	start_prog unixxproc closed
	pids="$PID $(cat "/proc/$PID/task/$PID/children")"
	dump_killed
	(close_fds; CS_FAULT=create exec timeout -k 5 30 "$CS_RESTORE" -D "$T/img" -d -v4 -o "$T/restore.log") \
		</dev/null >"$T/restore.out" 2>&1 || st=$?
	[ "$st" = 1 ] || { echo "CS_FAULT=create: status $st, want 1: $(cat "$T/restore.out")" >&2; return 1; }
	grep -q "connected again, " "$T/restore.log"
	for p in $pids; do
		wait_pid_gone "$p" 50 || { echo "PID $p is left (state $(proc_state "$p"))" >&2; return 1; }
	done
	[ ! -e "$T/ready.sock" ] || { echo "the closed listener's name was left" >&2; return 1; }
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "refuse: a datagram queued by a named socket of another process than the one that makes its receiver" {
	require_prog
	start_prog unixxproc dgsender
	refused "has a datagram queued from $T/ready.cdg2, a socket that process" "not supported"
	# the tree runs on, untouched
	wake_and_wait "$PID"
	assert_prog_ok
}
