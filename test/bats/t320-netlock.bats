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
# no CAP_NET_ADMIN is refused before anything is frozen; -R takes no lock;
# a failed restore keeps the dump's table for the next; a table whose name
# is not of our form is never removed, even when the images name it.

load helpers
load tcp-peer

teardown() {
	if [ -d "${T:-/nonexistent}" ]; then
		kill_recorded
		drop_test_tables
	fi
	cs_teardown
}

TCP=$CS_BUILDDIR/test/c/tcp

require_netlock() {
	require_cs
	[ -x "$TCP" ] || skip "$TCP is not built (make test/c/tcp)"
	[ -e /proc/net/tcp6 ] || skip "no IPv6 here"
	command -v nft >/dev/null || skip "nft is not installed (Debian package nftables)"
	nft list tables >/dev/null 2>&1 || skip "nftables is not usable here"
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
	expect_features "$T/img" +netlock +tcp-established
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
	# the restore held both connections itself while it made them, then
	# removed its table and the dump's
	grep -q "table inet checksync-r[0-9]*-[0-9a-f]* holds 2 connection(s)" "$T/restore.log"
	grep -q "the dump's table inet $table is removed" "$T/restore.log"
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

# wait_exit P: wait (30 s) for process P, a child of this shell; STATUS = its status.
wait_exit() {
	local i
	for ((i = 0; i < EXIT_TIMEOUT; i++)); do
		kill -0 "$1" 2>/dev/null && [ "$(proc_state "$1")" != Z ] || break
		sleep 0.1
	done
	STATUS=0
	wait "$1" || STATUS=$?
}

# table_gone NAME: no nftables table NAME.
table_gone() {
	! nft list tables | grep -qx "table inet $1" || { echo "table inet $1 is still there" >&2; return 1; }
}

@test "netlock: the target had unacknowledged data when killed; it comes again after the restore, in order" {
	require_netlock
	client_and_peer
	# the test's own table drops what the peer sends to the client: the
	# bytes the client sends once woken stay unacknowledged
	TT=cstest-netlock-$$
	echo "$TT" >"$T/test-table"
	nft "add table inet $TT; add chain inet $TT in { type filter hook input priority -300; policy accept; }"
	nft "add rule inet $TT in tcp sport { $PORT4, $PORT6 } drop"
	kill -USR2 "$PID"
	sleep 1
	dump_killed --tcp-established
	nft delete table inet "$TT"
	rm -f "$T/test-table"
	# the IPv6 connection had bytes sent and not acknowledged
	grep -E 'TCP connection \[::1\]:[0-9]+ -> \[::1\]:'"$PORT6"'\) kept: [1-9][0-9]* bytes to acknowledge \(0 never sent\)' \
		"$T/dump.log" || { echo "no unacknowledged bytes: $(grep kept: "$T/dump.log")" >&2; return 1; }
	# the peer sends while the client is dead
	kill -USR2 "$PEER"
	sleep 1
	kill -0 "$PEER"
	restore_wait --tcp-established
	# the client was woken before the dump: it goes on with its exchange
	wait_exit "$RPID"
	assert_prog_ok
	peer_status
	[ "$PEER_ST" = 0 ] || { echo "the peer exited with status $PEER_ST: $(cat "$T/prog-peer.out")" >&2; return 1; }
	[ -z "$(our_tables)" ] || { echo "tables left: $(our_tables)" >&2; return 1; }
}

@test "netlock: a dump that fails removes its table, and the connections go on" {
	require_netlock
	local st=0 table
	client_and_peer
	CS_FAULT=write timeout -k 5 60 "$CS_DUMP" -t "$PID" -D "$T/img" --tcp-established -v4 -o "$T/dump.log" \
		</dev/null >"$T/dump.out" 2>&1 3>&- || st=$?
	[ $st = 1 ] || { echo "cs-dump with CS_FAULT=write: status $st, want 1" >&2; return 1; }
	table=$(grep -o 'checksync-d[0-9]*-[0-9a-f]*' "$T/dump.log" | head -1)
	[ -n "$table" ] || { echo "the dump took no lock" >&2; return 1; }
	grep -q "kept:" "$T/dump.log"
	grep -q "table inet $table removed" "$T/dump.log"
	table_gone "$table"
	[ ! -e "$T/img" ]
	kill -USR2 "$PEER"
	wake_and_wait "$PID"
	assert_prog_ok
	peer_status
	[ "$PEER_ST" = 0 ] || { echo "the peer exited with status $PEER_ST: $(cat "$T/prog-peer.out")" >&2; return 1; }
}

@test "netlock: without CAP_NET_ADMIN cs-dump refuses in one line before freezing anything" {
	require_netlock
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	local st=0
	start_prog tcp
	(close_fds; exec setpriv --bounding-set -net_admin -- "$CS_DUMP" -t "$PID" -D "$T/img" --tcp-established \
		-v4 -o "$T/dump.log") </dev/null >"$T/out" 2>"$T/err" || st=$?
	[ $st = 1 ] || { echo "status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ ! -s "$T/out" ]
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line on stderr:" >&2; cat "$T/err" >&2; return 1; }
	grep -q -- "--network-lock nftables: cannot create table inet checksync-d" "$T/err"
	grep -q "CAP_NET_ADMIN" "$T/err"
	! grep -q "froze" "$T/dump.log"
	[ ! -e "$T/img" ]
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")" = 0 ]
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "netlock: cs-dump -R takes no lock" {
	require_netlock
	start_prog tcp
	dump_running --tcp-established
	grep -q "network lock: none with -R" "$T/dump.log"
	! grep -q "checksync-d" "$T/dump.log"
	! "$CS_SHOW" "$T/img" | grep -q netlock_table
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "netlock: a failed restore removes its own table and keeps the dump's; the next restore (skip) removes it" {
	require_netlock
	local st=0 table rtable
	start_prog tcp
	dump_killed --tcp-established
	table=$(grep -o 'checksync-d[0-9]*-[0-9a-f]*' "$T/dump.log" | head -1)
	[ -n "$table" ]
	CS_FAULT=finish timeout -k 5 60 "$CS_RESTORE" -D "$T/img" --tcp-established -v4 -o "$T/restore-fail.log" \
		</dev/null >"$T/restore-fail.out" 2>&1 3>&- || st=$?
	[ $st = 1 ] || { echo "cs-restore with CS_FAULT=finish: status $st, want 1" >&2; return 1; }
	rtable=$(grep -o 'checksync-r[0-9]*-[0-9a-f]*' "$T/restore-fail.log" | head -1)
	[ -n "$rtable" ] || { echo "the restore took no lock" >&2; return 1; }
	table_gone "$rtable"
	nft list tables | grep -qx "table inet $table" || { echo "the dump's table is gone" >&2; return 1; }
	[ ! -e "/proc/$PID" ]
	restore_wait --tcp-established --network-lock skip
	! grep -q "checksync-r" "$T/restore.log"
	grep -q "the dump's table inet $table is removed" "$T/restore.log"
	table_gone "$table"
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "netlock: cs-restore never removes a table whose name is not of our form, even when the images name it" {
	require_netlock
	[ -x "$CS_BUILDDIR/test/c/img-edit" ] || skip "img-edit is not built (make test/c/img-edit)"
	local table foreign=cstest-foreign-$$
	start_prog tcp
	dump_killed --tcp-established
	table=$(grep -o 'checksync-d[0-9]*-[0-9a-f]*' "$T/dump.log" | head -1)
	[ -n "$table" ]
	echo "$foreign" >"$T/test-table"
	nft add table inet "$foreign"
	"$CS_BUILDDIR/test/c/img-edit" "$T/img" netlock-table "$foreign"
	"$CS_SHOW" "$T/img" | grep -q "\"netlock_table\": *\"$foreign\""
	restore_wait --tcp-established
	grep -q "warning: .*\"$foreign\": not one of ours, left alone" "$T/restore.log"
	nft list tables | grep -qx "table inet $foreign" || { echo "table inet $foreign was removed" >&2; return 1; }
	nft delete table inet "$foreign"
	rm -f "$T/test-table"
	# the images no longer name the dump's table: it stays, and is ours to remove
	nft list tables | grep -qx "table inet $table"
	nft delete table inet "$table"
	wake_and_wait "$RPID"
	assert_prog_ok
}
