#!/usr/bin/env bats
# t300-sockets.bats - unix sockets (stream, dgram, seqpacket: socketpairs,
# listeners at a path and at an abstract name, accepted connections, named
# datagram sockets, a relative path name) and UDP over IPv4 and IPv6, with
# data in their queues, and the bound UDP sockets' ip(7)/ipv6(7) options
# (test/c/xopts.h), come back value by value (test/c/sockets.c); what
# cannot be recreated is refused, naming the socket: an fd queued with
# SCM_RIGHTS, a peer outside the process, a UDP socket in a multicast
# group (cs-dump), a bound path taken by a
# file that is not a socket or by a live socket, a UDP port taken
# (cs-restore's check phase).

load helpers

SOCKETS=$CS_BUILDDIR/test/c/sockets

require_sockets() {
	require_cs
	[ -x "$SOCKETS" ] || skip "$SOCKETS is not built (make test/c/sockets)"
}

# Refusal targets run detached in a session of their own (init reaps them);
# start_detached NAME ARGS...: sockets $T/NAME.ready ARGS; sets PID.
start_detached() {
	local name=$1 i
	shift
	rm -f "$T/$name.ready"
	(close_fds; setsid "$SOCKETS" "$T/$name.ready" "$@" </dev/null >>"$T/prog-$name.out" 2>&1 &)
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/$name.ready" ] && break
		sleep 0.1
	done
	[ -s "$T/$name.ready" ] || { echo "$name: no ready file: $(cat "$T/prog-$name.out")" >&2; return 1; }
	PID=$(cat "$T/$name.ready")
	is_ours "$PID" || { echo "$name: ready file says $PID: not ours" >&2; return 1; }
	record_pid "$PID"
	wait_settled "$PID"
}

# one_line_error OUT ERR STATUS WORDS...: status 1, nothing on stdout, one
# line on stderr holding every word.
one_line_error() {
	local out=$1 err=$2 st=$3 w
	shift 3
	[ "$st" = 1 ] || { echo "exit status $st, want 1: $(cat "$err")" >&2; return 1; }
	[ ! -s "$out" ] || { echo "stdout: $(cat "$out")" >&2; return 1; }
	[ "$(wc -l <"$err")" = 1 ] || { echo "want one line on stderr:" >&2; cat "$err" >&2; return 1; }
	for w in "$@"; do
		grep -qF -- "$w" "$err" || { echo "\"$w\" not in: $(cat "$err")" >&2; return 1; }
	done
}

# expect_dump_refusal WORDS...: cs-dump -t $PID refuses, leaves no images
# and the target running (asleep, not traced).
expect_dump_refusal() {
	local st=0
	timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img" </dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	cat "$T/err" >>"$T/dump.out"
	one_line_error "$T/out" "$T/err" "$st" "$@"
	[ ! -e "$T/img" ] || { echo "cs-dump left $T/img" >&2; return 1; }
	[ -z "$(find "$T" -maxdepth 1 -name '.*.partial-*')" ] || { echo "partial directory left" >&2; return 1; }
	[ "$(proc_state "$PID")" = S ] || { echo "$PID is in state $(proc_state "$PID")" >&2; return 1; }
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")" = 0 ] || { echo "$PID is traced" >&2; return 1; }
}

# wake_detached PID NAME: SIGUSR2; it exits having printed its "ok" line.
wake_detached() {
	local i st
	kill -USR2 "$1"
	for ((i = 0; i < 50; i++)); do
		st=$(proc_state "$1") || break
		[ "$st" = Z ] && break
		sleep 0.1
	done
	grep -q '^sockets: ok:' "$T/prog-$2.out" || { echo "$2: no ok line: $(cat "$T/prog-$2.out")" >&2; return 1; }
}

# expect_restore_refusal WORDS...: cs-restore refuses in its check phase;
# $PID does not come back.
expect_restore_refusal() {
	local st=0
	(close_fds; exec timeout -k 5 60 "$CS_RESTORE" -D "$T/img") </dev/null >"$T/out" 2>"$T/err" || st=$?
	cat "$T/err" >>"$T/restore.out"
	one_line_error "$T/out" "$T/err" "$st" "$@"
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
}

@test "sockets: the checks pass on an undisturbed process (control)" {
	[ -x "$SOCKETS" ] || skip "$SOCKETS is not built"
	control sockets
}

@test "sockets: the checks catch changed queues, names, peers and options (negative control)" {
	[ -x "$SOCKETS" ] || skip "$SOCKETS is not built"
	expect_detects_all sockets "stream dgram pair listen name opts peekoff udp udpdst xopts"
}

