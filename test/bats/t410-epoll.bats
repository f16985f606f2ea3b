#!/usr/bin/env bats
# t410-epoll.bats - epoll sets (test/c/epoll.c): every registration with
# its events and data (level- and edge-triggered, a one-shot already fired
# and so disarmed, EPOLLRDHUP, EPOLLPRI) and an epoll set registered in
# another. After the restore the program compares its sets in
# /proc/self/fdinfo with what it recorded, and what epoll_wait reports,
# then changes them and checks that they still work.
# Refused: a registration whose fd number no longer names its file (the fd
# was dup'ed and the original closed).

load helpers

@test "epoll: the checks pass on an undisturbed process, and catch a change (controls)" {
	control epoll
	expect_detects_all epoll "events data gone armed"
}

@test "epoll: registrations, nested sets and readiness come back (round trip)" {
	round_trip epoll
}

@test "epoll: cs-dump -R leaves the sets working, and its image restores" {
	require_cs
	start_prog epoll
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "epoll: refuse a registration whose fd was moved away, naming both; the process goes on" {
	require_cs
	start_prog epoll moved
	run "$CS_DUMP" -t "$PID" -D "$T/img"
	[ "$status" = 1 ]
	[ "${#lines[@]}" = 1 ]
	[[ $output == *"epoll fd "*" watches fd "*", which is now another file"* ]]
	[ ! -e "$T/img/inventory.img" ]
	wake_and_wait "$PID"
	assert_prog_ok
}
