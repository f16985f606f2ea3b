#!/usr/bin/env bats
# t310-tcp.bats - established TCP connections kept with --tcp-established
# (test/c/tcp.c): both ends of an IPv4 and an IPv6 loopback connection in the
# process, with unread data both ways and data never sent, come back
# byte-exact with their addresses and options (those of test/c/xopts.h
# too, on both listeners and one end of each connection; a listener bound
# to an interface that is not here is refused), and the listeners accept
# again; dumped killed, and dumped with -R then restored after the original
# exited. A half-closed pair keeps its states (more in t311-tcphalf.bats).
# A connection whose peer is another process (not dumped) resumes:
# the peer checks the stream too. What cannot be kept is refused, naming
# the fd: an image restored without
# --tcp-established, a connection that still exists, no CAP_NET_ADMIN
# (cs-restore's check phase). The Go kvserver, dumped under load from
# kvload's four connections and restored, serves on: kvload sees no error
# and no reconnect.

load helpers
load tcp-peer

TCP=$CS_BUILDDIR/test/c/tcp

require_tcp() {
	require_cs
	[ -x "$TCP" ] || skip "$TCP is not built (make test/c/tcp)"
	[ -e /proc/net/tcp6 ] || skip "no IPv6 here"
}

# check_keys N: kvclient -check N finds all of them, exactly.
check_keys() {
	kvc -check "$1"
	grep -q "checked $1 keys, 0 mismatches" <<<"$KV_OUT" || {
		echo "kvclient -check $1 said: $KV_OUT" >&2
		return 1
	}
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
	expect_detects_all tcp "stream extra opts addr listen xopts"
}

@test "tcp: connections with data both ways and unsent data survive dump (killed) and restore" {
	require_tcp
	start_prog tcp
	dump_killed --tcp-established
	restore_wait --tcp-established
	expect_features "$T/img" +tcp-established -tcp-half-closed -pty
	wake_and_wait "$RPID"
	assert_prog_ok
	# the image holds the queues and the connection state
	"$CS_SHOW" "$T/img" | grep -q '"snd_seq"'
	# and the options of xopts.h only where a new socket differs: IP_TOS
	# on the IPv4 listener and client, TCP_FASTOPEN on both listeners, a
	# listener's buffer size only when it is not the default (the IPv6 one)
	"$CS_SHOW" "$T/img" | jq -e '([.images["files.img"][] | select(.sk.ip_tos != null)] | length == 2) and
		([.images["files.img"][] | select(.sk.tcp_fastopen != null)] | length == 2) and
		([.images["files.img"][] | select(.sk.backlog != null and .sk.opts.rcvbuf != null)] | length == 1)' \
		>/dev/null || { echo "want ip_tos, tcp_fastopen on two sockets each, rcvbuf on one listener" >&2; return 1; }
}

