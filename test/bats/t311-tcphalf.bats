#!/usr/bin/env bats
# t311-tcphalf.bats - half-closed TCP connections kept with --tcp-established
# (test/c/tcphalf.c), both ends in the process. open: CLOSE-WAIT with unread
# bytes before the EOF and FIN-WAIT-2 (IPv4 and IPv6 pairs), and a
# FIN-WAIT-1 whose FIN waits behind bytes never sent (closed window).
# A peer process outside (not dumped): the client's CLOSE-WAIT and
# FIN-WAIT-2 ends, on loopback and with the peer in a network namespace of
# the test's over veth (the peer's FIN injected from a remote address).
# held: FIN-WAIT-1, LAST-ACK and CLOSING, held by the test's own nftables
# rule dropping the FINs of marked sockets. After the restore each end
# checks its state, its bytes, where it reads EOF, where writes go or fail
# with EPIPE, and that the connections then finish closing. A SYN-SENT
# socket is still refused, and so is a restore that would have to give a
# peer's FIN again without CAP_NET_RAW. -R leaves the connections working.
# Under --tcp-close the half-closed connections are dropped: each restored
# end reads EOF. A connection closed on both sides whose descriptor is still
# open (an HTTP client that shut its side, the server answered and closed)
# comes back with its unread bytes, then EOF.

load helpers
load tcp-peer

teardown() {
	if [ -d "${T:-/nonexistent}" ]; then
		kill_recorded
		[ -n "${NSP:-}" ] && ip netns del "$NSP" 2>/dev/null
		drop_test_tables
	fi
	cs_teardown
}

TCPHALF=$CS_BUILDDIR/test/c/tcphalf

require_tcphalf() {
	require_cs
	[ -x "$TCPHALF" ] || skip "$TCPHALF is not built (make test/c/tcphalf)"
	[ -e /proc/net/tcp6 ] || skip "no IPv6 here"
}

# hold_rule: the test's own table, dropping the outgoing FINs of sockets
# marked 0x5a17 and the SYNs of sockets marked 0x5a18 (tcphalf.c).
hold_rule() {
	command -v nft >/dev/null || skip "nft is not installed (Debian package nftables)"
	nft list tables >/dev/null 2>&1 || skip "nftables is not usable here"
	TT=cstest-tcphalf-$$
	echo "$TT" >"$T/test-table"
	nft "add table inet $TT; add chain inet $TT out { type filter hook output priority 0; policy accept; }"
	nft "add rule inet $TT out meta mark 0x5a17 tcp flags & fin == fin drop"
	nft "add rule inet $TT out meta mark 0x5a18 tcp flags & syn == syn drop"
}

drop_rule() {
	nft delete table inet "$TT"
	rm -f "$T/test-table"
}

# kept STATE N: the dump log says N connections were kept in STATE.
kept() {
	local n
	n=$(grep -c "kept: .*, state $1\$" "$T/dump.log") || true
	[ "$n" = "$2" ] || { echo "want $2 connections kept in $1, got $n: $(grep kept: "$T/dump.log")" >&2; return 1; }
}

@test "tcphalf: the checks pass on undisturbed processes (control)" {
	require_tcphalf
	control tcphalf open
	hold_rule
	control tcphalf held
	drop_rule
}

@test "tcphalf: the checks catch lost bytes, a lost FIN of the peer, a lost FIN of ours (negative control)" {
	require_tcphalf
	expect_detects_all tcphalf "data eof shut" open
	hold_rule
	expect_detects_all tcphalf "nofin" held
	drop_rule
}

