#!/usr/bin/env bats
# t225-forker.bats - a tree that changes while cs-dump freezes it.
#
# test/c/forker (see forker.c): a parent forking a child every millisecond
# (or 0.3 ms), each child living ~1.5 ms, so children appear, exit and turn
# into zombies while cs-dump walks the tree. A child that exits while the
# walk reaches it is saved as the zombie it becomes (its parent is frozen),
# or left out when its parent ignores SIGCHLD (the kernel reaps it at
# once); a walk that raced in another way is let go and done again, at
# most 5 times. The parent checks, on SIGUSR2, the status of every child
# it forked (so a child lost or made up by the restore is seen), 5 more
# forks, its PID and a buffer. With "threads", a thread of the parent
# also makes short-lived threads (threads that exit while they are seized
# are left out).

load helpers

FORKER=$CS_BUILDDIR/test/c/forker

require_forker() {
	require_cs
	[ -x "$FORKER" ] || skip "$FORKER is not built (make test/c/forker)"
}

@test "forker: control, the parent's own checks pass without a dump" {
	[ -x "$FORKER" ] || skip "$FORKER is not built"
	control forker
}

@test "forker: negative control, each check catches a change" {
	[ -x "$FORKER" ] || skip "$FORKER is not built"
	expect_detects_all forker "memory lost status"
}

# dump_10 ARGS...: start forker ARGS, dump it 10 times with -R; every dump
# must succeed, and the parent's checks pass after.
dump_10() {
	local i st
	require_forker
	start_prog forker "$@"
	for ((i = 1; i <= 10; i++)); do
		st=0
		timeout -k 5 60 "$CS_DUMP" -R --runtime=none -t "$PID" -D "$T/img$i" -v4 -o "$T/dump.log" \
			</dev/null >"$T/dump.out" 2>&1 3>&- || st=$?
		[ $st = 0 ] || { echo "dump $i of 10 failed (status $st): $(cat "$T/dump.out")" >&2; return 1; }
		[ -e "$T/img$i/inventory.img" ] || { echo "dump $i: no inventory" >&2; return 1; }
		[ "$(proc_state "$PID")" != Z ] && [ -e "/proc/$PID" ] || { echo "dump $i: $PID is gone" >&2; return 1; }
	done
	grep -c "exited.*while the tree was being frozen" "$T/dump.log" | sed 's/^/# children that exited during a freeze: /' >&3 || true
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "forker: 10 dumps in a row with -R of a parent forking every 1 ms all succeed" {
	dump_10
}

@test "forker: 10 dumps in a row with -R, forking every 0.3 ms, SIGCHLD ignored (no zombies)" {
	dump_10 300 reap
}

@test "forker: 10 dumps in a row with -R, forking and making a thread every 0.3 ms" {
	dump_10 300 threads
}

@test "forker: round trip killed, every child at the freeze comes back with its status" {
	require_forker
	start_prog forker
	dump_killed --runtime=none
	if command -v jq >/dev/null; then
		# the children at the freeze are in the image
		"$CS_SHOW" "$T/img" | jq -e '.images["pstree.img"] | length >= 1' >/dev/null
	fi
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "forker: round trip killed with SIGCHLD ignored: no zombie comes back" {
	require_forker
	start_prog forker 300 reap
	dump_killed --runtime=none
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "forker: round trip killed while making threads" {
	require_forker
	start_prog forker 300 threads
	dump_killed --runtime=none
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "forker: a walk that keeps racing is retried 5 times, then fails with the last reason, the tree left running" {
	require_forker
	local st=0
	start_prog forker
	CS_FAULT=seize-race timeout -k 5 60 "$CS_DUMP" -R --runtime=none -t "$PID" -D "$T/img" -v4 -o "$T/dump.log" \
		</dev/null >"$T/dump.out" 2>"$T/err" 3>&- || st=$?
	[ $st = 1 ] || { echo "status $st, want 1" >&2; cat "$T/err" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line:" >&2; cat "$T/err" >&2; return 1; }
	grep -q "fault injection: step seize-race fails" "$T/err"
	[ "$(grep -c 'walking it again' "$T/dump.log")" = 4 ] || { grep 'attempt' "$T/dump.log" >&2; return 1; }
	[ ! -e "$T/img" ] || { echo "$T/img left behind" >&2; return 1; }
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")" = 0 ]
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "refuse: a child whose main thread has exited while its other threads run (not a zombie)" {
	require_forker
	local st=0 child
	start_prog forker leader-exit
	child=$(tr -d " " <"/proc/$PID/task/$PID/children")
	timeout -k 5 60 "$CS_DUMP" -R --runtime=none -t "$PID" -D "$T/img" </dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	[ $st = 1 ] || { echo "status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line:" >&2; cat "$T/err" >&2; return 1; }
	grep -q "process $child (child of $PID): its main thread has exited and 1 other threads run" "$T/err" ||
		{ cat "$T/err" >&2; return 1; }
	[ ! -e "$T/img" ]
	wake_and_wait "$PID"
	assert_prog_ok
}
