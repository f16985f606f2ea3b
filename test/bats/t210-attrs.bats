#!/usr/bin/env bats
# t210-attrs.bats - seccomp, no_new_privs and the process attributes
# (test/c/attrs.c): per-thread seccomp filters (one shared by all threads,
# one of a single thread with SECCOMP_FILTER_FLAG_LOG) that kill the process
# on syscalls cs-dump and cs-restore run inside it; a thread in seccomp
# strict mode; no_new_privs in one thread; per-thread nice, policy
# (OTHER, BATCH, IDLE, FIFO with reset-on-fork), priority and CPU affinity;
# umask, cwd, personality, oom_score_adj; a chroot.
# Each has a control, negative controls, a kill-dump-restore round trip and
# a cs-dump -R run after which the live process must still be filtered.
# Refused: a filter returning SECCOMP_RET_USER_NOTIF (cs-dump), a chroot
# whose root directory is gone and a thread none of whose CPUs is left
# (cs-restore, in the check phase). A restore with fewer CPUs (cs-restore
# under taskset) binds the threads to what is left, with a warning.
# Resource limits (test/c/rlimits.c): all sixteen, soft and hard; a hard
# limit above what cs-restore may set is refused, or lowered with
# --lower-rlimits.

load helpers

dump_R_intact() {
	require_cs
	start_prog "$@"
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
}

# The images name every thread's seccomp mode, and the filters as a tree:
# F1 shared by main and the three workers, F2 (LOG) on top of it in w1 only,
# the strict thread in mode 1 without a filter.
assert_seccomp_images() {
	local q
	"$CS_SHOW" "$T/img" >"$T/show.json"
	for q in '.images["pstree.img"][0].seccomp_filters | length == 2' \
		 '.images["pstree.img"][0].seccomp_filters[0] | .parent == null and .flags == 0' \
		 '.images["pstree.img"][0].seccomp_filters[1] | .parent == 0 and .flags == 2' \
		 '[.images | to_entries[] | select(.key | startswith("core-")) | .value[0]] |
		  (map(select(.seccomp_mode == 2 and .seccomp_filter == 0 and .no_new_privs == false)) | length) == 3 and
		  (map(select(.seccomp_mode == 2 and .seccomp_filter == 1 and .no_new_privs == true)) | length) == 1 and
		  (map(select(.seccomp_mode == 1 and .seccomp_filter == null)) | length) == 1'; do
		jq -e "$q" "$T/show.json" >/dev/null && continue
		echo "images: not true: $q" >&2
		return 1
	done
}

@test "attrs: the checks pass on an undisturbed process (control)" {
	control attrs strict
}

@test "attrs: the checks pass in a chroot (control)" {
	control attrs chroot
}

@test "attrs: the checks catch a change (negative control)" {
	expect_detects_all attrs "nice policy rtprio affinity nnp filter umask cwd personality oom ioprio slack coredump subreaper dumpable securebits mlockall"
	expect_detects attrs root chroot
}

@test "attrs: seccomp filters, strict mode, no_new_privs and scheduling come back (round trip)" {
	round_trip attrs strict
	assert_seccomp_images
}

@test "attrs: the filters shared by every thread come back shared (round trip, TSYNC)" {
	round_trip attrs
	grep -q "2 seccomp filters installed, 1 of them shared by all 4 threads" "$T/restore.log"
}

@test "attrs: a chroot comes back (round trip)" {
	round_trip attrs chroot
}

@test "attrs: cs-dump -R leaves the process filtered and its attributes as they were" {
	dump_R_intact attrs strict
}

