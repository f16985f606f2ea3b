#!/usr/bin/env bats
# t230-shm.bats - shared anonymous memory and memfds, in one process and
# shared across a process tree: saved once per object (shmem.img and its
# page images), made once by cs-restore and mapped or opened again by
# every process that had it, so that a write by one is seen by the other.
#
# test/c/shm (see shm.c): a parent and a child sharing an anonymous shared
# region written by both, a memfd mapped shared in both (and privately in
# the parent) whose fd only the parent holds, a sealed memfd mapped in both
# read-only, and an anonymous shared region mapped in the parent alone,
# with holes. After the restore the parent and the child exchange tokens
# through the shared region and the memfd.
#
# Refused, with one line naming the mapping and the tree left running:
# SysV shared memory.

load helpers

SHM=$CS_BUILDDIR/test/c/shm

setup() {
	cs_setup
	export CS_RUN_DIR=$T/run	# --track-mem holders, in the test's own directory
}

require_shm() {
	require_cs
	[ -x "$SHM" ] || skip "$SHM is not built (make test/c/shm)"
}

show_q() {
	"$CS_SHOW" "$T/img" | jq -e "$1" >/dev/null || { echo "cs-show: not true: $1" >&2; return 1; }
}

child_of() {
	local c
	read -r c <"/proc/$1/task/$1/children"
	echo "$c"
}

@test "shm: control, the program's own checks pass without a dump" {
	[ -x "$SHM" ] || skip "$SHM is not built"
	control shm
}

@test "shm: negative control, each check catches a change" {
	[ -x "$SHM" ] || skip "$SHM is not built"
	expect_detects_all shm "share value seals name private"
}

@test "shm: round trip killed, shared between parent and child, every object saved once" {
	require_shm
	local c
	start_prog shm
	c=$(child_of "$PID")
	[ -n "$c" ] || { echo "no child" >&2; return 1; }
	dump_killed
	expect_features "$T/img" +shmem -pidns
	if command -v jq >/dev/null; then
		# S1, M1, M2, S2: four objects, each once
		show_q '.images["shmem.img"] | length == 4'
		show_q '[.images["shmem.img"][] | select(.kind == 2) | .name] | sort == ["cs-test-sealed", "cs-test-shared"]'
		show_q '.images["shmem.img"][] | select(.name == "cs-test-sealed") | .seals == 14 and .size == 12298'
		show_q '.images["shmem.img"][] | select(.name == "cs-test-shared") | .seals == 1 and .size == 32868'
		show_q ".images[\"mm-$c.img\"][0].vmas | map(select(.shmid)) | length == 3"
		show_q '.images | has("pagemap-shmem-1.img") and has("pages-shmem-4.img")'
		show_q '.images["files.img"] | map(select(.type == 23)) | length == 2'
	fi
	restore_wait
	[ -e "/proc/$c" ] || { echo "child $c was not restored" >&2; return 1; }
	grep -q "/dev/zero (deleted)" "/proc/$c/maps" || { echo "child: no shared anonymous mapping" >&2; return 1; }
	wake_and_wait "$RPID"
	assert_prog_ok
	[ "$(grep -c 'ok:' "$T/prog.out")" = 2 ] || { echo "want 2 verdicts (P C)" >&2; cat "$T/prog.out" >&2; return 1; }
}

@test "shm: cs-dump -R leaves the tree intact, and its images restore" {
	require_shm
	start_prog shm
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
	# its output file grew since the dump
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
	[ "$(grep -c "ok:" "$T/prog.out")" -ge 2 ]
}

@test "shm: the child holds the memfd fds too (shared descriptions, the same highest fd as its parent)" {
	require_shm
	round_trip shm keepfds
	[ "$(grep -c 'ok:' "$T/prog.out")" = 2 ] || { echo "want 2 verdicts (P C)" >&2; return 1; }
}

@test "shm: one process, round trip killed" {
	require_shm
	round_trip shm single
}

@test "shm: --track-mem: shared memory is saved whole in every checkpoint" {
	require_shm
	local st=0
	start_prog shm single
	timeout -k 5 120 "$CS_DUMP" -R --track-mem -t "$PID" -D "$T/c0" -v4 -o "$T/dump.log" \
		</dev/null >"$T/dump.out" 2>&1 3>&- || st=$?
	[ $st = 0 ] || { echo "first checkpoint: status $st" >&2; return 1; }
	timeout -k 5 120 "$CS_DUMP" -R --track-mem --prev-images-dir ../c0 -t "$PID" -D "$T/c1" -v4 \
		-o "$T/dump1.log" </dev/null >"$T/dump.out" 2>&1 3>&- || st=$?
	cat "$T/dump1.log" >>"$T/dump.log"
	[ $st = 0 ] || { echo "second checkpoint: status $st" >&2; return 1; }
	[ "$(readlink "$T/c1/parent")" = ../c0 ] || { echo "c1 is not incremental" >&2; return 1; }
	[ -s "$T/c1/pages-shmem-1.img" ] || { echo "c1 has no pages of object 1" >&2; ls "$T/c1" >&2; return 1; }
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null || true
	wait_pid_gone "$PID"
	ln -s "$T/c1" "$T/img"
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "refuse: SysV shared memory next to shared anonymous memory" {
	require_shm
	local st=0
	start_prog shm sysv
	timeout -k 5 60 "$CS_DUMP" -t "$PID" -D "$T/img" </dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	cat "$T/err" >>"$T/dump.out"
	[ "$st" = 1 ] || { echo "cs-dump: status $st, want 1" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line:" >&2; cat "$T/err" >&2; return 1; }
	grep -q "SysV shared memory" "$T/err" || { cat "$T/err" >&2; return 1; }
	[ ! -e "$T/img" ] || { echo "images left behind" >&2; return 1; }
	[ "$(proc_state "$PID")" = S ] || { echo "process $PID: state $(proc_state "$PID")" >&2; return 1; }
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "restore refuses images whose mappings name a shared memory object it lacks, creating nothing" {
	require_shm
	local edit=$CS_BUILDDIR/test/c/img-edit st=0
	[ -x "$edit" ] || skip "img-edit is not built"
	start_prog shm single
	dump_killed
	"$edit" "$T/img" drop shmem.img
	timeout 60 "$CS_RESTORE" -D "$T/img" -d >"$T/restore.out" 2>&1 || st=$?
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1" >&2; return 1; }
	grep -q "maps shared memory object [0-9]*, which shmem.img does not hold" "$T/restore.out" ||
		{ cat "$T/restore.out" >&2; return 1; }
	[ ! -e "/proc/$PID" ] || { echo "process $PID exists" >&2; return 1; }
}

@test "restore refuses shared memory with --pidns (not supported yet), creating nothing" {
	require_shm
	local st=0
	start_prog shm single
	dump_killed
	timeout 60 "$CS_RESTORE" -D "$T/img" -d --pidns >"$T/restore.out" 2>&1 || st=$?
	[ "$st" = 1 ] || { echo "cs-restore --pidns: status $st, want 1" >&2; cat "$T/restore.out" >&2; return 1; }
	grep -q -- "--pidns: process $PID maps shared memory" "$T/restore.out" ||
		{ cat "$T/restore.out" >&2; return 1; }
	[ "$(wc -l <"$T/restore.out")" = 1 ] || { echo "more than one line:" >&2; cat "$T/restore.out" >&2; return 1; }
	[ ! -e "/proc/$PID" ] || { echo "process $PID exists" >&2; return 1; }
}
