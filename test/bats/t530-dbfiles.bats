#!/usr/bin/env bats
# t530-dbfiles.bats - the files of a database, as etcd keeps them: open
# directories (one read part way), a preallocated WAL file written at its
# offset, a data file mapped MAP_SHARED past its end (bbolt) and a file
# written through a shared mapping. See test/c/dbfiles.c: the program
# checks every value itself on SIGUSR2.
#
# A shared file mapping is not saved: the restore maps the file again, so
# the file must be the one the process had mapped, checked as
# --file-validation says, like the files behind fds.

load helpers

DBFILES=$CS_BUILDDIR/test/c/dbfiles

require_dbfiles() {
	require_cs
	[ -x "$DBFILES" ] || skip "$DBFILES is not built (make test/c/dbfiles)"
}

# run_restore OPTS...: cs-restore -d OPTS; sets ST, stderr in $T/err
run_restore() {
	ST=0
	(close_fds; exec timeout -k 5 60 "$CS_RESTORE" -D "$T/img" -d -v4 -o "$T/restore.log" "$@") \
		</dev/null >"$T/out" 2>"$T/err" || ST=$?
	{ echo "\$ cs-restore -D $T/img $*  (status $ST)"; sed 's/^/  stderr: /' "$T/err"; } >>"$T/restore.out"
}

# expect_refusal WORDS... -- OPTS...: cs-restore OPTS exits 1 with one line
# naming every WORD, and no process $PID exists
expect_refusal() {
	local words=() w
	while [ $# -gt 0 ] && [ "$1" != -- ]; do words+=("$1"); shift; done
	shift
	run_restore "$@"
	[ "$ST" = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] ||
		{ echo "cs-restore $*: status $ST (want 1), stderr: $(cat "$T/err")" >&2; return 1; }
	for w in "${words[@]}"; do
		grep -qF -- "$w" "$T/err" ||
			{ echo "cs-restore $*: \"$w\" not in: $(cat "$T/err")" >&2; return 1; }
	done
	[ ! -e "/proc/$PID" ] || { echo "process $PID exists after the refused restore" >&2; return 1; }
}

@test "dbfiles: the checks pass on an undisturbed process (control)" {
	require_dbfiles
	control dbfiles
}

@test "dbfiles: the checks catch a moved directory offset, a private or copied mapping, a moved WAL offset (negative control)" {
	require_dbfiles
	expect_detects_all dbfiles "dirpos private shm-copy walpos"
}

@test "dbfiles: directories, the WAL file and the shared file mappings survive dump and restore" {
	require_dbfiles
	round_trip dbfiles
}

@test "dbfiles: cs-dump -R leaves them intact" {
	require_dbfiles
	start_prog dbfiles
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "dbfiles: a mapped file changed since the dump refuses the restore unless --file-validation allows it" {
	require_dbfiles
	start_prog dbfiles
	dump_killed
	# the same size, another mtime: what a write by another process leaves
	touch -m -d @1000000000 "$T/dbfiles/db"
	expect_refusal "mapping at 0x" "file $T/dbfiles/db changed since the dump" "mtime" \
		"--file-validation=filesize" --
	# a longer file
	truncate -s 72K "$T/dbfiles/shm"
	expect_refusal "mapping at 0x" "file $T/dbfiles/shm changed since the dump" "size 16384 -> 73728" \
		"--file-validation=none" -- --file-validation=filesize
	truncate -s 16K "$T/dbfiles/shm"
	restore_wait --file-validation=filesize
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "dbfiles: a directory that is gone, or no longer a directory, refuses the restore" {
	require_dbfiles
	start_prog dbfiles
	dump_killed
	# fd 3 is the directory (the program opens it first)
	mv "$T/dbfiles/wal" "$T/dbfiles/wal.old"
	expect_refusal "fd 3: cannot restore file $T/dbfiles/wal: No such file" -- --file-validation=none
	touch "$T/dbfiles/wal"
	expect_refusal "fd 3: $T/dbfiles/wal is no longer a directory" -- --file-validation=none
}