@test "attrs: a chroot restored from a cs-dump -R image (round trip)" {
	require_cs
	start_prog attrs chroot
	dump_running
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null || true
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "attrs: refuse a seccomp filter with SECCOMP_RET_USER_NOTIF; the process goes on filtered" {
	require_cs
	start_prog attrs notif
	run "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img"
	[ "$status" = 1 ]
	[ "${#lines[@]}" = 1 ]
	[[ $output == *"thread $PID: seccomp filter 0"*"SECCOMP_RET_USER_NOTIF"* ]]
	[ ! -e "$T/img" ]
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")" = 0 ]
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "attrs: cs-restore refuses a chroot whose root directory is gone, creating nothing" {
	require_cs
	start_prog attrs chroot
	dump_killed
	mv "$T/root" "$T/root.moved"
	run "$CS_RESTORE" -D "$T/img"
	[ "$status" = 1 ]
	[ "${#lines[@]}" = 1 ]
	[[ $output == *"root directory $T/root of process $PID (chroot) is gone"* ]]
	[ ! -e "/proc/$PID" ]
}

# ---- CPU affinity on a "host" with fewer CPUs (cs-restore under taskset) ----

need_two_cpus() {
	command -v taskset >/dev/null || skip "no taskset"
	[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"
	[ "$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/self/status)" = 0-1 ] ||
		skip "this test assumes CPUs 0-1 (w1 is bound to the last one)"
}

@test "attrs: cs-restore refuses a thread none of whose CPUs is available, creating nothing" {
	require_cs
	need_two_cpus
	start_prog attrs
	dump_killed
	"$CS_SHOW" "$T/img" >"$T/show.json"
	w1=$(jq -r '.images | to_entries[] | select(.key | startswith("core-")) | .value[0] |
		select(.sched_policy == 3) | .tid' "$T/show.json")
	run taskset -c 0 "$CS_RESTORE" -D "$T/img"
	[ "$status" = 1 ]
	[ "${#lines[@]}" = 1 ]
	[[ $output == *"thread $w1 was bound to CPUs 1, none of which is available here (0)"* ]]
	[ ! -e "/proc/$PID" ]
}

@test "attrs: on fewer CPUs the affinity is reduced, with a warning (the program sees the change)" {
	require_cs
	need_two_cpus
	start_prog attrs
	dump_killed
	printf '#!/bin/sh\nexec taskset -c 1 %s "$@"\n' "$CS_RESTORE" >"$T/restore-cpu1"
	chmod +x "$T/restore-cpu1"
	CS_RESTORE=$T/restore-cpu1 restore_wait
	wake_and_wait "$RPID"
	[ "$STATUS" = 1 ]
	grep -q "main: CPU affinity differs" "$T/prog.out"
	! grep -q "w1: CPU affinity differs" "$T/prog.out"
	[ "$(grep -c "differs" "$T/prog.out")" = 3 ]	# main, w2, w3
	[ "$(grep -c "bound to CPUs 0,1; 1 of them are not available here: bound to 1" "$T/restore.log")" = 3 ]
}

# ---- resource limits (test/c/rlimits.c): every one, soft and hard ----

# A cs-restore whose own hard RLIMIT_MSGQUEUE is 300000 bytes, below the
# 700000 the program saved, and which cannot raise it: without
# CAP_SYS_RESOURCE (setrlimit(2)), dropped from its inheritable and bounding
# sets, so that root after execve(2) has it neither permitted nor effective
# (capabilities(7); a CI runner's root may have it, this machine's has not). The program is
# started without it too (start_rlimits), so that its saved capabilities are
# ones this cs-restore can give back.
low_msgqueue_restore() {
	printf '#!/bin/bash\nulimit -q 300000 || exit 2\nexec setpriv --inh-caps=-sys_resource --bounding-set=-sys_resource %s "$@"\n' "$CS_RESTORE" >"$T/restore-lowq"
	chmod +x "$T/restore-lowq"
}

# start_rlimits: start_prog rlimits without CAP_SYS_RESOURCE (see above)
start_rlimits() {
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	START_WRAP="setpriv --inh-caps=-sys_resource --bounding-set=-sys_resource" start_prog rlimits
}

@test "rlimits: the checks pass on an undisturbed process, and catch a change (controls)" {
	control rlimits
	expect_detects_all rlimits "nofile msgqueue"
}

@test "rlimits: all sixteen limits come back, soft and hard (round trip)" {
	round_trip rlimits
	grep -q "ok: 32 values checked" "$T/prog.out"
}

@test "rlimits: cs-restore refuses a hard limit it cannot set, naming it, and creates nothing" {
	require_cs
	start_rlimits
	dump_killed
	low_msgqueue_restore
	run "$T/restore-lowq" -D "$T/img"
	[ "$status" = 1 ]
	[ "${#lines[@]}" = 1 ]
	[[ $output == *"rlimit MSGQUEUE: the saved hard limit 700000 is above what can be set here (300000): cs-restore --lower-rlimits lowers it"* ]]
	[ ! -e "/proc/$PID" ]
	# nothing was lost: the images restore where the limit allows it
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "rlimits: --lower-rlimits lowers that limit to the one here, with a warning, and keeps the others" {
	require_cs
	start_rlimits
	dump_killed
	low_msgqueue_restore
	echo "$(printf '%d' 12) 300000" >"$T/lowered"	# RLIMIT_MSGQUEUE is 12
	CS_RESTORE=$T/restore-lowq restore_wait --lower-rlimits
	wake_and_wait "$RPID"
	assert_prog_ok
	grep -q "ok: 32 values checked" "$T/prog.out"
	grep -q "process $PID: RLIMIT_MSGQUEUE lowered from 500000/700000 (soft/hard) to 300000/300000, the hard limit here" "$T/restore.log"
}

# Securebits a process locked (NOROOT_LOCKED, KEEP_CAPS_LOCKED) before it
# gave up every capability, CAP_SETPCAP included (setpriv --securebits then
# --reuid does this): cs-restore must set them while the thread still has
# CAP_SETPCAP, not after the capabilities are the saved ones.
@test "rlimits: locked securebits of a process with no capabilities come back (controls, round trip)" {
	control rlimits lockedsb
	expect_detects rlimits sb lockedsb
	round_trip rlimits lockedsb
	grep -q "ok: 40 values checked" "$T/prog.out"
}

# cs-restore without CAP_SYS_NICE cannot write another task's
# /proc/TID/timerslack_ns: the thread sets its own (the process has no
# capability that cs-restore would lack).
@test "rlimits: cs-restore without CAP_SYS_NICE gives a capability-less process its timer slack (round trip)" {
	command -v setpriv >/dev/null || skip "no setpriv"
	printf '#!/bin/bash\nexec setpriv --bounding-set=-sys_nice %s "$@"\n' "$CS_RESTORE" >"$T/restore-nonice"
	chmod +x "$T/restore-nonice"
	CS_RESTORE=$T/restore-nonice round_trip rlimits lockedsb
	grep -q "ok: 40 values checked" "$T/prog.out"
	grep -q "timer slack set by the thread (no CAP_SYS_NICE here)" "$T/restore.log"
}

# Another task's /proc/TID/timerslack_ns is EPERM without CAP_SYS_NICE: a
# cs-dump without it (setpriv --bounding-set -sys_nice: a container's root)
# asks each thread (prctl PR_GET_TIMERSLACK); every thread's slack comes back.
@test "attrs: cs-dump without CAP_SYS_NICE still saves each thread's timer slack (round trip)" {
	command -v setpriv >/dev/null || skip "no setpriv"
	printf '#!/bin/bash\nexec setpriv --bounding-set=-sys_nice %s "$@"\n' "$CS_DUMP" >"$T/dump-nonice"
	chmod +x "$T/dump-nonice"
	CS_DUMP=$T/dump-nonice round_trip attrs
	grep -q "timer slack of thread [0-9]*: /proc is EPERM (no CAP_SYS_NICE here), asked remotely" "$T/dump.log"
}
