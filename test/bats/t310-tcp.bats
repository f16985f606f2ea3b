#!/usr/bin/env bats
# t310-tcp.bats - established TCP connections kept with --tcp-established
# (test/c/tcp.c): both ends of an IPv4 and an IPv6 loopback connection in the
# process, with unread data both ways and data never sent, come back
# byte-exact with their addresses and options, and the listeners accept
# again; dumped killed, and dumped with -R then restored after the original
# exited. A connection whose peer is another process (not dumped) resumes:
# the peer checks the stream too. What cannot be kept is refused, naming
# the fd: a half-closed connection (cs-dump), an image restored without
# --tcp-established, a connection that still exists, no CAP_NET_ADMIN
# (cs-restore's check phase). The Go kvserver, dumped under load from
# kvload's four connections and restored, serves on: kvload sees no error
# and no reconnect.

load helpers

TCP=$CS_BUILDDIR/test/c/tcp

require_tcp() {
	require_cs
	[ -x "$TCP" ] || skip "$TCP is not built (make test/c/tcp)"
	[ -e /proc/net/tcp6 ] || skip "no IPv6 here"
}

# start_peer: the peer process (tcp.c peer mode), started by the test and
# never dumped; sets PEER, PORT4, PORT6.
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

# client_and_peer: the peer, and the client connected to it ($PID), both
# done filling their queues.
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

# peer_ok: the peer (woken with SIGUSR2 before the client: each waits for
# the other's data) must exit 0 having checked every byte.
peer_ok() {
	local st=0
	wait "$PEER" || st=$?
	[ $st = 0 ] || { echo "the peer exited with status $st: $(cat "$T/prog-peer.out")" >&2; return 1; }
	grep -q '^tcp: ok:' "$T/prog-peer.out" || { echo "the peer said: $(cat "$T/prog-peer.out")" >&2; return 1; }
}

@test "tcp: the checks pass on an undisturbed process, alone and with a peer (control)" {
	[ -x "$TCP" ] || skip "$TCP is not built"
	control tcp
	client_and_peer
	kill -USR2 "$PEER"
	wake_and_wait "$PID"
	assert_prog_ok
	peer_ok
}

@test "tcp: the checks catch a changed stream, count, option, address and listener (negative control)" {
	[ -x "$TCP" ] || skip "$TCP is not built"
	expect_detects_all tcp "stream extra opts addr listen"
}

@test "tcp: connections with data both ways and unsent data survive dump (killed) and restore" {
	require_tcp
	start_prog tcp
	dump_killed --tcp-established
	restore_wait --tcp-established
	wake_and_wait "$RPID"
	assert_prog_ok
	# the image holds the queues and the connection state
	"$CS_SHOW" "$T/img" | grep -q '"snd_seq"'
}