@test "tcp: cs-dump -R leaves the connections working, and the image restores after the original exited" {
	require_tcp
	start_prog tcp
	dump_running --tcp-established
	# the original goes on with every connection as it was
	wake_and_wait "$PID"
	assert_prog_ok
	# the original wrote its verdict to prog.out (fd 1) after the dump
	restore_wait --tcp-established --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "tcp: a dump that fails after the connections were read leaves them working (repair mode and filter undone)" {
	require_tcp
	local st=0
	start_prog tcp
	CS_FAULT=write timeout -k 5 60 "$CS_DUMP" -t "$PID" -D "$T/img" --tcp-established -v4 -o "$T/dump.log" \
		</dev/null >"$T/dump.out" 2>&1 3>&- || st=$?
	[ $st = 1 ] || { echo "cs-dump with CS_FAULT=write: status $st, want 1" >&2; return 1; }
	grep -q "kept:" "$T/dump.log" || { echo "the fault came before the connections were read" >&2; return 1; }
	! grep -q "warning: .*tcp:" "$T/dump.log" || { echo "undoing repair mode failed: $(grep warning "$T/dump.log")" >&2; return 1; }
	[ ! -e "$T/img" ]
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "tcp: a connection to a peer process resumes after dump (killed) and restore; the peer checks every byte" {
	require_tcp
	client_and_peer
	dump_killed --tcp-established
	# the peer is untouched: no reset, no FIN reached it
	kill -0 "$PEER"
	restore_wait --tcp-established
	kill -USR2 "$PEER"
	wake_and_wait "$RPID"
	assert_prog_ok
	peer_ok
}

# one_line_error ST WORDS...: status 1, nothing on stdout, one line on stderr
# ($T/out, $T/err) holding every word.
one_line_error() {
	local st=$1 w
	shift
	[ "$st" = 1 ] || { echo "exit status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ ! -s "$T/out" ] || { echo "stdout: $(cat "$T/out")" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line on stderr:" >&2; cat "$T/err" >&2; return 1; }
	for w in "$@"; do
		grep -qF -- "$w" "$T/err" || { echo "\"$w\" not in: $(cat "$T/err")" >&2; return 1; }
	done
}

# restore_refused [PREFIX...] -- OPTS... -- WORDS...: cs-restore (run through
# PREFIX) refuses in its check phase; $PID does not come back.
restore_refused() {
	local pre=() opts=() st=0
	while [ "$1" != -- ]; do pre+=("$1"); shift; done
	shift
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	(close_fds; exec "${pre[@]}" timeout -k 5 60 "$CS_RESTORE" -D "$T/img" "${opts[@]}") \
		</dev/null >"$T/out" 2>"$T/err" || st=$?
	cat "$T/err" >>"$T/restore.out"
	one_line_error "$st" "$@"
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
}

@test "refuse at restore: no --tcp-established, no CAP_NET_ADMIN, an interface not here; then the restore works" {
	require_tcp
	local fd
	start_prog tcp
	dump_killed --tcp-established
	fd=$("$CS_SHOW" "$T/img" | grep -o '"fd": *[0-9]*' | head -1)
	restore_refused -- -- "--tcp-established" "TCP connection"
	grep -q "fd [0-9]* (TCP connection 127.0.0.1:" "$T/err" ||
		{ echo "the refusal names no fd: $(cat "$T/err")" >&2; return 1; }
	restore_refused setpriv --bounding-set -net_admin -- --tcp-established -- "CAP_NET_ADMIN" "TCP connection"
	# a listener bound to an interface (SO_BINDTODEVICE) that is not here
	[ -x "$CS_BUILDDIR/test/c/img-edit" ] || skip "img-edit is not built (make test/c/img-edit)"
	fd=$("$CS_SHOW" "$T/img" | jq -r '[.images["files.img"][] | select(.sk.backlog != null)][0].fd')
	cp -a "$T/img" "$T/img.orig"
	"$CS_BUILDDIR/test/c/img-edit" "$T/img" sk-device files.img "$fd" csnosuch0
	restore_refused -- --tcp-established -- "fd $fd:" "csnosuch0" "SO_BINDTODEVICE" "does not exist"
	rm -rf "$T/img"
	mv "$T/img.orig" "$T/img"
	restore_wait --tcp-established
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "refuse at restore: the connection still exists (held by a process of the original)" {
	require_tcp
	local i holder
	client_and_peer
	dump_running --tcp-established
	# with the original itself alive its PID is taken, and that is refused
	# first; here a child of it holds the connections and the PID is free
	kill -USR1 "$PID"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/ready.holder" ] && break
		sleep 0.1
	done
	holder=$(cat "$T/ready.holder")
	record_pid "$holder"
	wait "$PID" || true
	wait_pid_gone "$PID"
	restore_refused -- --tcp-established -- "TCP connection 127.0.0.1:" "still running"
	kill -0 "$holder" || { echo "the holder of the connections is gone" >&2; return 1; }
}

@test "tcp: a half-closed pair (CLOSE-WAIT and FIN-WAIT-2) survives dump (killed) and restore in its states" {
	require_tcp
	start_prog tcp halfclosed
	dump_killed --tcp-established
	grep -q "kept: .*, state CLOSE-WAIT$" "$T/dump.log" || { echo "no CLOSE-WAIT connection kept" >&2; return 1; }
	grep -q "kept: .*, state FIN-WAIT-2$" "$T/dump.log" || { echo "no FIN-WAIT-2 connection kept" >&2; return 1; }
	restore_wait --tcp-established
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "refuse: a TCP connection without --tcp-established or --tcp-close names both options" {
	require_tcp
	local st=0
	start_prog tcp
	timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img" </dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	cat "$T/err" >>"$T/dump.out"
	one_line_error "$st" "TCP connection" "--tcp-established" "--tcp-close"
	[ ! -e "$T/img" ]
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "go: kvserver dumped (killed) under load with --tcp-established: kvload sees no error and no reconnect" {
	require_cs
	require_go
	start_kvserver -preload 20000 -value-size 128
	start_kvload -keys 20000 -conns 4 -timeout 60s -interval 250ms
	kv_dump "$T/img" --tcp-established
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump --tcp-established failed with status $DUMP_ST" >&2; return 1; }
	grep -c "kept:" "$T/dump.log" | grep -qx 4 || { echo "want 4 connections kept: $(grep kept: "$T/dump.log")" >&2; return 1; }
	(close_fds; exec timeout -k 5 120 "$CS_RESTORE" -D "$T/img" -d -v4 -o "$T/restore.log" --tcp-established) \
		</dev/null >"$T/restore.out" 2>&1 || { echo "cs-restore failed" >&2; return 1; }
	# the same four connections carry on
	kvload_flows 2 "the 2 s after the restore"
	stop_kvload
	case "$KVLOAD_SUMMARY" in
	*" reconnects=0 errors=0 mismatches=0"*) ;;
	*) echo "kvload saw trouble: $KVLOAD_SUMMARY" >&2; return 1 ;;
	esac
	kv_answers
	check_keys 20000
}
