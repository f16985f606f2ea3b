#!/usr/bin/env bats
# t510-ghostmap.bats - a process (or a tree) whose executable, a shared library and a
# mapped data file were deleted while it runs, or whose executable was
# replaced by a new file at the same path (a daemon after a package
# upgrade): the files are saved as ghosts (ghost-files.img with vmas and
# exe, feature ghost-maps) read through /proc/PID/map_files, and mapped
# again from recreated, unlinked files; the new file at the path is never
# used, and nothing is left in the directory. test/c/ghostmap checks it
# all itself on SIGUSR2 (see its header).
#
# Refusals: a deleted file above --ghost-limit (cs-dump names the mapping,
# its size and the option); a mapping whose path a mount now covers; a
# deleted file mapped MAP_SHARED by one process of a tree and used by
# another (each would get its own copy).

load helpers

GM=$CS_BUILDDIR/test/c/ghostmap

require_gm() {
	require_cs
	[ -x "$GM" ] && [ -f "$CS_BUILDDIR/test/c/ghostmap-lib.so" ] ||
		skip "$GM is not built (make test/c/ghostmap test/c/ghostmap-lib.so)"
}

teardown() {
	# the refusal test's bind mount, if it is still there
	if [ -n "${T:-}" ] && mountpoint -q "$T/gm/gm-lib.so" 2>/dev/null; then
		umount "$T/gm/gm-lib.so"
	fi
	cs_teardown
}

