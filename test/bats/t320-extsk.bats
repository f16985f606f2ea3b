#!/usr/bin/env bats
# t320-extsk.bats - unix sockets connected to a socket outside the dumped
# process, as syslog(3) connects to /dev/log (cs-dump --ext-unix-sk).
#
# test/c/extsk (see extsk.c): a receiver, a process of its own started by
# the test (the "journald"), binds a dgram socket at $T/log; the target
# connects an unbound dgram socket to it and sends 5 datagrams, and sends 5
# more from an unconnected socket with sendto($T/log). After the restore
# the target checks its sockets (SO_TYPE, SO_DOMAIN, SO_SNDBUF,
# getpeername, getsockname) and sends 5 more of each; the receiver checks
# that all 10 of each came, in order. A dgram socket that is never
# connected and only sends with sendto() needs no option (round trip
# without it).
#
# Refused, one line naming the fd and the path: the dump without
# --ext-unix-sk (the line names the option); with it, a stream socket
# connected outside, a path that no longer leads to the socket outside, a
# socket outside that is connected back, one with no name (the other end
# of a socketpair, held by an orphan), one bound to a relative path; the
# restore when nothing is bound at the path any more (checked before
# anything is created).

load helpers

EXTSK=$CS_BUILDDIR/test/c/extsk

require_extsk() {
	require_cs
	[ -x "$EXTSK" ] || skip "$EXTSK is not built (make test/c/extsk)"
}

# start_receiver [MODE [NAME [CCOUNT]]]: the receiver at NAME (default
# $T/log; @NAME: abstract), MODE recv (10 datagrams from u, CCOUNT from c,
# default 10) or recv-stream; sets RECV.
start_receiver() {
	local mode=${1:-recv} name=${2:-$T/log} i
	rm -f "$T/recv.ready"
	if [ "$mode" = recv ]; then
		(close_fds; exec "$EXTSK" "$T/recv.ready" recv "$name" 10 "${3:-10}") </dev/null >"$T/prog-recv.out" 2>&1 &
	else
		(close_fds; exec "$EXTSK" "$T/recv.ready" "$mode" "$name") </dev/null >"$T/prog-recv.out" 2>&1 &
	fi
	RECV=$!
	record_pid "$RECV"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/recv.ready" ] && return 0
		sleep 0.1
	done
	echo "the receiver wrote no ready file: $(cat "$T/prog-recv.out")" >&2
	return 1
}

# receiver_ok [CCOUNT]: the receiver exits 0 (within 30 s) having had every datagram in order.
receiver_ok() {
	local i st=0
	for ((i = 0; i < 300; i++)); do
		[ "$(proc_state "$RECV")" = Z ] || ! kill -0 "$RECV" 2>/dev/null && break
		sleep 0.1
	done
	wait "$RECV" || st=$?
	[ $st = 0 ] || { echo "receiver: exit status $st" >&2; cat "$T/prog-recv.out" >&2; return 1; }
	grep -q "received ${1:-10} + 10 datagrams" "$T/prog-recv.out"
}

