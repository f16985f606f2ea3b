#!/usr/bin/env bats
# t500-files.bats - open files: flags, offsets, shared open file descriptions
# and devices; files deleted while open (contents saved in ghost-files.img);
# flock, POSIX and OFD locks (--file-locks); files changed since the dump
# (--file-validation). See test/c/files.c: the program checks every value
# itself on SIGUSR2.
#
# Refusals: a process holding a lock without --file-locks (cs-dump), an
# image with locks without --file-locks (cs-restore), a lock someone else
# holds at restore time, a file changed since the dump, a deleted file above
# --ghost-limit. Each: exit status 1, one line on stderr naming the file,
# and nothing left behind (the target running, or no process and no file).

load helpers

FILES=$CS_BUILDDIR/test/c/files

require_files() {
	require_cs
	[ -x "$FILES" ] || skip "$FILES is not built (make test/c/files)"
}

# run_restore OPTS...: cs-restore -d -D $T/img OPTS, stdout and stderr kept
# apart in $T/out and $T/err; sets ST. (-d: a refusal comes back at once,
# and a success leaves the process to restore_wait's callers.)
run_restore() {
	ST=0
	(close_fds; exec timeout -k 5 60 "$CS_RESTORE" -D "$T/img" -d -v4 -o "$T/restore.log" "$@") \
		</dev/null >"$T/out" 2>"$T/err" || ST=$?
	{ echo "\$ cs-restore -D $T/img $*  (status $ST)"; sed 's/^/  stdout: /' "$T/out"
	  sed 's/^/  stderr: /' "$T/err"; } >>"$T/restore.out"
}

