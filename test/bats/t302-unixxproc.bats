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
# inherited by the other child.

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
