#!/usr/bin/env bats
# t550-linkremap.bats - a file with two names, opened (and mapped) by one
# name, which is then unlinked while the other stays (st_nlink 1): cs-dump
# refuses it unless --link-remap, which links the open inode again as
# .cs-link-remap.DEV.INO next to it and names that link in ghost-files.img
# (feature link-remap); cs-restore opens the file through the link and
# removes it once the restore succeeded; so for mappings and the
# executable, and in a tree. test/c/linkremap checks on SIGUSR2
# that its fds are the inode the other name names (st_ino), with their
# offsets and flags, that writes through them (and through a MAP_SHARED
# mapping) are seen through the other name, and that the directory holds
# that name only (the link is gone).
#
# Also: without --link-remap the dump is refused (one line, the process
# goes on, no images); a failed dump (CS_FAULT) leaves no link, a killed
# one (exit:link-remap) leaves it and the next dump uses it; a failed
# restore leaves the link and the images restore after; cs-dump -R leaves
# the link for the images, and a second -R dump uses it again; a link gone
# or changed (mtime, or another inode renamed over it) refuses the
# restore, naming it; a file on a read-only
# mount cannot be linked: refused, naming it.

load helpers

LR=$CS_BUILDDIR/test/c/linkremap

require_lr() {
	require_cs
	[ -x "$LR" ] || skip "$LR is not built (make test/c/linkremap)"
}

teardown() {
	local m
	for m in ro m; do
		if [ -n "${T:-}" ] && mountpoint -q "$T/$m" 2>/dev/null; then
			umount "$T/$m"
		fi
	done
	cs_teardown
}

# links: the --link-remap links in $T/lr, one per line
links() {
	ls -A "$T/lr" | grep '^\.cs-link-remap\.' || true
}

# expect_link: exactly one link in $T/lr, the inode of $T/lr/b; LINK = its path
expect_link() {
	local l
	l=$(links)
	[ -n "$l" ] && [ "$(wc -l <<<"$l")" = 1 ] || { echo "want one link in $T/lr: $(ls -A "$T/lr")" >&2; return 1; }
	LINK=$T/lr/$l
	[ "$(stat -c %d:%i "$LINK")" = "$(stat -c %d:%i "$T/lr/b")" ] ||
		{ echo "$LINK is not the inode of $T/lr/b" >&2; return 1; }
	[[ $l =~ ^\.cs-link-remap\.[0-9]+\.[0-9]+$ ]] || { echo "unexpected name $l" >&2; return 1; }
}

no_link() {
	[ -z "$(links)" ] || { echo "links left in $T/lr: $(links)" >&2; return 1; }
}

# run_restore OPTS...: cs-restore -d; ST, stderr in $T/err
run_restore() {
	ST=0
	(close_fds; exec timeout -k 5 60 "$CS_RESTORE" -D "$T/img" -d -v4 -o "$T/restore.log" "$@") \
		</dev/null >"$T/out" 2>"$T/err" || ST=$?
	cat "$T/err" >>"$T/restore.out"
}

