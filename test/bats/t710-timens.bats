#!/usr/bin/env bats
# t710-timens.bats - clocks on another host: cs-dump records CLOCK_MONOTONIC,
# CLOCK_BOOTTIME and CLOCK_REALTIME at the freeze (timens.img), and
# cs-restore --timens (the default for a dump from another boot) puts the
# process in a new time namespace in which the first two continue from
# there.
#
# "Another host" is this one with CS_TEST_CLOCK_SHIFT=S: cs-restore pretends
# that this host's monotonic and boot clocks read S seconds more (it booted
# S s earlier; negative: later), the difference a restore on another host
# would find.  Without a time namespace the process then sees its clocks
# jump by S; that is the negative control of every check here.
#
# Programs: test/c/clocks (samples both clocks through the vDSO and the raw
# syscall every 50 ms; checks continuity and vDSO/syscall agreement) and the
# Go program test/go/clockcheck (a 200 ms ticker and a goroutine sleeping 3 s
# again and again; checks their schedule by CLOCK_MONOTONIC and the wall
# clock).  Each waits between the dump and the restore, so that the time
# frozen (seconds) would show if it counted on CLOCK_MONOTONIC; with a time
# namespace it does not (as with CRIU), without one on the same host it
# does.

load helpers

CLOCKS=$CS_BUILDDIR/test/c/clocks
EDIT=$CS_BUILDDIR/test/c/img-edit

require_timens() {
	require_cs
	[ -x "$CLOCKS" ] || skip "$CLOCKS is not built (make test/c/clocks)"
	[ -e /proc/self/ns/time ] || skip "this kernel has no time namespaces (CONFIG_TIME_NS)"
}

require_clockcheck() {
	require_timens
	[ -x "$GO_BIN/clockcheck" ] || skip "clockcheck is not built in $GO_BIN (run test/go/build.sh $GO_BIN)"
}

# A shift back in time that this host allows: its clocks must stay >= 0.
back_shift() {
	local up
	up=$(cut -d. -f1 /proc/uptime)
	if [ "$up" -gt 2000 ]; then echo -1000; else echo "-$((up / 2))"; fi
}

# in_new_timens PID: PID is in a time namespace other than ours.
in_new_timens() {
	if [ "$(readlink "/proc/$1/ns/time")" = "$(readlink /proc/self/ns/time)" ]; then
		echo "process $1 is in our time namespace" >&2
		return 1
	fi
}

in_our_timens() {
	if [ "$(readlink "/proc/$1/ns/time")" != "$(readlink /proc/self/ns/time)" ]; then
		echo "process $1 is in time namespace $(readlink "/proc/$1/ns/time"), not ours" >&2
		return 1
	fi
}

# start_go NAME ARGS...: start_prog for a Go program of $GO_BIN.
start_go() {
	local name=$1 i st=0
	shift
	rm -f "$T/ready"
	(close_fds; exec "$GO_BIN/$name" "$T/ready" "$@") </dev/null >"$T/prog.out" 2>&1 &
	PID=$!
	record_pid "$PID"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/ready" ] && break
		if ! kill -0 "$PID" 2>/dev/null || [ "$(proc_state "$PID")" = Z ]; then
			wait "$PID" || st=$?
			echo "$name exited with status $st before it was ready" >&2
			return 1
		fi
		sleep 0.1
	done
	if [ "$(cat "$T/ready" 2>/dev/null)" != "$PID" ]; then
		echo "$name: no ready file with PID $PID in 10 s" >&2
		return 1
	fi
	PROG_EXE=$(readlink "/proc/$PID/exe")
	wait_settled "$PID"
}

# start_in_timens OFFSET ARGS...: test/c/clocks ARGS in a time namespace of
# its own whose clocks read OFFSET seconds more than ours (unshare --time
# --fork, detached: unshare waits for it and exits with it).
start_in_timens() {
	local off=$1 i
	shift
	rm -f "$T/ready"
	# unshare complains on its own output when its child is killed: the
	# program writes elsewhere, so that its files do not change
	(close_fds; setsid unshare --time --fork --monotonic "$off" --boottime "$off" \
		sh -c 'out=$1; shift; exec "$0" "$@" >"$out" 2>&1' "$CLOCKS" "$T/prog.out" "$T/ready" "$@" \
		</dev/null >"$T/prog-unshare.out" 2>&1 &)
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/ready" ] && break
		sleep 0.1
	done
	PID=$(cat "$T/ready" 2>/dev/null)
	if ! [[ $PID =~ ^[0-9]+$ ]] || ! is_ours "$PID"; then
		echo "clocks under unshare --time: no ready file with a PID of ours: $(tail -n 3 "$T/prog-unshare.out")" >&2
		return 1
	fi
	record_pid "$PID"
	PROG_EXE=$(readlink "/proc/$PID/exe")
	wait_settled "$PID"
}

