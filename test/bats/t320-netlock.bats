#!/usr/bin/env bats
# t320-netlock.bats - the network lock (--network-lock, lib/netlock.h).
#
# A peer process (test/c/tcp.c peer mode, never dumped) is connected to the
# target (tcp.c client mode). The target is dumped and killed; the peer is
# woken and sends while no socket exists for its connections; the target is
# restored after that. With the lock (the default), the peer's packets are
# dropped, retransmitted, and taken by the restored connection: both ends
# check every byte in order. With --network-lock skip (the control) the
# peer's packets meet no socket and the kernel resets its connections.
# After the restore no table of ours is left; a failed dump leaves none;
# no CAP_NET_ADMIN is refused before anything is frozen.

load helpers

TCP=$CS_BUILDDIR/test/c/tcp

require_netlock() {
	require_cs
	[ -x "$TCP" ] || skip "$TCP is not built (make test/c/tcp)"
	[ -e /proc/net/tcp6 ] || skip "no IPv6 here"
	command -v nft >/dev/null || skip "nft is not installed (Debian package nftables)"
	nft list tables >/dev/null 2>&1 || skip "nftables is not usable here"
}

# start_peer: as in t310-tcp.bats; sets PEER, PORT4, PORT6.
start_peer() {
	local i
	rm -f "$T/peer.ready" "$T/peer.ready.ports" "$T/peer.ready.filled"
	(close_fds; exec "$TCP" "$T/peer.ready" peer) </dev/null >"$T/prog-peer.out" 2>&1 &
	PEER=$!
	record_pid "$PEER"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/peer.ready" ] && break
		sleep 0.1
	done
	[ -s "$T/peer.ready" ] || { echo "the peer is not ready: $(cat "$T/prog-peer.out")" >&2; return 1; }
	read -r PORT4 PORT6 <"$T/peer.ready.ports"
}

client_and_peer() {
	local i
	start_peer
	start_prog tcp client "$PORT4" "$PORT6"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -e "$T/peer.ready.filled" ] && break
		sleep 0.1
	done
	[ -e "$T/peer.ready.filled" ] || { echo "the peer did not fill its queues: $(cat "$T/prog-peer.out")" >&2; return 1; }
	wait_settled "$PID"
}

# peer_status: wait (30 s) for the peer; PEER_ST = its exit status.
peer_status() {
	local i
	for ((i = 0; i < EXIT_TIMEOUT; i++)); do
		kill -0 "$PEER" 2>/dev/null && [ "$(proc_state "$PEER")" != Z ] || break
		sleep 0.1
	done
	PEER_ST=0
	wait "$PEER" || PEER_ST=$?
}

# our_tables: the nftables tables named after a cs-dump or cs-restore of
# this test (their names are in the logs).
our_tables() {
	local n
	for n in $(grep -ho 'checksync-[dr][0-9]*-[0-9a-f]*' "$T"/dump*.log "$T"/restore*.log 2>/dev/null | sort -u); do
		nft list tables | grep -x "table inet $n" || true
	done
}

@test "netlock: the peer sends while the target is dead; with the lock its connections survive the restore" {
	require_netlock
	client_and_peer
	dump_killed --tcp-established
	# the dump's table holds both connections, named in the images
	table=$(grep -o 'checksync-d[0-9]*-[0-9a-f]*' "$T/dump.log" | head -1)
	[ -n "$table" ]
	nft list table inet "$table" >"$T/table.txt"
	[ "$(grep -c drop "$T/table.txt")" = 4 ]
	"$CS_SHOW" "$T/img" | grep -q "\"netlock_table\": *\"$table\""
	# the peer sends its bytes and waits for the client's: nobody is there
	kill -USR2 "$PEER"
	sleep 1
	kill -0 "$PEER"
	restore_wait --tcp-established
	wake_and_wait "$RPID"
	assert_prog_ok
	peer_status
	[ "$PEER_ST" = 0 ] || { echo "the peer exited with status $PEER_ST: $(cat "$T/prog-peer.out")" >&2; return 1; }
	grep -q '^tcp: ok:' "$T/prog-peer.out"
	# no table of ours is left
	[ -z "$(our_tables)" ] || { echo "tables left: $(our_tables)" >&2; return 1; }
	grep -q "checksync-r" "$T/restore.log"
}

@test "netlock: with --network-lock skip the peer's connections are reset (control)" {
	require_netlock
	client_and_peer
	dump_killed --tcp-established --network-lock skip
	! grep -q 'checksync-d' "$T/dump.log"
	kill -USR2 "$PEER"
	peer_status
	[ "$PEER_ST" != 0 ] || { echo "the peer was not reset: $(cat "$T/prog-peer.out")" >&2; return 1; }
	grep -qi "reset" "$T/prog-peer.out" || { echo "the peer said: $(cat "$T/prog-peer.out")" >&2; return 1; }
}