# expect_restore_refusal WORDS... -- OPTS: one line holding every WORD, status 1, no process
expect_restore_refusal() {
	local words=() w
	while [ $# -gt 0 ] && [ "$1" != -- ]; do words+=("$1"); shift; done
	shift
	run_restore "$@"
	[ "$ST" = 1 ] || { echo "cs-restore $*: status $ST, want 1: $(cat "$T/err")" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line on stderr:" >&2; cat "$T/err" >&2; return 1; }
	for w in "${words[@]}"; do
		grep -qF -- "$w" "$T/err" || { echo "\"$w\" not in: $(cat "$T/err")" >&2; return 1; }
	done
	[ ! -e "/proc/$PID" ] || { echo "process $PID exists after the refused restore" >&2; return 1; }
}

@test "linkremap: the checks pass on an undisturbed process (control)" {
	require_lr
	control linkremap fd
	rm -rf "$T/lr"
	control linkremap map
	rm -rf "$T/lr"
	control linkremap tree
	rm -rf "$T/lr"
	control linkremap exe
}

@test "linkremap: the checks catch a copy of the file, a wrong offset or flags, a name left, a private copy of a shared mapping, a child's lost writes, an executable's second name (negative control)" {
	require_lr
	local m
	for m in copy offset flags leftover; do
		rm -rf "$T/lr"
		expect_detects linkremap "$m" fd || { echo "CS_TEST_CORRUPT=$m was not detected" >&2; return 1; }
	done
	rm -rf "$T/lr"
	expect_detects linkremap shared map
	rm -rf "$T/lr"
	expect_detects linkremap child tree
	rm -rf "$T/lr"
	expect_detects linkremap exelink exe
}

@test "linkremap: fds on a file deleted under its name, with another name left, come back on that inode with --link-remap" {
	require_lr
	start_prog linkremap fd
	dump_killed --link-remap
	expect_features "$T/img" +link-remap +ghost-files -ghost-maps
	# the link stays for the restore
	expect_link
	if command -v jq >/dev/null; then
		[ "$("$CS_SHOW" "$T/img" | jq -r '.images["ghost-files.img"][0].link_remap')" = "$LINK" ] &&
			[ "$("$CS_SHOW" "$T/img" | jq -r '.images["ghost-files.img"][0].data')" = "" ] ||
			{ echo "ghost-files.img:" >&2; "$CS_SHOW" "$T/img" | jq -c '.images["ghost-files.img"]' >&2; return 1; }
	fi
	restore_wait
	no_link
	grep -q "removed the --link-remap link $LINK" "$T/restore.log"
	[ "$(readlink "/proc/$PID/fd/10")" = "$T/lr/a (deleted)" ]
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "linkremap: MAP_SHARED and MAP_PRIVATE mappings of such a file come back on that inode" {
	require_lr
	start_prog linkremap map
	dump_killed --link-remap
	expect_features "$T/img" +link-remap +ghost-maps
	expect_link
	restore_wait
	no_link
	[ "$(grep -c "$T/lr/a (deleted)" "/proc/$PID/maps")" = 2 ] ||
		{ echo "maps of $PID:" >&2; cat "/proc/$PID/maps" >&2; return 1; }
	wake_and_wait "$RPID"
	assert_prog_ok
}

# The executable (a copy of test/c/linkremap, x, with a second name y) is
# deleted under the name it runs by: its mappings and /proc/PID/exe come
# from the link (PR_SET_MM_MAP exe_fd), one link with the fds' file.
@test "linkremap: an executable deleted under the name it runs by, with another name left, comes back with --link-remap" {
	require_lr
	local l
	start_prog linkremap exe
	[ "$PROG_EXE" = "$T/lr/x (deleted)" ] || { echo "exe: $PROG_EXE" >&2; return 1; }
	dump_killed --link-remap
	expect_features "$T/img" +link-remap +ghost-maps
	l=$(links)
	[ "$(wc -l <<<"$l")" = 2 ] || { echo "want two links in $T/lr: $(ls -A "$T/lr")" >&2; return 1; }
	if command -v jq >/dev/null; then
		[ "$("$CS_SHOW" "$T/img" | jq '[.images["ghost-files.img"][] | select(.exe and .link_remap)] | length')" = 1 ] ||
			{ echo "ghost-files.img:" >&2; "$CS_SHOW" "$T/img" | jq -c '.images["ghost-files.img"]' >&2; return 1; }
	fi
	restore_wait
	no_link
	[ "$(readlink "/proc/$PID/exe")" = "$T/lr/x (deleted)" ] ||
		{ echo "exe: $(readlink "/proc/$PID/exe")" >&2; return 1; }
	wake_and_wait "$RPID"
	assert_prog_ok
}

# The file's directory is gone: the link goes to the root of its mount (a
# bind mount of $T/m), and the restored fds name the link, deleted.
@test "linkremap: a file whose directory is gone too is linked in the root of its mount" {
	require_lr
	local l
	mkdir "$T/m"
	mount --bind "$T/m" "$T/m" || skip "cannot bind-mount here"
	mkdir "$T/m/lr"
	start_prog linkremap subdir "$T/m/lr"
	[ "$(readlink "/proc/$PID/fd/10")" = "$T/m/lr/sub/a (deleted)" ]
	dump_killed --link-remap
	l=$(ls -A "$T/m" | grep '^\.cs-link-remap\.') || { echo "no link in $T/m: $(ls -A "$T/m")" >&2; return 1; }
	LINK=$T/m/$l
	[ "$(stat -c %i "$LINK")" = "$(stat -c %i "$T/m/lr/b")" ] || { echo "$LINK is not $T/m/lr/b" >&2; return 1; }
	restore_wait
	[ ! -e "$LINK" ] || { echo "$LINK left" >&2; return 1; }
	[ "$(readlink "/proc/$PID/fd/10")" = "$LINK (deleted)" ] ||
		{ echo "fd 10: $(readlink "/proc/$PID/fd/10")" >&2; return 1; }
	wake_and_wait "$RPID"
	assert_prog_ok
}

# The child inherits the fds (one open file description with the parent's:
# taken from it at restore, never linked or opened again) and the mappings
# (its own entry, naming the same link): one link for the tree.
@test "linkremap: a tree whose two processes share such a file gets one link, and shares the file again" {
	require_lr
	local child
	start_prog linkremap tree
	child=$(tr -d ' ' <"/proc/$PID/task/$PID/children")
	[ -n "$child" ] || { echo "$PID has no child" >&2; return 1; }
	record_pid "$child"
	dump_killed --link-remap
	expect_link
	if command -v jq >/dev/null; then
		[ "$("$CS_SHOW" "$T/img" | jq -r --arg c "ghost-files-$child.img" '.images[$c][0].link_remap')" = "$LINK" ] &&
			[ "$("$CS_SHOW" "$T/img" | jq -r --arg c "ghost-files-$child.img" '.images[$c][0].fds | length')" = 0 ] ||
			{ echo "ghost-files-$child.img:" >&2; "$CS_SHOW" "$T/img" | jq -c --arg c "ghost-files-$child.img" '.images[$c]' >&2; return 1; }
	fi
	restore_wait
	no_link
	[ "$(stat -L -c %d:%i "/proc/$child/fd/10")" = "$(stat -c %d:%i "$T/lr/b")" ] ||
		{ echo "fd 10 of the child $child is not $T/lr/b" >&2; return 1; }
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "linkremap: without --link-remap the dump is refused, naming the fd, the file and the option; the process goes on" {
	require_lr
	start_prog linkremap map
	refused "fd 10 is file $T/lr/a (deleted), deleted under this name but with 1 other hard link(s)" \
		"not supported without --link-remap"
	no_link
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "linkremap: a dump failing after the link was made leaves no link, and the process goes on" {
	require_lr
	local step st
	start_prog linkremap map
	for step in link-remap write rename; do
		st=0
		CS_FAULT=$step timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img" --link-remap -v4 \
			-o "$T/dump.log" </dev/null >>"$T/dump.out" 2>&1 3>&- || st=$?
		[ "$st" = 1 ] || { echo "CS_FAULT=$step: status $st, want 1" >&2; return 1; }
		grep -q "fault injection: step $step fails" "$T/dump.out" ||
			{ echo "CS_FAULT=$step: the step was not reached" >&2; return 1; }
		grep -q "removed the --link-remap link" "$T/dump.log" ||
			{ echo "CS_FAULT=$step: no link removed in the log" >&2; return 1; }
		no_link || { echo "after CS_FAULT=$step" >&2; return 1; }
		[ ! -e "$T/img" ] || { echo "CS_FAULT=$step: $T/img left" >&2; return 1; }
	done
	wake_and_wait "$PID"
	assert_prog_ok
}

# A cs-dump that dies after making the link (CS_FAULT=exit:link-remap, as
# SIGKILL would) cannot remove it: the file keeps one more name (a third
# trace, cs-dump(8) NOTES). The next dump finds it (the same inode) and
# uses it; the restore of its images removes it.
@test "linkremap: a cs-dump killed after making the link leaves it; the next dump uses it and its restore removes it" {
	require_lr
	local st=0
	start_prog linkremap fd
	CS_FAULT=exit:link-remap timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img" --link-remap -v4 \
		-o "$T/dump.log" </dev/null >>"$T/dump.out" 2>&1 3>&- || st=$?
	[ "$st" = 42 ] || { echo "CS_FAULT=exit:link-remap: status $st, want 42" >&2; return 1; }
	[ ! -e "$T/img" ] || { echo "$T/img left by the killed dump" >&2; return 1; }
	expect_link
	[ "$(proc_state "$PID")" = S ] || { echo "process $PID: state $(proc_state "$PID")" >&2; return 1; }
	rm -f "$T/dump.log"
	dump_killed --link-remap
	grep -q "already linked (an earlier dump) as $LINK" "$T/dump.log" ||
		{ echo "the dump did not use the link left" >&2; return 1; }
	restore_wait
	no_link
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "linkremap: a failed restore leaves the link, and the images restore after" {
	require_lr
	local step
	start_prog linkremap fd
	dump_killed --link-remap
	expect_link
	for step in create finish; do
		ST=0
		(close_fds; CS_FAULT=$step exec timeout -k 5 60 "$CS_RESTORE" -D "$T/img" -d -v4 -o "$T/restore.log") \
			</dev/null >>"$T/restore.out" 2>&1 || ST=$?
		[ "$ST" = 1 ] || { echo "CS_FAULT=$step: status $ST, want 1" >&2; return 1; }
		wait_pid_gone "$PID"
		[ -e "$LINK" ] || { echo "CS_FAULT=$step: the link $LINK was removed" >&2; return 1; }
	done
	restore_wait
	no_link
	wake_and_wait "$RPID"
	assert_prog_ok
}

# -R: the process goes on (its own checks would see the link: it is killed
# instead); the link stays for the images, and a second -R dump uses it
# again. The images of the second restore; the first images then find
# their link gone and are refused, naming it.
@test "linkremap: cs-dump -R leaves the link for its images; a second -R dump uses it again; a restore removes it" {
	require_lr
	local first
	start_prog linkremap fd
	dump_running --link-remap
	expect_link
	first=$LINK
	mv "$T/img" "$T/img1"
	mv "$T/dump.log" "$T/dump1.log"
	dump_running --link-remap
	expect_link
	[ "$LINK" = "$first" ] || { echo "second link $LINK, first $first" >&2; return 1; }
	grep -q "already linked (an earlier dump) as $LINK" "$T/dump.log" ||
		{ echo "the second dump did not say it used the link again" >&2; return 1; }
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null || true
	wait_pid_gone "$PID"
	restore_wait
	no_link
	wake_and_wait "$RPID"
	assert_prog_ok
	# the first images: their link is gone
	rm -rf "$T/img"
	mv "$T/img1" "$T/img"
	expect_restore_refusal "fd 10: file $T/lr/a (deleted under this name at the dump): its --link-remap link $first" \
		"No such file or directory" --
}

# A copy of the file, of the same size and mtime (cp -p), renamed over the
# link: size and mtime pass, but it is not the inode the other names lead
# to, and the process would no longer share the file with them: refused,
# naming the link and both inodes; the original linked back, the restore
# works.
@test "linkremap: a link renamed over by a copy (same size and mtime) refuses the restore, naming it" {
	require_lr
	start_prog linkremap fd
	dump_killed --link-remap
	expect_link
	cp -p "$LINK" "$T/lr/copy"
	mv "$T/lr/copy" "$LINK"
	expect_restore_refusal "fd 10: file $T/lr/a (deleted under this name at the dump): its --link-remap link $LINK is another file now" \
		"was $(stat -c %i "$T/lr/b")" "--file-validation=none" --
	ln -f "$T/lr/b" "$LINK"
	restore_wait
	no_link
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "linkremap: a link whose mtime changed refuses the restore, naming it, unless --file-validation=filesize" {
	require_lr
	start_prog linkremap fd
	dump_killed --link-remap
	expect_link
	touch -m -d @1000000000 "$T/lr/b"
	expect_restore_refusal "fd 10: file $LINK changed since the dump" "mtime" "--file-validation=filesize" --
	[ -e "$LINK" ] || { echo "the refused restore removed $LINK" >&2; return 1; }
	restore_wait --file-validation=filesize
	no_link
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "linkremap: a file on a read-only mount cannot be linked again: refused, naming it; the process goes on" {
	require_lr
	mkdir "$T/ro"
	mount --bind "$T/ro" "$T/ro" || skip "cannot bind-mount here"
	start_prog linkremap ro "$T/ro"
	mount -o remount,bind,ro "$T/ro" || skip "cannot make the bind mount read-only"
	DUMP_OPTS=(--link-remap)
	refused "fd 13: cannot link file $T/ro/a (deleted under this name, 1 other hard link(s)) again for --link-remap" \
		"Read-only file system"
	[ -z "$(ls -A "$T/ro" | grep -v '^b$')" ] || { echo "left in $T/ro: $(ls -A "$T/ro")" >&2; return 1; }
	wake_and_wait "$PID"
	assert_prog_ok
}