# restore_shifted SHIFT OPTS...: restore_wait OPTS with CS_TEST_CLOCK_SHIFT=SHIFT.
restore_shifted() {
	local shift=$1
	shift
	CS_TEST_CLOCK_SHIFT=$shift restore_wait "$@"
}

# expect_fails WHAT...: the program exited 1 and named every WHAT ("... differs").
expect_fails() {
	local w
	if [ "$STATUS" != 1 ]; then
		echo "exit status $STATUS, want 1 (the check should have failed)" >&2
		return 1
	fi
	for w in "$@"; do
		grep -q "$w differs" "$T/prog.out" && continue
		echo "no \"$w differs\" in the output:" >&2
		cat "$T/prog.out" >&2
		return 1
	done
	mv "$T/prog.out" "$T/prog-negative.out"
}

# clocks_trip SHIFT OPTS...: start clocks, dump (killed), 2 s later restore
# with CS_TEST_CLOCK_SHIFT=SHIFT and OPTS, let it sample 1 s, wake it.
clocks_trip() {
	local shift=$1
	shift
	rm -rf "$T/img"
	start_prog clocks
	dump_killed
	sleep 2
	restore_shifted "$shift" "$@"
	sleep 1
}

# restore_refused WORDS... -- OPTS...: cs-restore OPTS exits 1, one line on
# stderr naming every WORD, and $PID does not exist.
restore_refused() {
	local words=() w st=0
	while [ $# -gt 0 ] && [ "$1" != -- ]; do words+=("$1"); shift; done
	shift
	(close_fds; exec "$CS_RESTORE" -D "$T/img" "$@") </dev/null >"$T/out" 2>"$T/err" || st=$?
	{ echo "\$ cs-restore -D $T/img $*  (status $st, CS_TEST_CLOCK_SHIFT=${CS_TEST_CLOCK_SHIFT:-})"
	  sed 's/^/  stderr: /' "$T/err"; } >>"$T/restore.out"
	if [ "$st" != 1 ] || [ "$(wc -l <"$T/err")" != 1 ]; then
		echo "cs-restore $*: status $st (want 1), stderr: $(cat "$T/err")" >&2
		return 1
	fi
	for w in "${words[@]}"; do
		grep -qF -- "$w" "$T/err" && continue
		echo "cs-restore $*: \"$w\" not in: $(cat "$T/err")" >&2
		return 1
	done
	if [ -e "/proc/$PID" ]; then
		echo "process $PID exists after the refused restore" >&2
		return 1
	fi
}

show() {
	"$CS_SHOW" "${1:-$T/img}"
}

# ---- the C program ------------------------------------------------------------

@test "timens: the clocks checks pass on an undisturbed process (control)" {
	require_timens
	control clocks
}

@test "timens: every clocks check catches a change (CS_TEST_CORRUPT)" {
	require_timens
	expect_detects_all clocks "mono-jump vdso"
}

@test "timens: cs-dump records the clocks at the freeze (timens.img)" {
	require_timens
	local before after mono up
	start_prog clocks
	read -r up _ </proc/uptime
	before=$((${up/./} * 10000000))
	dump_running
	read -r up _ </proc/uptime
	after=$((${up/./} * 10000000))
	show >"$T/show.json"
	mono=$(grep -o '"monotonic_ns": [0-9]*' "$T/show.json" | grep -o '[0-9]*$')
	[ -n "$mono" ] || { echo "no monotonic_ns in cs-show's output" >&2; cat "$T/show.json" >&2; return 1; }
	# /proc/uptime is CLOCK_BOOTTIME in 10 ms steps
	if [ "$mono" -lt $((before - 20000000)) ] || [ "$mono" -gt $((after + 20000000)) ]; then
		echo "monotonic_ns $mono is not between $before and $after" >&2
		return 1
	fi
	grep -q '"own_ns": false' "$T/show.json" || { echo "own_ns is not false" >&2; return 1; }
	grep -q '"realtime_ns": ' "$T/show.json" && grep -q '"boottime_ns": ' "$T/show.json"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "timens: restored on a host that booted 1000 s earlier, the clocks continue (vDSO and syscall)" {
	require_timens
	clocks_trip 1000
	in_new_timens "$PID"
	grep -q "new time namespace: CLOCK_MONOTONIC and CLOCK_BOOTTIME continue" "$T/restore.log"
	grep -E 'vvar|vdso' "/proc/$PID/maps" >"$T/maps-after"
	wake_and_wait "$RPID"
	assert_prog_ok
	grep -q 'frozen_ms=[1-9]' "$T/prog.out" || { echo "no frozen time seen" >&2; cat "$T/prog.out" >&2; return 1; }
}

@test "timens: restored on a host that booted later, the clocks continue (vDSO and syscall)" {
	require_timens
	clocks_trip "$(back_shift)"
	in_new_timens "$PID"
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "timens: negative control: with --no-timens on those hosts the clocks jump, forward and back" {
	require_timens
	clocks_trip 1000 --no-timens
	in_new_timens "$PID"	# the simulated host's clocks
	grep -q "no time namespace" "$T/restore.log"
	wake_and_wait "$RPID"
	expect_fails monotonic boottime
	grep -q "monotonic differs: jumped 100[0-9]" "$T/prog-negative.out"

	clocks_trip "$(back_shift)" --no-timens
	grep -q -- "--no-timens: the process's CLOCK_MONOTONIC jumps by -" "$T/restore.log"
	wake_and_wait "$RPID"
	expect_fails monotonic
	grep -q "monotonic differs: went back" "$T/prog-negative.out"
}

@test "timens: same boot: no time namespace by default (the time frozen counts); --timens on request" {
	require_timens
	clocks_trip 0
	in_our_timens "$PID"
	wake_and_wait "$RPID"
	# the clocks jumped by the time frozen (2 s and more): by design here
	expect_fails monotonic

	rm -rf "$T/img"
	start_prog clocks 60000
	dump_killed
	sleep 2
	restore_wait
	in_our_timens "$PID"
	sleep 1
	wake_and_wait "$RPID"
	assert_prog_ok
	local step
	step=$(grep -o 'max_step_ms=[0-9]*' "$T/prog.out" | cut -d= -f2)
	[ "$step" -ge 2000 ] || { echo "max_step_ms=$step: the time frozen did not count" >&2; return 1; }

	clocks_trip 0 --timens
	in_new_timens "$PID"
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "timens: a restored process in its time namespace is dumped and restored again (chain)" {
	require_timens
	local off
	clocks_trip 1000
	in_new_timens "$PID"
	local _ sec nsec
	read -r _ sec nsec < <(grep monotonic "/proc/$PID/timens_offsets")
	off=$((sec * 1000000000 + nsec))
	# a periodic checkpoint of the restored process, then it is lost
	mv "$T/img" "$T/img1"
	dump_running
	show >"$T/show2.json"
	grep -q '"own_ns": true' "$T/show2.json" || { echo "own_ns is not true" >&2; return 1; }
	grep -q "\"monotonic_offset_ns\": $off," "$T/show2.json" || {
		echo "monotonic_offset_ns is not $off (/proc/$PID/timens_offsets):" >&2
		grep offset "$T/show2.json" >&2
		return 1
	}
	kill -KILL "$PID"
	wait "$RPID" 2>/dev/null || true
	wait_pid_gone "$PID"
	sleep 2
	# the default on the same boot, for a process in its own time namespace
	restore_wait
	in_new_timens "$PID"
	grep -q "new time namespace: CLOCK_MONOTONIC and CLOCK_BOOTTIME continue" "$T/restore.log"
	sleep 1
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "timens: a process started in a time namespace (+5000 s) keeps its clocks; --no-timens loses them" {
	require_timens
	command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
	start_in_timens 5000 || skip "unshare --time --monotonic does not work here"
	grep -q 'monotonic *5000 ' "/proc/$PID/timens_offsets"
	dump_killed
	show >"$T/show.json"
	grep -q '"own_ns": true' "$T/show.json"
	grep -q '"monotonic_offset_ns": 5000000000000' "$T/show.json"
	sleep 1
	restore_wait
	in_new_timens "$PID"
	sleep 1
	wake_and_wait "$RPID"
	assert_prog_ok
	grep -q '^clocks: ok' "$T/prog.out"

	rm -rf "$T/img"
	start_in_timens 5000
	dump_killed
	restore_wait --no-timens
	in_our_timens "$PID"
	grep -q -- "--no-timens: the process's CLOCK_MONOTONIC jumps by -4" "$T/restore.log"
	sleep 1
	wake_and_wait "$RPID"
	expect_fails monotonic
	grep -q "monotonic differs: went back 49[0-9][0-9]" "$T/prog-negative.out"
}

@test "timens: timers, timerfds and sleeps restored into a time namespace keep their time" {
	require_timens
	[ -x "$CS_BUILDDIR/test/c/timers" ] || skip "timers is not built"
	local t0
	start_prog timers all
	t0=$(date +%s%N)
	dump_killed
	restore_shifted 1000
	in_new_timens "$PID"
	echo $((($(date +%s%N) - t0) / 1000000 + 100)) >"$T/stopped-ms"
	wake_and_wait "$RPID"
	assert_prog_ok
}

# ---- the Go program ---------------------------------------------------------------

# go_trip SHIFT OPTS...: start clockcheck, dump (killed), 1 s later restore
# with CS_TEST_CLOCK_SHIFT=SHIFT and OPTS, let it run 5 s (a whole sleep
# after the restore), wake it.
go_trip() {
	local shift=$1
	shift
	rm -rf "$T/img"
	start_go clockcheck
	dump_killed
	sleep 1
	restore_shifted "$shift" "$@"
	sleep 5
	wake_and_wait "$RPID"
}

@test "timens: Go ticker and sleeper keep their schedule (control)" {
	require_clockcheck
	start_go clockcheck
	sleep 4
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "timens: Go ticker and sleeper keep their schedule on a host that booted 1000 s earlier" {
	require_clockcheck
	go_trip 1000
	assert_prog_ok
	grep -q 'clockcheck: ok .*frozen_ms=[1-9]' "$T/prog.out"
}

@test "timens: Go ticker and sleeper keep their schedule on a host that booted later" {
	require_clockcheck
	go_trip "$(back_shift)"
	assert_prog_ok
	grep -q 'clockcheck: ok .*frozen_ms=[1-9]' "$T/prog.out"
}

@test "timens: negative control: Go timers without --timens fire at once (forward) or stall (back)" {
	require_clockcheck
	go_trip 1000 --no-timens
	expect_fails ticker sleeper
	grep -q "sleeper differs: sleep [0-9]* of 3s took 100[0-9]" "$T/prog-negative.out"
	go_trip "$(back_shift)" --no-timens
	expect_fails ticker sleeper
	grep -q "ticker differs: the last tick is .* old by the wall clock" "$T/prog-negative.out"
}

# ---- refusals -------------------------------------------------------------------

@test "timens: refused: a realtime shift, a bad shift, --timens with --no-timens, a shift beyond boot" {
	require_timens
	start_prog clocks
	dump_killed
	CS_TEST_CLOCK_SHIFT=realtime=5 restore_refused "cannot shift CLOCK_REALTIME" --
	CS_TEST_CLOCK_SHIFT=monotonic=5,realtime=5 restore_refused "cannot shift CLOCK_REALTIME" -- --timens
	CS_TEST_CLOCK_SHIFT=5x restore_refused "invalid CS_TEST_CLOCK_SHIFT '5x'" --
	CS_TEST_CLOCK_SHIFT=-99999999 restore_refused "CS_TEST_CLOCK_SHIFT=-99999999" "booted only" -- --no-timens
	restore_refused "--timens and --no-timens" -- --timens --no-timens
	# nothing was left behind: it restores
	restore_wait
	sleep 1
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "timens: refused: --timens on images without a clock record (older cs-dump); they restore without" {
	require_timens
	[ -x "$EDIT" ] || skip "img-edit is not built"
	start_prog clocks 60000
	dump_killed
	"$EDIT" "$T/img" drop timens.img
	[ ! -e "$T/img/timens.img" ]
	restore_refused "--timens" "no clock record" -- --timens
	restore_wait
	in_our_timens "$PID"
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "timens: refused: --timens, or a dump from another boot, on a kernel without time namespaces" {
	require_timens
	command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
	# a kernel without CONFIG_TIME_NS has no /proc/PID/ns/time: hide
	# cs-restore's whole ns directory under an empty tmpfs (a mount
	# namespace of its own; exec keeps the PID, so /proc/self is it)
	unshare -m --propagation private sh -c 'mount -t tmpfs none /proc/$$/ns && exec test ! -e /proc/self/ns/time' ||
		skip "cannot hide /proc/PID/ns in a mount namespace here"
	start_prog clocks
	dump_killed
	local wrap=(unshare -m --propagation private sh -c 'mount -t tmpfs none /proc/$$/ns && exec "$0" "$@"' "$CS_RESTORE")
	local st=0
	"${wrap[@]}" -D "$T/img" --timens </dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	[ "$st" = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q -- "--timens: this kernel has no time namespaces" "$T/err" || {
		echo "--timens without time namespaces: status $st, stderr: $(cat "$T/err")" >&2; return 1; }
	[ ! -e "/proc/$PID" ]
	st=0
	CS_TEST_CLOCK_SHIFT=1000 "${wrap[@]}" -D "$T/img" </dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	[ "$st" = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "no time namespaces" "$T/err" || {
		echo "another boot without time namespaces: status $st, stderr: $(cat "$T/err")" >&2; return 1; }
	[ ! -e "/proc/$PID" ]
	# --no-timens restores it with this host's clocks
	st=0
	"${wrap[@]}" -D "$T/img" -d --no-timens </dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	[ "$st" = 0 ] || { echo "--no-timens: status $st: $(cat "$T/err")" >&2; return 1; }
	record_pid "$PID"
	in_our_timens "$PID"
	kill -KILL "$PID"
}
