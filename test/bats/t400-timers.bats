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

@test "timers: cs-dump -R, then the original exits and the images restore and check again" {
	local t0
	require_timers
	start_prog timers all
	t0=$(ms_now)
	dump_running
	# the original checks itself (its inotify test writes into the watched
	# directory and file; the restored watches are on the same inodes)
	echo $(($(ms_now) - t0 + 100)) >"$T/stopped-ms"
	wake_and_wait "$PID"
	assert_prog_ok
	cp "$T/prog.out" "$T/prog-original.out"	# the restored process writes to prog.out again
	# the original wrote its verdict to its output file after the dump,
	# which the image has open: that change is expected
	restore_wait --file-validation=none
	echo $(($(ms_now) - t0 + 100)) >"$T/stopped-ms"
	wake_and_wait "$RPID"
	assert_prog_ok
}

# ---- refusals -------------------------------------------------------------------

# refused KIND WORDS...: cs-dump of a timers KIND process exits 1 with one
# line on stderr holding every WORD (@PID@: its PID), leaves no images
# directory, and the process goes on: it still exits 0 on SIGUSR2.
refused() {
	local kind=$1 st=0 w
	shift
	require_timers
	start_prog timers "$kind"
	timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img" \
		</dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	cat "$T/out" "$T/err" >>"$T/dump.out"
	[ "$st" = 1 ] || { echo "cs-dump: status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ ! -s "$T/out" ] || { echo "cs-dump wrote to stdout" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line on stderr:" >&2; cat "$T/err" >&2; return 1; }
	for w in "$@"; do
		w=${w//@PID@/$PID}
		grep -qF -- "$w" "$T/err" || { echo "\"$w\" not in: $(cat "$T/err")" >&2; return 1; }
	done
	[ ! -e "$T/img" ] || { echo "cs-dump left $T/img behind" >&2; return 1; }
	[ -z "$(find "$T" -maxdepth 1 -name '.*.partial-*')" ] || { echo "partial directory left" >&2; return 1; }
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")" = 0 ] || { echo "$PID still traced" >&2; return 1; }
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "timers: refuse a POSIX timer on a thread CPU-time clock when there are several threads" {
	refused thread-clock "POSIX timer" "clock -2" "CPU time of the thread that created it" @PID@
}

@test "timers: refuse an inotify watch on a file deleted since" {
	refused inotify-deleted "fd 3 (inotify)" "watch 1" "no path leads to"
}

@test "timers: refuse an inotify instance with events not read yet" {
	refused inotify-queued "fd 3 (inotify)" "not read yet"
}

@test "timers: restore refuses an inotify watch whose path is now another file, before creating anything" {
	local st=0
	require_timers
	start_prog timers inotify
	dump_killed
	mv "$T/inotify file" "$T/inotify file.old"
	: >"$T/inotify file"
	timeout -k 5 60 "$CS_RESTORE" -D "$T/img" -v4 -o "$T/restore.log" </dev/null >"$T/restore.out" 2>&1 || st=$?
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1" >&2; return 1; }
	grep -qF "(inotify): $T/inotify file is not the file watched at dump time" "$T/restore.out" || {
		echo "no error naming the watch: $(cat "$T/restore.out")" >&2
		return 1
	}
	! grep -q "created and stopped" "$T/restore.log" || { echo "the stub was created" >&2; return 1; }
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
}
