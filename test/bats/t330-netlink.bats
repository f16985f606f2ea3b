#!/usr/bin/env bats
# t330-netlink.bats - netlink sockets (netlink(7)). test/c/netlink runs in
# a network namespace this test creates (cs-dump and cs-restore run there
# too, under `nsenter --net`: a target in another network namespace is
# refused) and holds an rtnetlink listener autobound to its PID in four
# groups (two above 32) with every NETLINK_* flag, a second rtnetlink
# socket autobound to a negative portid, a generic netlink socket at a
# chosen portid in nlctrl's group, an unbound one, and a NETLINK_USERSOCK
# pair, one connected to the other. After the restore it checks portids,
# groups, flags, buffer sizes and peers value by value, sends on the
# connected pair, and adds an address to the namespace's lo, which the
# listener must hear about.
#
# Refused by cs-dump, one line naming the fd, the target left running: a
# socket in the middle of a dump the kernel sends in parts
# (NDIAG_FLAG_CB_RUNNING), with or without -R; messages not read yet,
# without -R (with -R: a warning); a socket filter of its own (SO_ATTACH_FILTER,
# locked or not, with or without -R); a netfilter socket an NFQUEUE queue is
# bound to (the binding goes with the socket); a socket of another network
# namespace (made there after a setns). Refused by cs-restore's check phase: a
# portid taken by another socket; a flag that needs a capability cs-restore
# lacks (NETLINK_LISTEN_ALL_NSID without CAP_NET_BROADCAST).

load helpers

NETLINK=$CS_BUILDDIR/test/c/netlink

setup() {
	cs_setup
	NS=cs-t330-$$-$RANDOM
}

teardown() {
	kill_recorded
	drop_netns "$NS" "$NS-b"
	cs_teardown
}

require_netlink() {
	require_cs
	[ -x "$NETLINK" ] || skip "$NETLINK is not built (make test/c/netlink)"
}

# make_ns: the test's network namespace; cs-dump and cs-restore in it
# through wrappers that exec them (so cs-restore keeps its PID for
# restore_wait), and test programs through START_WRAP
make_ns() {
	command -v nsenter >/dev/null || skip "nsenter (util-linux) is not installed"
	ip netns add "$NS" || skip "cannot create network namespaces here"
	printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s %s "$@"\n' "$NS" "$CS_BUILDDIR/cs-dump/cs-dump" >"$T/cs-dump"
	printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s %s "$@"\n' "$NS" "$CS_BUILDDIR/cs-restore/cs-restore" \
		>"$T/cs-restore"
	chmod +x "$T/cs-dump" "$T/cs-restore"
	CS_DUMP=$T/cs-dump
	CS_RESTORE=$T/cs-restore
	START_WRAP="nsenter --net=/run/netns/$NS"
}

# nl_refused WORDS...: refused (helpers.bash); the target still sleeps, untraced
nl_refused() {
	refused "$@" || return 1
	[ "$(proc_state "$PID")" = S ] || { echo "process $PID: state $(proc_state "$PID")" >&2; return 1; }
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")" = 0 ] || { echo "$PID is traced" >&2; return 1; }
}

# the portid of fd FD in the image, from cs-show
image_portid() {
	"$CS_SHOW" "$T/img" | jq -r --argjson fd "$1" '.images["files.img"][] | select(.fd == $fd) | .nlsk.portid'
}

@test "netlink: control, the checks pass without a dump" {
	[ -x "$NETLINK" ] || skip "$NETLINK is not built"
	make_ns
	control netlink netns "$NS"
}

@test "netlink: negative control, each check catches a change" {
	[ -x "$NETLINK" ] || skip "$NETLINK is not built"
	make_ns
	expect_detects_all netlink "portid groups opts rcvbuf peer flags notify" netns "$NS"
}

