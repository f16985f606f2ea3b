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
# whose root directory is gone (cs-restore, in the check phase).

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
	expect_detects_all attrs "nice policy rtprio affinity nnp filter umask cwd personality oom"
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