# expect_restore_refusal WORDS... -- OPTS...: cs-restore OPTS exits 1 with
# one line on stderr holding every WORD, and creates nothing: no process
# $PID, no recreated deleted file next to the program's files.
expect_restore_refusal() {
	local words=() w
	while [ $# -gt 0 ] && [ "$1" != -- ]; do words+=("$1"); shift; done
	shift
	run_restore "$@"
	if [ "$ST" != 1 ]; then
		echo "cs-restore $*: exit status $ST, want 1; stderr: $(cat "$T/err")" >&2
		return 1
	fi
	if [ "$(wc -l <"$T/err")" != 1 ]; then
		echo "cs-restore $*: want one line on stderr, got:" >&2
		cat "$T/err" >&2
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
	if ls "$T"/g-* "$T"/*cs-ghost* >/dev/null 2>&1; then
		echo "files left after the refused restore: $(ls "$T"/g-* "$T"/*cs-ghost* 2>/dev/null)" >&2
		return 1
	fi
}

# expect_dump_refusal WORDS...: cs-dump -t $PID exits 1, one line on stderr
# naming every WORD, no image directory; the target goes on unharmed.
expect_dump_refusal() {
	local st=0 w
	timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img" -v4 -o "$T/dump.log" \
		</dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	{ echo "\$ cs-dump -t $PID  (status $st)"; sed 's/^/  stderr: /' "$T/err"; } >>"$T/dump.out"
	if [ "$st" != 1 ] || [ "$(wc -l <"$T/err")" != 1 ]; then
		echo "cs-dump: status $st (want 1), stderr: $(cat "$T/err")" >&2
		return 1
	fi
	for w in "$@"; do
		grep -qF -- "$w" "$T/err" && continue
		echo "cs-dump: \"$w\" not in: $(cat "$T/err")" >&2
		return 1
	done
	[ ! -e "$T/img" ] || { echo "cs-dump left $T/img behind" >&2; return 1; }
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")" = 0 ] ||
		{ echo "$PID is still traced" >&2; return 1; }
}

# start_holder KIND PATH: another process takes KIND (flock, posix, ofd) on
# PATH, a write lock on the whole file; sets HOLDER. Its output does not go
# to prog.out: the dumped program has that file open and it must not change.
start_holder() {
	local i ready=$T/hold-$1.ready
	(close_fds; exec "$FILES" "$ready" hold "$1" "$2") </dev/null >>"$T/prog-hold.out" 2>&1 &
	HOLDER=$!
	record_pid "$HOLDER"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$ready" ] && return 0
		kill -0 "$HOLDER" 2>/dev/null || break
		sleep 0.1
	done
	echo "the lock holder did not start: $(cat "$T/prog-hold.out")" >&2
	return 1
}

stop_holder() {
	kill -USR2 "$HOLDER"
	wait "$HOLDER"
}

@test "files: the checks pass on an undisturbed process (control)" {
	require_files
	control files all
}

@test "files: the checks catch changed flags, offsets, sharing, devices, contents and locks (negative control)" {
	require_files
	expect_detects_all files "offset flags cloexec share dev content nlink size flock flock-sh posix ofd" all
}

@test "files: flags, offsets, shared open files, devices and deleted files survive dump and restore" {
	require_files
	round_trip files fds deleted
}

@test "files: flock, POSIX and OFD locks are held again after restore with --file-locks" {
	require_files
	start_prog files all
	dump_killed --file-locks
	if command -v jq >/dev/null; then
		# wal-0, wal-1, db, shared, ranges (2), ofd (2), the deleted g-twice;
		# four deleted files
		[ "$("$CS_SHOW" "$T/img" | jq '.images["file-locks.img"] | length')" = 9 ] ||
			{ echo "file-locks.img does not hold 9 locks" >&2; "$CS_SHOW" "$T/img" >&2; return 1; }
		[ "$("$CS_SHOW" "$T/img" | jq '.images["ghost-files.img"] | length')" = 4 ] ||
			{ echo "ghost-files.img does not hold 4 files" >&2; return 1; }
	fi
	restore_wait --file-locks
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "files: cs-dump -R leaves files and locks intact, and its image restores once the original is gone" {
	require_files
	start_prog files all
	dump_running --file-locks
	wake_and_wait "$PID"
	assert_prog_ok
	# the original wrote its result to prog.out, which the image has open
	# as stdout: that file changed since the dump, on purpose
	expect_restore_refusal "prog.out" "changed since the dump" -- --file-locks
	restore_wait --file-locks --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "files: a deleted file of 3 MB is saved with --ghost-limit 4M, refused with the default 1M" {
	require_files
	start_prog files big 3000000
	expect_dump_refusal "fd " "$T/g-big" "3000000 bytes" "--ghost-limit" "1048576"
	dump_killed --ghost-limit 4M
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

# A cs-restore killed while it recreates a deleted file leaves nothing at
# its path: the contents are written into an unnamed file (O_TMPFILE) that
# gets the name only to be opened and unlinked (before: the half-written
# copy stayed at the path). Six SIGKILLs spread over a restore's duration.
@test "files: a cs-restore killed while it recreates a deleted file of 150 MB leaves no file at its path" {
	require_files
	local i t0 us st
	start_prog files big 150000000
	dump_killed --ghost-limit 192M
	t0=$(date +%s%N)
	restore_wait
	us=$((($(date +%s%N) - t0) / 1000))
	kill -9 "$PID"
	wait_pid_gone "$PID"
	for ((i = 1; i <= 6; i++)); do
		(close_fds; exec "$CS_RESTORE" -D "$T/img" -d) </dev/null >/dev/null 2>&1 &
		sleep "$(printf '%d.%06d' $((us * i / 7 / 1000000)) $((us * i / 7 % 1000000)))"
		kill -9 $! 2>/dev/null || true
		st=0
		wait $! || st=$?
		if ls "$T"/g-big* >/dev/null 2>&1; then
			echo "SIGKILL at $i/7 of the restore (status $st): left $(ls -l "$T"/g-big*)" >&2
			return 1
		fi
		[ "$st" = 0 ] && kill -9 "$PID"
		wait_pid_gone "$PID"
	done
}

@test "files: cs-dump --ghost-limit rejects a bad size" {
	require_cs
	local s st
	for s in 1X -1 '' 193M 1G; do
		st=0
		"$CS_DUMP" -t 1 -D "$T/x" --ghost-limit "$s" 2>"$T/err" || st=$?
		[ "$st" = 1 ] && grep -q -- "--ghost-limit" "$T/err" ||
			{ echo "--ghost-limit '$s': status $st: $(cat "$T/err")" >&2; return 1; }
	done
}

@test "files: refused without --file-locks: cs-dump on a process holding locks, cs-restore of an image with locks" {
	require_files
	start_prog files locks
	expect_dump_refusal "fd " "$T/wal-0" "POSIX" "lock" "--file-locks"
	dump_killed --file-locks
	expect_restore_refusal "$T/wal-0" "POSIX" "--file-locks" --
	restore_wait --file-locks
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "files: a lock another process holds at restore time refuses the restore, naming the file" {
	require_files
	start_prog files locks
	dump_killed --file-locks
	start_holder posix "$T/wal-0"
	expect_restore_refusal "$T/wal-0" "POSIX write lock" "process $HOLDER holds a write lock" -- --file-locks
	stop_holder
	start_holder flock "$T/db"
	expect_restore_refusal "$T/db" "exclusive flock" "another process holds a flock" -- --file-locks
	stop_holder
	start_holder ofd "$T/ranges"
	expect_restore_refusal "$T/ranges" "POSIX write lock on bytes 5-14" "OFD write lock of another process" \
		-- --file-locks
	stop_holder
	restore_wait --file-locks
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "files: a file whose size changed since the dump refuses the restore unless --file-validation=none" {
	require_files
	start_prog files fds deleted
	dump_killed
	printf x >>"$T/f-append"
	expect_restore_refusal "$T/f-append" "changed since the dump" "size 20 -> 21" --
	expect_restore_refusal "$T/f-append" "size 20 -> 21" -- --file-validation=filesize
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "files: a file whose mtime changed refuses the restore unless --file-validation=filesize" {
	require_files
	start_prog files fds
	dump_killed
	touch -m -d @1000000000 "$T/f-wronly"
	expect_restore_refusal "$T/f-wronly" "changed since the dump" "mtime" "-> 2001-09-09 01:46:40.000000000" \
		"--file-validation=filesize" --
	expect_restore_refusal "$T/f-wronly" "mtime" -- --file-validation=mtime
	restore_wait --file-validation=filesize
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "files: cs-restore --file-validation rejects an unknown mode" {
	require_cs
	local st=0
	"$CS_RESTORE" -D "$T" --file-validation=buildid 2>"$T/err" || st=$?
	[ "$st" = 1 ] && grep -q "mtime, filesize or none" "$T/err" ||
		{ echo "status $st: $(cat "$T/err")" >&2; return 1; }
}

@test "files: a deleted file whose name was taken again comes back under a name next to it" {
	require_files
	start_prog files deleted
	dump_killed
	echo "a new file" >"$T/g-append"
	restore_wait
	[ "$(cat "$T/g-append")" = "a new file" ] || { echo "the new $T/g-append was changed" >&2; return 1; }
	ls -l "/proc/$PID/fd/" | grep -q -- "g-append.cs-ghost.$PID.0 (deleted)" ||
		{ echo "no fd on g-append.cs-ghost.$PID.0 (deleted):" >&2; ls -l "/proc/$PID/fd/" >&2; return 1; }
	wake_and_wait "$RPID"
	# the name is the one difference, and the only one reported
	[ "$STATUS" = 1 ] || { echo "exit status $STATUS, want 1 (the name differs)" >&2; return 1; }
	[ "$(grep -c differs "$T/prog.out")" = 1 ] &&
		grep -q "g-append name in /proc/self/fd differs" "$T/prog.out" ||
		{ echo "want exactly the name to differ:" >&2; grep differs "$T/prog.out" >&2; return 1; }
}