# one_line WORDS...: $T/err is one line holding every word, $T/out is empty.
one_line() {
	local w
	[ ! -s "$T/out" ] || { echo "stdout: $(cat "$T/out")" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line on stderr:" >&2; cat "$T/err" >&2; return 1; }
	for w in "$@"; do
		grep -qF -- "$w" "$T/err" || { echo "\"$w\" not in: $(cat "$T/err")" >&2; return 1; }
	done
}

# dump_refused [OPTS...] -- WORDS...: cs-dump exits 1 with one line, no images, the target runs on untraced.
dump_refused() {
	local st=0 opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	timeout -k 5 60 "$CS_DUMP" --runtime=none "${opts[@]}" -t "$PID" -D "$T/img" </dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	cat "$T/err" >>"$T/dump.out"
	[ $st = 1 ] || { echo "cs-dump: exit status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	one_line "$@"
	[ ! -e "$T/img" ] || { echo "cs-dump left $T/img" >&2; return 1; }
	[ "$(proc_state "$PID")" = S ] || { echo "$PID is in state $(proc_state "$PID")" >&2; return 1; }
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")" = 0 ] || { echo "$PID is traced" >&2; return 1; }
}

@test "extsk: control, the target's and the receiver's checks pass without a dump" {
	[ -x "$EXTSK" ] || skip "$EXTSK is not built"
	start_receiver
	control extsk "$T/log" 5
	receiver_ok
}

@test "extsk: negative control, each check catches a change (the receiver the order)" {
	[ -x "$EXTSK" ] || skip "$EXTSK is not built"
	local mode
	for mode in peer sndbuf; do
		start_receiver
		expect_detects extsk "$mode" "$T/log" 5
		kill -KILL "$RECV" 2>/dev/null || true	# peer: it waits for datagrams never sent
		wait "$RECV" || true
	done
	start_receiver
	CS_TEST_CORRUPT=order start_prog extsk "$T/log" 5
	wake_and_wait "$PID"
	assert_prog_ok
	wait "$RECV" && { echo "the receiver did not see the order change" >&2; return 1; }
	grep -q "datagram order differs" "$T/prog-recv.out"
}

@test "extsk: round trip killed with --ext-unix-sk: reconnected to the path, every datagram arrives in order" {
	require_extsk
	start_receiver
	start_prog extsk "$T/log" 5
	dump_killed --ext-unix-sk --runtime=none
	expect_features "$T/img" +ext-unix-sk
	if command -v jq >/dev/null; then
		"$CS_SHOW" "$T/img" | jq -e '[.. | objects | select(has("ext_peer"))] | length == 1' >/dev/null ||
			{ echo "want one socket with ext_peer in the image" >&2; "$CS_SHOW" "$T/img" | grep -n ext_peer >&2; return 1; }
	fi
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	receiver_ok
}

@test "extsk: round trip killed with --ext-unix-sk, the socket outside at an abstract name" {
	require_extsk
	local name=@cs-t320-$$-$RANDOM
	start_receiver recv "$name"
	start_prog extsk "$name" 5
	dump_killed --ext-unix-sk --runtime=none
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	receiver_ok
}

@test "extsk: round trip killed without --ext-unix-sk of a dgram socket that only sends with sendto" {
	require_extsk
	start_receiver recv "$T/log" 0
	start_prog extsk sendto "$T/log" 5
	dump_killed --runtime=none
	expect_features "$T/img" -ext-unix-sk
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	receiver_ok 0
}

@test "extsk: cs-dump -R --ext-unix-sk leaves the target connected and sending" {
	require_extsk
	start_receiver
	start_prog extsk "$T/log" 5
	dump_running --ext-unix-sk --runtime=none
	wake_and_wait "$PID"
	assert_prog_ok
	receiver_ok
}

@test "refuse: a dgram socket connected outside without --ext-unix-sk, naming fd, path and option" {
	require_extsk
	start_receiver
	start_prog extsk "$T/log" 5
	dump_refused -- "fd 3" "unix dgram socket" "connected to $T/log" "outside process $PID" "--ext-unix-sk"
	wake_and_wait "$PID"
	assert_prog_ok
	receiver_ok
}

@test "refuse: a stream socket connected outside, even with --ext-unix-sk" {
	require_extsk
	start_receiver recv-stream
	start_prog extsk stream "$T/log"
	dump_refused --ext-unix-sk -- "fd 3" "unix stream socket" "outside process $PID" "new connection"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "refuse at restore: nothing bound at the path any more (stale socket file, then no file), creating nothing" {
	require_extsk
	local st
	start_receiver
	start_prog extsk "$T/log" 5
	dump_killed --ext-unix-sk --runtime=none
	kill -KILL "$RECV"
	wait "$RECV" || true
	[ -S "$T/log" ] || { echo "the receiver's socket file is gone" >&2; return 1; }
	for how in stale gone; do
		[ $how = stale ] || rm -f "$T/log"
		st=0
		timeout -k 5 60 "$CS_RESTORE" -D "$T/img" -d </dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
		cat "$T/err" >>"$T/restore.out"
		[ $st = 1 ] || { echo "$how: cs-restore: exit status $st, want 1: $(cat "$T/err")" >&2; return 1; }
		one_line "fd 3" "connected to $T/log" "--ext-unix-sk"
		[ ! -e "/proc/$PID" ] || { echo "$how: PID $PID exists after the refused restore" >&2; return 1; }
	done
	grep -q "Connection refused" "$T/restore.out"
	grep -q "No such file" "$T/restore.out"
}

@test "refuse: with --ext-unix-sk, a path that no longer leads to the socket outside" {
	require_extsk
	start_receiver
	start_prog extsk "$T/log" 5
	rm -f "$T/log"
	dump_refused --ext-unix-sk -- "fd 3" "connected to $T/log" "no longer leads to it"
	# another socket at the path is not the one it is connected to either
	start_receiver
	dump_refused --ext-unix-sk -- "fd 3" "connected to $T/log" "no longer leads to it"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "refuse: with --ext-unix-sk, a socket outside connected back to it" {
	require_extsk
	local i
	(close_fds; exec "$EXTSK" "$T/recv.ready" recv-back "$T/log" "$T/me") </dev/null >"$T/prog-recv.out" 2>&1 &
	RECV=$!
	record_pid "$RECV"
	for ((i = 0; i < 100; i++)); do [ -s "$T/recv.ready" ] && break; sleep 0.1; done
	start_prog extsk back "$T/log" "$T/me"
	for ((i = 0; i < 100; i++)); do [ -s "$T/recv.ready.back" ] && break; sleep 0.1; done
	[ -s "$T/recv.ready.back" ] || { echo "the receiver did not connect back" >&2; return 1; }
	dump_refused --ext-unix-sk -- "fd 3" "connected to $T/log" "connected back to it"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "refuse: with --ext-unix-sk, a socket outside with no name (a socketpair end an orphan holds)" {
	require_extsk
	local g
	start_prog extsk pair
	g=$(cat "$T/ready.pids")
	record_pid "$g"
	dump_refused --ext-unix-sk -- "fd 3" "unix dgram socket" "outside process $PID" "no name"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "refuse: with --ext-unix-sk, a socket outside bound to a relative path" {
	require_extsk
	local i
	# bound as "log" in $T: sock_diag has only the relative name
	(cd "$T" && close_fds && exec "$EXTSK" "$T/recv.ready" recv log 10) </dev/null >"$T/prog-recv.out" 2>&1 &
	RECV=$!
	record_pid "$RECV"
	for ((i = 0; i < 100; i++)); do [ -s "$T/recv.ready" ] && break; sleep 0.1; done
	start_prog extsk "$T/log" 5
	dump_refused --ext-unix-sk -- "fd 3" "connected to relative path log" "outside process $PID"
	wake_and_wait "$PID"
	# getpeername gives the name as the socket outside bound it: "log"; all else is the same
	[ "$STATUS" = 1 ] && [ "$(grep -c differs "$T/prog.out")" = 1 ] &&
		grep -q 'c peer differs: got log ' "$T/prog.out" || { echo "status $STATUS" >&2; return 1; }
	receiver_ok
}
