#!/usr/bin/env bats
# t030-features.bats - image compatibility through inventory.features
# (lib/imgfeatures.h, checksync-images(5)): cs-dump names exactly the image
# semantics the dump used, and cs-restore refuses images naming a feature
# it does not know (as a newer cs-dump's would), with one line naming the
# feature and the checksync that wrote them, creating nothing; cs-show
# still shows such images, with the unknown features marked. The chain of
# a --track-mem series is checked in t700-incremental.bats.
#
# The unknown feature comes from CS_TEST_FEATURE, cs-dump's test hook
# (cs-dump(8) ENVIRONMENT). test/c/files is the target: it checks its files
# and locks itself on SIGUSR2.

load helpers

FILES=$CS_BUILDDIR/test/c/files

require_files() {
	require_cs
	[ -x "$FILES" ] || skip "$FILES is not built (make test/c/files)"
	command -v jq >/dev/null || skip "jq is not installed"
}

# features: the inventory's features of $T/img, one line, space-separated.
features() {
	"$CS_SHOW" "$T/img" | jq -r '.inventory.features // [] | join(" ")'
}

# has_feature NAME / lacks_feature NAME, against $FEAT (set by the caller).
has_feature() {
	case " $FEAT " in *" $1 "*) return 0 ;; esac
	echo "the inventory does not name feature $1: [$FEAT]" >&2
	return 1
}
lacks_feature() {
	case " $FEAT " in *" $1 "*) echo "the inventory names feature $1: [$FEAT]" >&2; return 1 ;; esac
	return 0
}

# expect_refusal WORDS: cs-restore -d exits 1 with one line holding WORDS
# (a grep pattern), and PID $PID does not exist.
expect_refusal() {
	local st=0
	(close_fds; exec timeout -k 5 60 "$CS_RESTORE" -D "$T/img" -d -v4 -o "$T/restore.log") \
		</dev/null >"$T/restore.out" 2>&1 || st=$?
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1" >&2; cat "$T/restore.out" >&2; return 1; }
	grep -q -- "$1" "$T/restore.out" ||
		{ echo "cs-restore did not say '$1':" >&2; cat "$T/restore.out" >&2; return 1; }
	[ "$(wc -l <"$T/restore.out")" = 1 ] || { echo "more than one line:" >&2; cat "$T/restore.out" >&2; return 1; }
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
}

@test "features: a plain dump names none of the optional features, and restores" {
	require_files
	local f
	start_prog files fds
	dump_killed
	FEAT=$(features)
	for f in file-locks ghost-files pty tcp-established tcp-half-closed ext-unix-sk unix-icons unix-xproc pidns netlock \
		incremental shmem ghost-maps link-remap netlink packet thread-creds raw-sockets; do
		lacks_feature "$f"
	done
	[ "$("$CS_SHOW" "$T/img" | jq -c .unknown_features)" = "[]" ]
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "features: a --file-locks dump of a process holding locks and deleted files names file-locks and ghost-files" {
	require_files
	start_prog files locks deleted
	dump_killed --file-locks
	FEAT=$(features)
	has_feature file-locks
	has_feature ghost-files
	lacks_feature ghost-maps
	lacks_feature pty
	restore_wait --file-locks
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "features: cs-restore refuses images naming a feature it does not know, creating nothing; cs-show marks it" {
	require_files
	local ver
	ver=$("$CS_DUMP" -V | awk '{ print $2 }')
	start_prog files fds
	CS_TEST_FEATURE=x-from-the-future dump_killed
	FEAT=$(features)
	has_feature x-from-the-future
	expect_refusal "feature 'x-from-the-future' (written by checksync $ver), unknown to checksync $ver"
	# cs-show: the images are shown, the unknown feature marked, with a warning
	"$CS_SHOW" "$T/img" >"$T/show.json" 2>"$T/show.err"
	[ "$(jq -c .unknown_features "$T/show.json")" = '["x-from-the-future"]' ]
	grep -q "x-from-the-future" "$T/show.err"
}

@test "features: cs-restore refuses images of another format version, naming both and the writer" {
	require_files
	local ver
	[ -x "$CS_BUILDDIR/test/c/img-edit" ] || skip "img-edit is not built (make test/c/img-edit)"
	ver=$("$CS_DUMP" -V | awk '{ print $2 }')
	start_prog files fds
	dump_killed
	"$CS_BUILDDIR/test/c/img-edit" "$T/img" format-version 2
	expect_refusal "format version 2 (written by checksync $ver); this checksync ($ver) reads version 1"
}
