#!/usr/bin/env bats
# t545-pidfd.bats - pidfds (pidfd_open(2)) on processes of the dumped tree,
# as systemd and Go's os/exec hold them on their children. test/c/pidfd
# holds one on its child, a dup of it without FD_CLOEXEC, one on itself
# with PIDFD_NONBLOCK and a thread pidfd (PIDFD_THREAD) on itself; after
# the restore it checks the fdinfo Pid: of each, the flags, that a signal
# through each reaches the right process, and that poll() on the child's
# says readable once the child is killed through it.
#
# Refused by cs-dump, one line naming the fd and the PID, the target left
# running: a pidfd on a process outside the tree (a sleep of this test), on
# a child already reaped (Pid: -1), on a thread other than a leader, and an
# epoll set watching a pidfd.

load helpers

PIDFD=$CS_BUILDDIR/test/c/pidfd

require_pidfd() {
	require_cs
	[ -x "$PIDFD" ] || skip "$PIDFD is not built (make test/c/pidfd)"
}

# pidfd_refused WORDS...: refused (helpers.bash), and the target still sleeps
pidfd_refused() {
	refused "$@" || return 1
	[ "$(proc_state "$PID")" = S ] || { echo "process $PID: state $(proc_state "$PID")" >&2; return 1; }
}

@test "pidfd: control, the checks pass without a dump" {
	[ -x "$PIDFD" ] || skip "$PIDFD is not built"
	control pidfd
	record_pid "$(cat "$T/ready.pids")"
}

@test "pidfd: negative control, each check catches a change" {
	[ -x "$PIDFD" ] || skip "$PIDFD is not built"
	expect_detects_all pidfd "pid flags cloexec"
}

@test "pidfd: round trip killed: Pid:, flags, signals and poll through the restored pidfds" {
	require_pidfd
	start_prog pidfd
	record_pid "$(cat "$T/ready.pids")"
	dump_killed
	expect_features "$T/img" +pidfd
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "pidfd: round trip with -R, then restored after the original is gone" {
	require_pidfd
	local child
	start_prog pidfd
	child=$(cat "$T/ready.pids")
	record_pid "$child"
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
	wait_pid_gone "$child"
	restore_wait --file-validation=none	# prog.out grew
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "pidfd: refused: a pidfd on a process outside the tree, named with its PID" {
	require_pidfd
	local s
	# argv[0] names $T: teardown knows it as ours (is_ours)
	(exec -a "$T/sleep" sleep 60) </dev/null >/dev/null 2>&1 3>&- &
	s=$!
	record_pid "$s"
	start_prog pidfd outside "$s"
	pidfd_refused "fd " "pidfd of process $s" "outside the dumped tree"
}

@test "pidfd: refused: a pidfd on a child already reaped (Pid: -1)" {
	require_pidfd
	start_prog pidfd reaped
	pidfd_refused "fd " "pidfd of a process that is gone" "Pid: -1"
}

@test "pidfd: refused: a thread pidfd on a thread other than the leader, and an epoll set watching a pidfd" {
	require_pidfd
	local st=0
	start_prog pidfd thread || st=$?
	[ $st = 77 ] && skip "no PIDFD_THREAD on this kernel"
	[ $st = 0 ]
	pidfd_refused "fd " "pidfd of thread" "other than a leader"
	kill_recorded
	start_prog pidfd epoll
	pidfd_refused "(epoll) watches fd" "a pidfd"
}
