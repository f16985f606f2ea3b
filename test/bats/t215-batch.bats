#!/usr/bin/env bats
# t215-batch.bats - cs-dump's batched remote syscalls (ptrace/batch.c): the
# signal handlers, the parent-death signal, the interval timers and, per
# thread, the alternate stack and clear_child_tid are read in batches run
# by the target in one ptrace round trip each; the resource limits are read
# from cs-dump with prlimit64, or, for another uid's process (EPERM without
# CAP_SYS_RESOURCE), in the target's batch.
#  - the batch path is used (log line), also under MDWE, which refuses
#    making memory executable but not a fresh R|X mapping;
#  - without the code page (CS_FAULT=batch stands in for a refusal) every
#    call is a single remote syscall, said once, and the state still comes
#    back value by value.
#  - no batch where its breakpoint would change the signal state: SIGTRAP
#    ignored (sigflood ign-trap) or blocked in a thread (sigstate's second
#    thread; t200 checks that cs-dump -R leaves that mask as it was).
# A flood of real-time signals during cs-dump -R runs (sigflood).
# The programs (sigstate, rlimits, sigflood) verify everything after restore; their
# negative controls are in t200 and t210, plus the uid and mdwe modes here.

load helpers

@test "batch: controls for the rlimits uid and mdwe modes (undisturbed, and a change caught)" {
	local st=0
	control rlimits uid
	expect_detects rlimits nofile uid
	control rlimits mdwe || st=$?
	[ $st = 0 ] || [ $st = 77 ] || return 1
	[ $st = 0 ] || skip "no PR_SET_MDWE here"
	expect_detects rlimits nofile mdwe
}

@test "batch: handlers and thread state are read in batches (round trip, log line)" {
	round_trip sigstate nanosleep
	grep -q "ptrace: remote syscalls of $PID run in batches" "$T/dump.log"
	# its second thread blocks SIGTRAP, which the batch's breakpoint would unblock
	[ "$(grep -c "run one at a time" "$T/dump.log")" = 1 ]
	grep -q "ptrace: thread [0-9]* of $PID blocks SIGTRAP: its remote syscalls run one at a time" "$T/dump.log"
	grep -q "rlimits of $PID: prlimit64 from here" "$T/dump.log" && return 1
	grep -q "steps of $PID: scratch [0-9]* us, threads [0-9]* us, process [0-9]* us" "$T/dump.log"
}

@test "batch: another uid's rlimits are read by the process itself, in the batch (round trip)" {
	round_trip rlimits uid
	grep -q "ok: 35 values checked" "$T/prog.out"
	grep -q "rlimits of $PID: prlimit64 from here is EPERM (another uid): asked remotely" "$T/dump.log"
	grep -q "run in batches" "$T/dump.log"
}

@test "batch: a process under MDWE still gets the batch page (fresh R|X mapping) (round trip)" {
	local st=0
	start_prog rlimits mdwe || st=$?
	[ $st != 77 ] || skip "no PR_SET_MDWE here"
	[ $st = 0 ]
	dump_killed
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	grep -q "ok: 32 values checked" "$T/prog.out"
	grep -q "ptrace: remote syscalls of $PID run in batches" "$T/dump.log"
}

@test "batch: refused code page (CS_FAULT=batch): one remote syscall at a time, said once; state comes back" {
	CS_FAULT=batch round_trip sigstate nanosleep
	[ "$(grep -c "remote syscalls of $PID run one at a time: no batches (refused by CS_FAULT=batch)" \
		"$T/dump.log")" = 1 ]
	! grep -q "run in batches" "$T/dump.log"
}

@test "batch: refused code page, another uid's rlimits asked one by one (round trip)" {
	CS_FAULT=batch round_trip rlimits uid
	grep -q "ok: 35 values checked" "$T/prog.out"
	grep -q "run one at a time" "$T/dump.log"
}

# --- signals that arrive during remote syscalls (test/c/sigflood.c) ---
# Each real-time signal a remote syscall or batch takes out of delivery is
# kept and sent again at the release; none may be lost or doubled, however
# many arrive (more than 8 in one thread used to make cs-dump loop for ever,
# re-sending the signal into the thread it had just taken it from).

@test "batch: sigflood controls (undisturbed; a wrong count, a reset SIGTRAP caught)" {
	control sigflood 0 ign-trap
	expect_detects sigflood count 0
	expect_detects sigflood trap 0 ign-trap
}