@test "tcphalf: CLOSE-WAIT, FIN-WAIT-2 and FIN-WAIT-1 (FIN not sent) survive dump (killed) and restore" {
	require_tcphalf
	start_prog tcphalf open
	dump_killed --tcp-established
	expect_features "$T/img" +tcp-established +tcp-half-closed
	kept CLOSE-WAIT 2
	kept FIN-WAIT-2 2
	kept FIN-WAIT-1 1
	kept ESTABLISHED 1
	# the image: sequence numbers without the FINs, the FINs as flags
	"$CS_SHOW" "$T/img" | grep -q '"peer_fin": *true'
	"$CS_SHOW" "$T/img" | grep -q '"our_fin_acked": *true'
	restore_wait --tcp-established
	[ "$(grep -c "brought to" "$T/restore.log")" = 5 ] ||
		{ echo "want 5 connections brought to their state: $(grep "brought to" "$T/restore.log")" >&2; return 1; }
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "tcphalf: FIN-WAIT-1, LAST-ACK and CLOSING (FINs held back) survive dump (killed) and restore" {
	require_tcphalf
	hold_rule
	start_prog tcphalf held
	dump_killed --tcp-established
	kept FIN-WAIT-1 1
	kept LAST-ACK 1
	kept CLOSING 1
	kept FIN-WAIT-2 2
	kept ESTABLISHED 1
	restore_wait --tcp-established
	grep -q "brought to CLOSING (saved: CLOSING)" "$T/restore.log"
	grep -q "brought to LAST-ACK (saved: LAST-ACK)" "$T/restore.log"
	wake_and_wait "$RPID"
	assert_prog_ok
	drop_rule
}

@test "tcphalf: without the network lock the half-closed connections come back too" {
	require_tcphalf
	start_prog tcphalf open
	dump_killed --tcp-established --network-lock skip
	restore_wait --tcp-established --network-lock skip
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "tcphalf: --tcp-close drops half-closed connections; the restored ends read EOF" {
	require_tcphalf
	# the environment is the dumped process's: set at the start
	TCPHALF_DROPPED=1 start_prog tcphalf open
	dump_killed --tcp-close
	[ "$(grep -c "dropped (--tcp-close)" "$T/dump.log")" = 6 ] ||
		{ echo "want 6 connections dropped: $(grep dropped "$T/dump.log")" >&2; return 1; }
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

# client_and_peer: the peer process (never dumped) and the client ($PID)
# connected to it, both done setting up; sets PEER.
client_and_peer() {
	local i port addr=${PEER_ADDR:-127.0.0.1}
	rm -f "$T/peer.ready" "$T/peer.ready.port" "$T/peer.ready.filled"
	(close_fds; exec ${PEER_NS:+nsenter --net="/run/netns/$PEER_NS"} "$TCPHALF" "$T/peer.ready" peer "$addr") \
		</dev/null >"$T/prog-peer.out" 2>&1 &
	PEER=$!
	record_pid "$PEER"
	wait_file "$T/peer.ready" || true
	[ -s "$T/peer.ready.port" ] || { echo "the peer is not ready: $(cat "$T/prog-peer.out")" >&2; return 1; }
	port=$(cat "$T/peer.ready.port")
	start_prog tcphalf client "$port" "$addr"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -e "$T/peer.ready.filled" ] && break
		sleep 0.1
	done
	[ -e "$T/peer.ready.filled" ] || { echo "the peer did not set up: $(cat "$T/prog-peer.out")" >&2; return 1; }
}

# client_then_peer WAITPID: wake the client (it checks its states first),
# then the peer; both must pass.
client_then_peer() {
	local st=0 i
	kill -USR2 "$PID"
	sleep 0.3
	kill -USR2 "$PEER"
	for ((i = 0; i < EXIT_TIMEOUT; i++)); do
		kill -0 "$1" 2>/dev/null && [ "$(proc_state "$1")" != Z ] || break
		sleep 0.1
	done
	STATUS=0
	wait "$1" || STATUS=$?
	assert_prog_ok
	wait "$PEER" || st=$?
	[ $st = 0 ] && grep -q '^tcphalf: ok:' "$T/prog-peer.out" ||
		{ echo "the peer exited with status $st: $(cat "$T/prog-peer.out")" >&2; return 1; }
}

@test "tcphalf: a peer process outside (control): CLOSE-WAIT and FIN-WAIT-2 client ends" {
	require_tcphalf
	client_and_peer
	client_then_peer "$PID"
}

@test "tcphalf: CLOSE-WAIT and FIN-WAIT-2 to a peer process outside survive dump (killed) and restore" {
	require_tcphalf
	client_and_peer
	dump_killed --tcp-established
	kept CLOSE-WAIT 1
	kept FIN-WAIT-2 1
	# the peer saw nothing of the kill
	kill -0 "$PEER"
	restore_wait --tcp-established
	client_then_peer "$RPID"
}

@test "tcphalf: the same with the peer in another network namespace (veth): the peer's FIN from a remote address" {
	require_tcphalf
	command -v ip >/dev/null || skip "ip (iproute2) is not installed"
	command -v nsenter >/dev/null || skip "nsenter (util-linux) is not installed"
	local net=10.232.$(($$ % 250)) va=cth$$a vb=cth$$b
	NSP=cs-tcphalf-$$
	ip netns add "$NSP" || skip "cannot create network namespaces here"
	ip link add "$va" type veth peer name "$vb" netns "$NSP"
	ip addr add "$net.1/24" dev "$va"
	ip -n "$NSP" addr add "$net.2/24" dev "$vb"
	ip -n "$NSP" link set lo up
	ip -n "$NSP" link set "$vb" up
	ip link set "$va" up
	PEER_NS=$NSP PEER_ADDR=$net.2 client_and_peer
	dump_killed --tcp-established
	kept CLOSE-WAIT 1
	kept FIN-WAIT-2 1
	restore_wait --tcp-established
	grep -q "TCP connection $net.1:[0-9]* -> $net.2:[0-9]*) brought to CLOSE-WAIT (saved: CLOSE-WAIT), the peer.s FIN given again" "$T/restore.log"
	client_then_peer "$RPID"
	ip netns del "$NSP"
	NSP=
}

@test "tcphalf: a connection closed on both sides with its answer unread: the bytes, then EOF (control, negative, round trip)" {
	require_tcphalf
	control tcphalf closed
	expect_detects_all tcphalf "data" closed
	start_prog tcphalf closed
	dump_killed --tcp-established
	grep -q "TCP connection closed on both sides: saved as its 3000 unread bytes, then end of file" "$T/dump.log"
	restore_wait --tcp-established
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "tcphalf: --tcp-close alone drops a connection closed on both sides, unread bytes and all" {
	require_tcphalf
	TCPHALF_DROPPED=1 start_prog tcphalf closed
	dump_killed --tcp-close
	grep -q "dropped (--tcp-close)" "$T/dump.log"
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "tcphalf: cs-dump -R leaves the half-closed connections working; the image restores after the original exited" {
	require_tcphalf
	start_prog tcphalf open
	dump_running --tcp-established
	kept CLOSE-WAIT 2
	wake_and_wait "$PID"
	assert_prog_ok
	restore_wait --tcp-established --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "refuse at restore: a peer's FIN to give again without CAP_NET_RAW, naming the fd; then the restore works" {
	require_tcphalf
	local st=0
	start_prog tcphalf open
	dump_killed --tcp-established
	(close_fds; exec setpriv --bounding-set -net_raw timeout -k 5 60 "$CS_RESTORE" -D "$T/img" --tcp-established) \
		</dev/null >"$T/out" 2>"$T/err" || st=$?
	cat "$T/err" >>"$T/restore.out"
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line: $(cat "$T/err")" >&2; return 1; }
	grep -qE "fd [0-9]+ \(TCP connection .*CLOSE-WAIT.*CAP_NET_RAW" "$T/err" || { echo "said: $(cat "$T/err")" >&2; return 1; }
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
	restore_wait --tcp-established
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "refuse: a connection in SYN-SENT, naming the fd and the state; the process goes on" {
	require_tcphalf
	hold_rule
	local st=0
	start_prog tcphalf synsent
	timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img" --tcp-established \
		</dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	cat "$T/err" >>"$T/dump.out"
	[ "$st" = 1 ] || { echo "cs-dump: status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line: $(cat "$T/err")" >&2; return 1; }
	grep -qE "^.*fd [0-9]+ .*SYN-SENT.*--tcp-close" "$T/err" || { echo "said: $(cat "$T/err")" >&2; return 1; }
	[ ! -e "$T/img" ] || { echo "cs-dump left $T/img" >&2; return 1; }
	wake_and_wait "$PID"
	assert_prog_ok
	drop_rule
}
