#!/usr/bin/env bats
# t310-daemon.bats - what glibc servers such as redis and memcached set up
# (test/c/daemon.c): a MAP_NORESERVE arena with MADV_DONTNEED pages, THP
# disabled for the process, and an epoll loop with clients of another
# process on a TCP and a unix listener. Under --tcp-close both kinds of
# client connection are dropped: the restored server reads end of file on
# them, and its listeners take new clients.

load helpers

DAEMON=$CS_BUILDDIR/test/c/daemon

require_daemon() {
	require_cs
	[ -x "$DAEMON" ] || skip "$DAEMON is not built (make test/c/daemon)"
}

# start_daemon N [unix]: the server and N client processes, detached, each
# with one TCP and one unix connection (with "unix", a unix one only);
# returns once the server has accepted them all.
start_daemon() {
	local n=$1 i k port path
	if [ "${2:-}" = unix ]; then
		start_prog daemon 0 "$n"
	else
		start_prog daemon "$n" "$n"
	fi
	read -r port path <"$T/ready.addr"
	[ "${2:-}" = unix ] && port=0
	for ((k = 0; k < n; k++)); do
		(close_fds; setsid "$DAEMON" "$T/client$k.ready" client "$port" "$path" \
			</dev/null >>"$T/prog-clients.out" 2>&1 &)
		for ((i = 0; i < READY_TIMEOUT; i++)); do
			[ -s "$T/client$k.ready" ] && break
			sleep 0.1
		done
		[ -s "$T/client$k.ready" ] || { echo "client $k is not ready: $(cat "$T/prog-clients.out")" >&2; return 1; }
		record_pid "$(cat "$T/client$k.ready")"
	done
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -e "$T/ready.accepted" ] && break
		sleep 0.1
	done
	[ -e "$T/ready.accepted" ] || { echo "the server did not accept its $n clients in 10 s" >&2; return 1; }
	wait_settled "$PID"
}

@test "daemon: the checks pass on an undisturbed process with live clients (control)" {
	require_daemon
	start_daemon 2
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "daemon: the checks catch a broken arena, THP, epoll set, listener or client (negative control)" {
	require_daemon
	local mode
	for mode in noreserve pattern dontneed thp epoll tag listener client; do
		rm -f "$T"/ready* "$T"/client*.ready
		CS_TEST_CORRUPT=$mode start_daemon 1
		wake_and_wait "$PID"
		mv "$T/prog.out" "$T/prog-$mode.out"
		[ "$STATUS" = 1 ] || { echo "CS_TEST_CORRUPT=$mode: exit status $STATUS, want 1" >&2; return 1; }
		grep -q differs "$T/prog-$mode.out" || { echo "CS_TEST_CORRUPT=$mode: not detected" >&2; return 1; }
	done
}

@test "daemon: MAP_NORESERVE, MADV_DONTNEED pages and THP disabled survive dump and restore" {
	require_daemon
	start_daemon 0
	dump_killed
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "daemon: without --tcp-close, a unix client connection is refused, naming the fd" {
	require_daemon
	start_daemon 1 unix
	local st=0
	"$CS_DUMP" -t "$PID" -D "$T/img" </dev/null >"$T/dump.out" 2>"$T/dump.err" 3>&- || st=$?
	[ "$st" = 1 ] || { echo "cs-dump exit status $st, want 1" >&2; return 1; }
	[ ! -s "$T/dump.out" ] && [ "$(wc -l <"$T/dump.err")" = 1 ] || { cat "$T/dump.err" >&2; return 1; }
	grep -qE "fd [0-9]+ \(unix stream socket, inode [0-9]+\) is connected to socket inode [0-9]+, which is outside process $PID: a client connection: use --tcp-close to drop it" "$T/dump.err"
	[ ! -e "$T/img" ]
	[ "$(proc_state "$PID")" = S ]
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")" = 0 ]
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "daemon: --tcp-close drops TCP and unix clients; the restored server reads end of file and serves new ones" {
	require_daemon
	start_daemon 2
	dump_killed --tcp-close
	[ "$(grep -c 'unix stream connection from a client outside the process' "$T/dump.log")" = 2 ]
	restore_wait
	echo dropped >"$T/ready.expect"
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "daemon: cs-dump -R --tcp-close leaves the clients connected; the restored copy sees them dropped" {
	require_daemon
	start_daemon 2
	dump_running --tcp-close
	wake_and_wait "$PID"
	assert_prog_ok
	wait_pid_gone "$PID"
	# the copy writes to the same prog.out (its fd 1): assert_prog_ok
	# looks for "differs" from either
	# ... and the original wrote its verdict there after the dump
	restore_wait --file-validation=none
	echo dropped >"$T/ready.expect"
	wake_and_wait "$RPID"
	assert_prog_ok
}