@test "batch: no batches in a process that ignores SIGTRAP (the breakpoint would reset it); cs-dump -R leaves it ignored" {
	require_cs
	start_prog sigflood 0 ign-trap
	dump_running
	grep -q "remote syscalls of $PID run one at a time: no batches (it ignores SIGTRAP" "$T/dump.log"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "batch: 1000 real-time signals queued during repeated cs-dump -R are each handled once, with their value" {
	local sender k=0 st=0
	require_cs
	/bin/kill -q 1 -s 0 $$ 2>/dev/null || skip "/bin/kill has no -q (sigqueue)"
	start_prog sigflood 1000 queued
	# sigqueue(3) with a value: one taken out of delivery must come back with it
	(for ((i = 0; i < 100; i++)); do
		for ((j = 0; j < 10; j++)); do /bin/kill -q 4242 -s RTMIN "$PID" || exit 1; done
		sleep 0.01
	done) &
	sender=$!
	record_pid "$sender"
	while kill -0 "$sender" 2>/dev/null || [ $k = 0 ]; do
		rm -rf "$T/img" "$T/dump.log"
		mkdir -p "$T/img"
		timeout -k 5 60 "$CS_DUMP" -R -t "$PID" -D "$T/img" -v4 -o "$T/dump.log" \
			</dev/null >"$T/dump.out" 2>&1 3>&- || st=$?
		[ $st = 0 ] || { echo "cs-dump -R run $((k + 1)) failed with status $st" >&2; return 1; }
		k=$((k + 1))
	done
	wait "$sender" || { echo "the sender could not queue every signal" >&2; return 1; }
	echo "# $k dumps during the flood" >&3
	wake_and_wait "$PID"
	assert_prog_ok
}

# Real-time signals of one number come in the order they were sent
# (signal(7)). A signal that cs-dump's remote syscalls take out of delivery
# (pt_keep_signal, or the one of a signal-delivery-stop at the seize) is
# sent again at the release, behind the ones queued meanwhile: its value
# comes late. Only main takes SIGRTMIN; the sender (sigflood send) queues
# 1..20000 as fast as the queue takes them while cs-dump -R runs again and
# again (8 times at least). Measured before the fix with a standalone copy
# (6 dumps back to back): 1 run in 4 out of order, 0 in 3 without cs-dump.
# Now pt_seize blocks the threads' signals for the remote syscalls: 0 in 6.
@test "batch: sigqueue values during repeated cs-dump -R come in the order sent; controls" {
	local sender k=0 st=0
	require_cs
	control sigflood 0 ordered
	expect_detects sigflood order 0 ordered
	start_prog sigflood 20000 ordered
	"$CS_BUILDDIR/test/c/sigflood" send "$PID" 20000 &
	sender=$!
	record_pid "$sender"
	# at least 8: the queue drains into the handler after the sender is done
	while kill -0 "$sender" 2>/dev/null || [ $k -lt 8 ]; do
		rm -rf "$T/img" "$T/dump.log"
		mkdir -p "$T/img"
		timeout -k 5 60 "$CS_DUMP" -R -t "$PID" -D "$T/img" -o "$T/dump.log" \
			</dev/null >"$T/dump.out" 2>&1 3>&- || st=$?
		k=$((k + 1))
	done
	wait "$sender" || { echo "the sender could not queue every signal" >&2; return 1; }
	echo "# $k dumps during the flood" >&3
	wake_and_wait "$PID"
	assert_prog_ok
}

# A flood beyond what cs-dump keeps (CS_FAULT=flood: 2 signals per thread
# instead of PT_EXTRA_MAX) fails the dump; the signals keep coming while it
# unmaps its scratch and code pages, which must go all the same (they used
# to stay in the process: the munmap met the same limit), and every signal
# is handled once.
@test "batch: a dump failed by a signal flood still takes its pages out of the process; no signal lost" {
	local sender k=0 fails=0 st
	require_cs
	start_prog sigflood 3000
	(for ((i = 0; i < 300; i++)); do
		for ((j = 0; j < 10; j++)); do kill -s RTMIN "$PID" || exit 1; done
		sleep 0.002
	done) &
	sender=$!
	record_pid "$sender"
	while kill -0 "$sender" 2>/dev/null || [ $k = 0 ]; do
		st=0
		rm -rf "$T/img" "$T/dump.log"
		CS_FAULT=flood timeout -k 5 60 "$CS_DUMP" -R -t "$PID" -D "$T/img" -o "$T/dump.log" \
			</dev/null >"$T/dump.out" 2>&1 3>&- || st=$?
		if [ $st != 0 ]; then
			grep -q "signals arrived during remote syscalls (a flood?)" "$T/dump.out"
			fails=$((fails + 1))
		fi
		if grep -q "stay mapped" "$T/dump.out" ||
		   awk '$2 ~ /x/ && NF == 5 { f = 1 } END { exit !f }' "/proc/$PID/maps"; then
			echo "an anonymous executable mapping was left in $PID after run $((k + 1)):" >&2
			cat "$T/dump.out" "/proc/$PID/maps" >&2
			return 1
		fi
		k=$((k + 1))
	done
	wait "$sender" || { echo "the sender could not queue every signal" >&2; return 1; }
	echo "# $k dumps during the flood, $fails failed by it" >&3
	[ $fails -gt 0 ]
	wake_and_wait "$PID"
	assert_prog_ok
}