@test "sockets: unix and UDP sockets with queued data survive dump (killed) and restore" {
	require_sockets
	round_trip sockets
	# the images hold the queues: 100000 bytes of the stream pair among them
	"$CS_SHOW" "$T/img" | grep -q '"usk"'
}

@test "sockets: cs-dump -R leaves them intact, and the image restores after the original exited" {
	require_sockets
	start_prog sockets
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
	# the original's socket files are left behind, stale: the restore replaces them
	[ -S "$T/listen.sock" ]
	# the original wrote its verdict to its output file after the dump,
	# which the image has open: that change is expected
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "refuse: a unix socket with a file descriptor queued (SCM_RIGHTS)" {
	require_sockets
	start_detached scm scm-rights
	expect_dump_refusal "fd 4" "unix stream socket" "SCM_RIGHTS"
	wake_detached "$PID" scm
}

@test "refuse: a UDP socket in a multicast group (IPv4, IPv6, IPv4 on an IPv6 socket)" {
	require_sockets
	start_detached m4 mcast4
	expect_dump_refusal "fd 3" "UDP socket over IPv4" "multicast group 239.1.2.3 on lo" "IP_ADD_MEMBERSHIP"
	wake_detached "$PID" m4
	[ -e /proc/net/igmp6 ] || skip "no IPv6 here"
	start_detached m6 mcast6
	expect_dump_refusal "fd 3" "UDP socket over IPv6" "multicast group ff15::1234 on lo" "IPV6_ADD_MEMBERSHIP"
	wake_detached "$PID" m6
	start_detached m46 mcast46
	expect_dump_refusal "fd 3" "UDP socket over IPv6" "multicast group 239.4.5.6 on lo"
	wake_detached "$PID" m46
}

@test "refuse: a unix socket connected to a socket outside the process, accepted or not" {
	require_sockets
	command -v ss >/dev/null || skip "ss (iproute2) is not installed"
	local name=cs-t300-$$-$RANDOM server peer
	start_detached server peer-server "$name"
	server=$PID
	# the first connection is accepted by the server, the second waits in its backlog
	start_detached client peer-outside "$name"
	peer=$(ss -xp 2>/dev/null | awk -v p="pid=$server," '$0 ~ p && $5 ~ /@cs-t300/ { print $6; exit }')
	[[ $peer =~ ^[0-9]+$ ]] || { echo "cannot find the server's socket inode with ss: \"$peer\"" >&2; return 1; }
	expect_dump_refusal "fd 3" "unix stream socket" "connected to socket inode ${peer}" "outside process $PID"
	wake_detached "$PID" client
	start_detached client2 peer-outside "$name"
	# in the backlog of a listener outside the tree (one of the tree's: t301-unixicons)
	expect_dump_refusal "fd 3" "unix stream socket" "no process has accepted yet" \
		"the listening socket is not in the dumped tree"
	wake_detached "$PID" client2
	wake_detached "$server" server
}

@test "refuse at restore: a file that is not a socket, or a live socket, at a bound path" {
	require_sockets
	local server
	start_prog sockets
	dump_killed
	rm -f "$T/listen.sock"
	echo data >"$T/listen.sock"
	expect_restore_refusal "listen.sock" "not a socket"
	[ "$(cat "$T/listen.sock")" = data ]
	rm -f "$T/listen.sock"
	start_detached server path-server "$T/listen.sock"
	server=$PID
	PID=$(cat "$T/ready")
	expect_restore_refusal "listen.sock" "a live socket" "is bound there"
	wake_detached "$server" server
	# with the path free again, the restore works
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "refuse at restore: a UDP port taken by another socket" {
	require_sockets
	command -v python3 >/dev/null || skip "python3 is not installed"
	local port fd i
	start_prog sockets
	dump_killed
	port=$("$CS_SHOW" "$T/img" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["images"]["files.img"]:
    if e.get("sk", {}).get("proto") == 17 and e["sk"]["family"] == 2 and e["sk"]["reuseaddr"]:
        print(e["fd"], e["sk"]["src_port"])')
	read -r fd port <<<"$port"
	[[ $port =~ ^[0-9]+$ ]] || { echo "no bound UDP port in the image: \"$port\"" >&2; return 1; }
	# a holder of the port; its command line names $T, so teardown may kill it
	(close_fds; exec python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").write("x")
time.sleep(60)' "$port" "$T/holder.ready") </dev/null >"$T/prog-holder.out" 2>&1 &
	record_pid $!
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/holder.ready" ] && break
		sleep 0.1
	done
	[ -s "$T/holder.ready" ] || { echo "the port holder did not start: $(cat "$T/prog-holder.out")" >&2; return 1; }
	expect_restore_refusal "fd $fd" "UDP" "port $port" "Address already in use"
}