# no_leftovers: nothing but what the program left in $T/gm (its own check
# covers the names it saw at set-up; this says what was found)
no_leftovers() {
	if ls "$T"/gm/*cs-ghost* >/dev/null 2>&1; then
		echo "recreated files left in $T/gm: $(ls "$T"/gm/)" >&2
		return 1
	fi
}

@test "ghostmap: the checks pass on an undisturbed process, deleted and replaced (control)" {
	require_gm
	control ghostmap deleted
	control ghostmap replaced
}

@test "ghostmap: the checks catch wrong code, mapped bytes, executable name, leftovers and a touched path (negative control)" {
	require_gm
	expect_detects_all ghostmap "code data shared exe leftover" deleted
	expect_detects ghostmap path replaced
}

@test "ghostmap: a deleted executable, library and mapped file survive dump and restore" {
	require_gm
	start_prog ghostmap deleted
	dump_killed
	expect_features "$T/img" +ghost-maps +ghost-files
	if command -v jq >/dev/null; then
		# three files, once each: the data file is an fd's ghost too
		[ "$("$CS_SHOW" "$T/img" | jq '[.images["ghost-files.img"][] | select(.vmas | length > 0)] | length')" = 3 ] &&
		[ "$("$CS_SHOW" "$T/img" | jq '[.images["ghost-files.img"][] | select(.exe)] | length')" = 1 ] &&
		[ "$("$CS_SHOW" "$T/img" | jq '.images["ghost-files.img"] | length')" = 3 ] ||
			{ echo "ghost-files.img: want 3 files, all mapped, one the executable:" >&2
			  "$CS_SHOW" "$T/img" | jq -c '.images["ghost-files.img"][] | del(.data)' >&2; return 1; }
	fi
	restore_wait
	[ "$(readlink "/proc/$PID/exe")" = "$T/gm/gm-exe (deleted)" ] ||
		{ echo "exe: $(readlink "/proc/$PID/exe")" >&2; return 1; }
	no_leftovers
	wake_and_wait "$RPID"
	assert_prog_ok
}

# -R: the process goes on; then it is killed and restored from the images.
# The executable's path names a new file: the ghost is recreated under a
# name next to it, which the process sees as deleted.
@test "ghostmap: a replaced executable (cs-dump -R) comes back from its ghost, the new file untouched" {
	require_gm
	start_prog ghostmap replaced
	dump_running
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null || true
	wait_pid_gone "$PID"
	PROG_EXE="$T/gm/gm-exe.cs-ghost.$PID.0 (deleted)"
	restore_wait
	[ "$(readlink "/proc/$PID/exe")" = "$PROG_EXE" ] ||
		{ echo "exe: $(readlink "/proc/$PID/exe"), want $PROG_EXE" >&2; return 1; }
	[ "$(cat "$T/gm/gm-exe")" = "a new executable, installed by the upgrade" ] ||
		{ echo "the new $T/gm/gm-exe was changed" >&2; return 1; }
	no_leftovers
	wake_and_wait "$RPID"
	assert_prog_ok
}

# nginx's master and workers after an upgrade: each process gets its own
# copy of the deleted executable and library.
@test "ghostmap: a tree whose two processes run the deleted executable and library comes back" {
	require_gm
	local child
	start_prog ghostmap fork
	child=$(tr -d ' ' <"/proc/$PID/task/$PID/children")
	[ -n "$child" ] || { echo "$PID has no child" >&2; return 1; }
	record_pid "$child"
	dump_killed
	restore_wait
	[ "$(readlink "/proc/$child/exe")" = "$T/gm/gm-exe (deleted)" ] &&
		[ "$(grep -c "$T/gm/gm-.* (deleted)" "/proc/$child/maps")" = 10 ] ||
		{ echo "child $child: exe $(readlink "/proc/$child/exe"), maps:" >&2; cat "/proc/$child/maps" >&2; return 1; }
	[ -z "$(ls -A "$T/gm")" ] || { echo "left in $T/gm: $(ls -A "$T/gm")" >&2; return 1; }
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "ghostmap: a deleted mapped file above --ghost-limit is refused, naming the mapping, its size and the option" {
	require_gm
	local st=0
	# 21K: room for the data file (20580 bytes, an fd's ghost too) and the
	# library, not for the executable
	[ "$(stat -c %s "$GM")" -gt 21504 ] || skip "$GM is smaller than 21K"
	start_prog ghostmap deleted
	timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img" --ghost-limit 21K -v4 -o "$T/dump.log" \
		</dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	cat "$T/err" >>"$T/dump.out"
	[ "$st" = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] ||
		{ echo "cs-dump: status $st (want 1), stderr: $(cat "$T/err")" >&2; return 1; }
	grep -qE "VMA 0x[0-9a-f]+-0x[0-9a-f]+: deleted file $T/gm/gm-exe of [0-9]+ bytes is more than the --ghost-limit of 21504 bytes" "$T/err" ||
		{ echo "unexpected refusal: $(cat "$T/err")" >&2; return 1; }
	[ ! -e "$T/img" ] || { echo "cs-dump left $T/img behind" >&2; return 1; }
	# the target goes on unharmed
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "ghostmap: a mapping whose path a mount now covers is refused (it would be mapped from the other file)" {
	require_gm
	local st=0
	start_prog ghostmap kept
	echo "another file" >"$T/other"
	mount --bind "$T/other" "$T/gm/gm-lib.so" || skip "cannot bind-mount here"
	timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img" -v4 -o "$T/dump.log" \
		</dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	umount "$T/gm/gm-lib.so"
	cat "$T/err" >>"$T/dump.out"
	[ "$st" = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] ||
		{ echo "cs-dump: status $st (want 1), stderr: $(cat "$T/err")" >&2; return 1; }
	grep -qE "VMA 0x[0-9a-f]+-0x[0-9a-f]+: $T/gm/gm-lib.so names another file or nothing now" "$T/err" ||
		{ echo "unexpected refusal: $(cat "$T/err")" >&2; return 1; }
	[ ! -e "$T/img" ] || { echo "cs-dump left $T/img behind" >&2; return 1; }
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "ghostmap: a deleted file mapped MAP_SHARED by two processes of the tree is refused" {
	require_gm
	local st=0
	start_prog ghostmap tree
	timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img" -v4 -o "$T/dump.log" \
		</dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	cat "$T/err" >>"$T/dump.out"
	[ "$st" = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] ||
		{ echo "cs-dump: status $st (want 1), stderr: $(cat "$T/err")" >&2; return 1; }
	grep -qE "deleted file $T/gm/gm-data is mapped MAP_SHARED \(at 0x[0-9a-f]+\) and used by processes $PID and [0-9]+ of the tree" "$T/err" ||
		{ echo "unexpected refusal: $(cat "$T/err")" >&2; return 1; }
	[ ! -e "$T/img" ] || { echo "cs-dump left $T/img behind" >&2; return 1; }
	wake_and_wait "$PID"
	assert_prog_ok
}

# A restore that fails once the ghosts are mapped (CS_FAULT=memory: after
# the mappings, before their pages; CS_FAULT=exit:threads: cs-restore
# _exit()s with the stub still holding the ghosts' fds) leaves no process
# and no file; the images still restore.
@test "ghostmap: a restore failing after the ghosts are mapped leaves no process and no file" {
	require_gm
	local step st
	start_prog ghostmap deleted
	dump_killed
	for step in memory exit:threads; do
		st=0
		(close_fds; CS_FAULT=$step exec timeout -k 5 60 "$CS_RESTORE" -D "$T/img" -d -v4 -o "$T/restore.log") \
			</dev/null >>"$T/restore.out" 2>&1 || st=$?
		[ "$st" != 0 ] || { echo "CS_FAULT=$step: cs-restore succeeded" >&2; return 1; }
		wait_pid_gone "$PID" || { echo "CS_FAULT=$step: process $PID is left" >&2; return 1; }
		[ -z "$(ls -A "$T/gm")" ] || { echo "CS_FAULT=$step: left $(ls -l "$T/gm")" >&2; return 1; }
	done
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

# A cs-restore killed at any moment leaves no recreated file: the names
# exist only between link and unlink inside the stub.
@test "ghostmap: a cs-restore killed at any point leaves nothing in the directory" {
	require_gm
	local i t0 us st
	start_prog ghostmap deleted
	dump_killed
	t0=$(date +%s%N)
	restore_wait
	us=$((($(date +%s%N) - t0) / 1000))
	kill -9 "$PID"
	wait_pid_gone "$PID"
	for ((i = 1; i <= 3; i++)); do
		(close_fds; exec "$CS_RESTORE" -D "$T/img" -d) </dev/null >/dev/null 2>&1 &
		sleep "$(printf '%d.%06d' $((us * i / 4 / 1000000)) $((us * i / 4 % 1000000)))"
		kill -9 $! 2>/dev/null || true
		st=0
		wait $! || st=$?
		if [ -n "$(ls -A "$T/gm")" ]; then
			echo "SIGKILL at $i/4 of the restore (status $st): left $(ls -l "$T/gm")" >&2
			return 1
		fi
		[ "$st" = 0 ] && kill -9 "$PID"
		wait_pid_gone "$PID"
	done
}
