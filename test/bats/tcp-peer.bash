# tcp-peer.bash - the peer of test/c/tcp (its "peer" mode: a process the
# test starts and never dumps) and a client connected to it, shared by
# t310-tcp.bats and t320-netlock.bats. Needs TCP (the test program's path)
# and helpers.bash.

# start_peer: the peer process (tcp.c peer mode), started by the test and
# never dumped; sets PEER, PORT4, PORT6.
start_peer() {
	rm -f "$T/peer.ready" "$T/peer.ready.ports" "$T/peer.ready.filled"
	(close_fds; exec "$TCP" "$T/peer.ready" peer) </dev/null >"$T/prog-peer.out" 2>&1 &
	PEER=$!
	record_pid "$PEER"
	wait_file "$T/peer.ready" || { echo "the peer is not ready: $(cat "$T/prog-peer.out")" >&2; return 1; }
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

# drop_test_tables: after a test that failed half-way, with its processes
# gone: remove the nft table the test made itself ($T/test-table) and those
# of its cs-dump and cs-restore runs (named in their logs).
drop_test_tables() {
	local n
	[ -s "$T/test-table" ] && nft delete table inet "$(cat "$T/test-table")" 2>/dev/null
	for n in $(grep -ho 'checksync-[dr][0-9]*-[0-9a-f]*' "$T"/dump*.log "$T"/restore*.log 2>/dev/null | sort -u); do
		nft delete table inet "$n" 2>/dev/null
	done
	return 0
}
