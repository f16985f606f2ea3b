#!/usr/bin/env bats
# t400-timers.bats - interval timers, POSIX timers, timerfd, signalfd,
# inotify, eventfd with EFD_SEMAPHORE, and threads asleep in nanosleep /
# clock_nanosleep: each round trip has test/c/timers check, value by value,
# that its state survived (see timers.c for what is checked), and each check
# is shown to catch a change (CS_TEST_CORRUPT).
#
# Time stopped: the test writes "$T/stopped-ms", an upper bound of the time
# the process did not run (from before cs-dump to after the restore), which
# the program allows for when it checks remaining times.

load helpers

TIMERS=$CS_BUILDDIR/test/c/timers

require_timers() {
	require_cs
	[ -x "$TIMERS" ] || skip "$TIMERS is not built (make test/c/timers)"
}

ms_now() {
	echo $(($(date +%s%N) / 1000000))
}

# timers_trip KIND...: start, dump (killed), restore, wake, check.
timers_trip() {
	local t0
	require_timers
	start_prog timers "$@"
	t0=$(ms_now)
	dump_killed
	restore_wait
	echo $(($(ms_now) - t0 + 100)) >"$T/stopped-ms"
	wake_and_wait "$RPID"
	assert_prog_ok
}

# timers_trip_R KIND...: cs-dump -R, the original checks itself; then it is
# killed and the images are restored and checked too.
timers_trip_R() {
	local t0
	require_timers
	start_prog timers "$@"
	t0=$(ms_now)
	dump_running
	echo $(($(ms_now) - t0 + 100)) >"$T/stopped-ms"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "timers: the checks pass on an undisturbed process (control)" {
	require_timers
	control timers all
}

@test "timers: every check catches a change (CS_TEST_CORRUPT)" {
	require_timers
	expect_detects_all timers "itimer posix-id posix-time timerfd timerfd-ticks signalfd inotify eventfd sleep" all
}

@test "timers: interval timers (real, virtual, prof) survive dump and restore" {
	timers_trip itimers
	grep -q '"which": 1' <("$CS_SHOW" "$T/img") || { echo "no ITIMER_VIRTUAL in the images" >&2; return 1; }
}

@test "timers: POSIX timers keep their IDs, clocks, signals, values, times; a pending one fires again" {
	timers_trip posix
}

@test "timers: timerfds keep clock, flags, time, interval and unread expirations" {
	timers_trip timerfd
}

@test "timers: signalfd masks and flags; a signal sent after restore is read" {
	timers_trip signalfd
}

@test "timers: inotify watches keep their wds and masks and still report events" {
	timers_trip inotify
}

@test "timers: an EFD_SEMAPHORE eventfd stays a semaphore" {
	timers_trip eventfd
}

@test "timers: threads in a 2 s nanosleep and clock_nanosleep wake after their own 2 s" {
	timers_trip sleeps
}

@test "timers: everything at once, dump killed and restored" {
	timers_trip all
}

@test "timers: everything at once, cs-dump -R leaves it intact" {
	timers_trip_R all
}