@test "netlink: round trip killed: portids, groups, flags, peers; the listener hears an address added after the restore" {
	require_netlink
	make_ns
	start_prog netlink netns "$NS"
	dump_killed
	expect_features "$T/img" +netlink
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "netlink: round trip with -R, then restored after the original is gone" {
	require_netlink
	make_ns
	start_prog netlink netns "$NS"
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
	# the original added its address: the restored one adds it again
	ip -n "$NS" addr flush dev lo
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "netlink: refused at restore: a portid taken by another socket; restored once it is free" {
	require_netlink
	command -v jq >/dev/null || skip "jq is not installed"
	local port holder i st=0
	make_ns
	start_prog netlink netns "$NS"
	dump_killed
	port=$(image_portid 5)
	[[ $port =~ ^[0-9]+$ ]] && [ "$port" != 0 ] || { echo "no portid for fd 5 in the image: \"$port\"" >&2; return 1; }
	# a generic netlink socket of another process at that portid
	(close_fds; exec nsenter --net="/run/netns/$NS" "$NETLINK" "$T/holder.ready" hold 16 "$port") \
		</dev/null >"$T/prog-holder.out" 2>&1 &
	holder=$!
	record_pid "$holder"
	wait_file "$T/holder.ready" || { echo "holder not ready: $(cat "$T/prog-holder.out")" >&2; return 1; }
	(close_fds; exec "$CS_RESTORE" -D "$T/img") </dev/null >"$T/out" 2>"$T/err" || st=$?
	cat "$T/err" >>"$T/restore.out"
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line on stderr:" >&2; cat "$T/err" >&2; return 1; }
	for w in "fd 5" "netlink generic socket" "portid $port" "Address already in use"; do
		grep -qF -- "$w" "$T/err" || { echo "\"$w\" not in: $(cat "$T/err")" >&2; return 1; }
	done
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
	# the holder goes: the restore works
	kill -USR2 "$holder"
	wait "$holder"
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "netlink: refused at restore: NETLINK_LISTEN_ALL_NSID without CAP_NET_BROADCAST" {
	require_netlink
	local st=0
	make_ns
	start_prog netlink netns "$NS"
	dump_killed
	# cs-restore without CAP_NET_BROADCAST (out of its bounding set: root's
	# permitted set after the exec)
	(close_fds; exec nsenter --net="/run/netns/$NS" setpriv --bounding-set -net_broadcast \
		"$CS_BUILDDIR/cs-restore/cs-restore" -D "$T/img") </dev/null >"$T/out" 2>"$T/err" || st=$?
	cat "$T/err" >>"$T/restore.out"
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line on stderr:" >&2; cat "$T/err" >&2; return 1; }
	for w in "fd 3" "netlink route socket" "NETLINK_LISTEN_ALL_NSID" "CAP_NET_BROADCAST"; do
		grep -qF -- "$w" "$T/err" || { echo "\"$w\" not in: $(cat "$T/err")" >&2; return 1; }
	done
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
	# with the capability, the same images restore
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "netlink: refused: a dump the kernel is sending in parts (NDIAG_FLAG_CB_RUNNING), with and without -R" {
	require_netlink
	start_prog netlink dump-running
	nl_refused "fd 3" "netlink generic socket" "NDIAG_FLAG_CB_RUNNING"
	DUMP_OPTS=(-R)
	nl_refused "fd 3" "netlink generic socket" "NDIAG_FLAG_CB_RUNNING"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "netlink: refused: a netfilter socket bound to an NFQUEUE queue" {
	require_netlink
	[ -e /proc/net/netfilter/nfnetlink_queue ] || skip "no nfnetlink_queue in this kernel"
	local st=0
	make_ns
	start_prog netlink nfqueue 4321 || st=$?
	[ $st != 77 ] || skip "NFQUEUE cannot be bound here"
	[ $st = 0 ]
	nl_refused "fd 3" "netlink netfilter socket" "NFQUEUE queue 4321"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "netlink: refused: a socket made in another network namespace" {
	require_netlink
	make_ns
	ip netns add "$NS-b" || skip "cannot create network namespaces here"
	start_prog netlink foreign "$NS-b"
	nl_refused "fd 5" "netlink route socket" "not found by sock_diag in this network namespace"
	wake_and_wait "$PID"
	assert_prog_ok
}

# A socket filter (SO_ATTACH_FILTER; libudev's uevent monitor has one) is
# in no image: the restored socket took every message the filter dropped.
# Refused, naming the fd, with and without -R; the program checks its
# filter is still there (1 instruction) once woken.
@test "netlink: refused: a socket filter of its own (SO_ATTACH_FILTER), locked or not; it goes on" {
	require_netlink
	start_prog netlink filter
	nl_refused "fd 3 (netlink route socket, portid $PID) has a socket filter of its own"
	DUMP_OPTS=(-R)
	refused "fd 3 (netlink route socket, portid $PID) has a socket filter of its own"
	DUMP_OPTS=()
	wake_and_wait "$PID"
	assert_prog_ok
	grep -q "ok: filter" "$T/prog.out"
	rm -f "$T/prog.out"
	start_prog netlink filter lock
	nl_refused "fd 3 (netlink route socket, portid $PID) has a socket filter of its own"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "netlink: refused: messages not read yet (killed); with -R left to the running process, with a warning" {
	require_netlink
	start_prog netlink unread
	nl_refused "fd 3" "netlink route socket" "bytes of messages not read yet"
	dump_running --runtime=none
	grep -q "fd 3 (netlink route socket.*not read yet are left to the running process" "$T/dump.out" ||
		{ echo "no warning in: $(cat "$T/dump.out")" >&2; return 1; }
	wake_and_wait "$PID"
	assert_prog_ok
}
