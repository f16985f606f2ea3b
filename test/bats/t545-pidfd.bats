#!/usr/bin/env bats
# t545-pidfd.bats - pidfds (pidfd_open(2)) on processes of the dumped tree,
# as systemd and Go's os/exec hold them on their children. test/c/pidfd
# holds one on its child, a dup of it without FD_CLOEXEC, one on itself
# with PIDFD_NONBLOCK and a thread pidfd (PIDFD_THREAD) on itself; after
# the restore it checks the fdinfo Pid: of each, the flags, that a signal
# through each reaches the right process, and that poll() on the child's
# says readable once the child is killed through it.
#
# "pidfd epoll": an epoll set watching the pidfds of a child, of a zombie
# and of the process itself, and an eventfd, with two one-shots that have
# fired (a second zombie's pidfd, an eventfd): the registrations come back
# (events, data; the fired ones disarmed), the zombie's is reported at
# once, the child's once the child is killed after the restore; a second
# child inherits the set and the pidfds (the same files after the restore). "pidfd thread": thread pidfds on a
# thread other than the leader, of the process and of its child, watched
# by epoll: Pid: is the TID, the flags, a signal through each is pending
# for that thread only, and the set reports each thread's exit. Both
# killed and with -R, and twice through --pidns (the TIDs inside).
#
# "pidfd reaped": pidfds on children already reaped (fdinfo Pid: -1), as a
# supervisor holds them between reaping a worker and closing its pidfd:
# plain, PIDFD_NONBLOCK without FD_CLOEXEC, registered in an epoll set, and
# a thread pidfd, a dup, and a child inheriting the set and the pidfds
# (kcmp: the same files). After the restore: Pid: -1, the flags, waitid ECHILD,
# pidfd_send_signal ESRCH, poll readable, the registration and what the
# set reports (its data, the events measured before the dump).
#
# Refused by cs-dump, one line naming the fd and the PID, the target left
# running: a pidfd on a process outside the tree (a sleep of this test). Refused by cs-restore before
# anything is made: a thread pidfd whose TID (edited into the images) is no
# thread of the tree.

load helpers
load pidns

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

# pidfd_killed MODE, pidfd_running MODE: the round trips of "pidfd MODE",
# killed, and with -R (the original checks itself, then the restored one)
pidfd_killed() {
	require_pidfd
	local st=0
	start_prog pidfd "$1" || st=$?
	[ $st = 77 ] && skip "no PIDFD_THREAD on this kernel"
	[ $st = 0 ]
	record_pid "$(cat "$T/ready.pids")"
	dump_killed
	expect_features "$T/img" +pidfd
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

pidfd_running() {
	require_pidfd
	local child st=0
	start_prog pidfd "$1" || st=$?
	[ $st = 77 ] && skip "no PIDFD_THREAD on this kernel"
	[ $st = 0 ]
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

@test "pidfd epoll: control and negative control (registration data, removed, events, a fired one-shot armed, the heir's set)" {
	[ -x "$PIDFD" ] || skip "$PIDFD is not built"
	control pidfd epoll
	record_pid "$(cat "$T/ready.pids")"
	expect_detects_all pidfd "epoll-data epoll-del epoll-events epoll-oneshot epoll-heir" epoll
}

@test "pidfd epoll: round trip killed: registrations, the zombie's at once, the child's once killed" {
	pidfd_killed epoll
	# the registrations are in the images, the pidfds' among them
	"$CS_SHOW" "$T/img" | jq -e '[.images["files.img"][] | select(.type == 5)][0].tfds | length == 6' \
		>/dev/null || { echo "want an epoll set with 4 registrations in files.img" >&2; return 1; }
}

@test "pidfd epoll: round trip with -R, then restored after the original is gone" {
	pidfd_running epoll
}

@test "pidfd thread: control and negative control (TID, flags, the child's TID)" {
	[ -x "$PIDFD" ] || skip "$PIDFD is not built"
	local st=0
	start_prog pidfd thread || st=$?
	[ $st = 77 ] && skip "no PIDFD_THREAD on this kernel"
	[ $st = 0 ]
	record_pid "$(cat "$T/ready.pids")"
	wake_and_wait "$PID"
	assert_prog_ok
	expect_detects_all pidfd "tid tflags ctid" thread
}

@test "pidfd thread: round trip killed: thread pidfds on non-leaders, here and in a child, watched by epoll" {
	pidfd_killed thread
	# the two thread pidfds (O_EXCL) name threads other than a leader in the images
	"$CS_SHOW" "$T/img" | jq -e '.images as $i | [$i["pstree.img"][] | .threads[1:][]] as $nl |
		[$i["files.img"][] | select(.type == 180 and ((.flags / 128 | floor) % 2 == 1)) | .pidfd_pid] |
		length == 2 and (. - $nl | length) == 0' >/dev/null ||
		{ echo "the thread pidfds of files.img do not name the non-leader threads" >&2; return 1; }
}

@test "pidfd thread: round trip with -R, then restored after the original is gone" {
	pidfd_running thread
}

@test "pidfd epoll: twice through --pidns" {
	require_pidfd
	require_pidns_caps
	pidns_chain pidfd epoll
}

@test "pidfd thread: twice through --pidns: the TIDs inside" {
	require_pidfd
	require_pidns_caps
	pidns_chain pidfd thread
}

@test "pidfd thread: refused by cs-restore: a thread pidfd on a TID of no process of the images, nothing made" {
	require_pidfd
	local edit=$CS_BUILDDIR/test/c/img-edit fd st=0
	[ -x "$edit" ] || skip "img-edit is not built (make test/c/img-edit)"
	start_prog pidfd thread || st=$?
	[ $st = 77 ] && skip "no PIDFD_THREAD on this kernel"
	[ $st = 0 ]
	record_pid "$(cat "$T/ready.pids")"
	dump_killed
	fd=$("$CS_SHOW" "$T/img" | jq '[.images["files.img"][] | select(.type == 180 and
		((.flags / 128 | floor) % 2 == 1))][0].fd')
	"$edit" "$T/img" pidfd-pid files.img "$fd" 1
	run "$CS_RESTORE" -D "$T/img"
	[ "$status" = 1 ]
	[ "${#lines[@]}" = 1 ] || { echo "want one line: $output" >&2; return 1; }
	[[ "$output" == *"fd $fd (pidfd): refers to thread 1, which is not in pstree.img"* ]] ||
		{ echo "said: $output" >&2; return 1; }
	[ ! -e "/proc/$PID" ] || { echo "process $PID exists after the refused restore" >&2; return 1; }
}

@test "pidfd reaped: control and negative control (a live child's pidfd, flags, FD_CLOEXEC, registration data)" {
	[ -x "$PIDFD" ] || skip "$PIDFD is not built"
	control pidfd reaped
	expect_detects_all pidfd "rpid rflags rcloexec rdata" reaped
}

@test "pidfd reaped: round trip killed: Pid: -1, flags, ECHILD, ESRCH, the epoll set reports it" {
	pidfd_killed reaped
	"$CS_SHOW" "$T/img" | jq -e '[.images["files.img"][] | select(.type == 180 and .pidfd_reaped)] | length >= 3' \
		>/dev/null || { echo "want 3 pidfds marked reaped in files.img" >&2; return 1; }
}

@test "pidfd reaped: round trip with -R, then restored after the original is gone" {
	pidfd_running reaped
}

@test "pidfd reaped: twice through --pidns" {
	require_pidfd
	require_pidns_caps
	pidns_chain pidfd reaped
}
