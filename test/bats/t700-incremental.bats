#!/usr/bin/env bats
# t700-incremental.bats - checkpoint series with --track-mem: a full
# checkpoint, then incremental ones that hold only the pages written since
# their parent, restored from the last one through the chain of parents.
# test/c/incr changes its memory between checkpoints (SIGUSR1: next phase)
# and checks every page after the restore; the Go kvserver is checkpointed
# under load and checked key by key. Chains that are broken are refused
# before anything is created, and the holder process that keeps the
# tracking between checkpoints exits with its target.

load helpers

setup() {
	cs_setup
	# holders live in a run directory of the test's own
	export CS_RUN_DIR=$T/run
}

# advance N: SIGUSR1 to $PID; wait until incr says it reached phase N.
advance() {
	local i
	kill -USR1 "$PID"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ "$(cat "$T/ready.phase" 2>/dev/null)" = "$1" ] && return 0
		sleep 0.1
	done
	echo "incr did not reach phase $1 in 10 s (at $(cat "$T/ready.phase"))" >&2
	return 1
}

# ckpt DIR [OPTS...]: cs-dump -R --track-mem -t $PID -D $T/DIR OPTS; stats in $T/DIR.stats.
ckpt() {
	local dir=$1 st=0
	shift
	timeout -k 5 120 "$CS_DUMP" -R --track-mem -t "$PID" -D "$T/$dir" -v4 -o "$T/dump-$dir.log" \
		--display-stats "$@" </dev/null >"$T/dump.out" 2>"$T/$dir.stats" 3>&- || st=$?
	cat "$T/dump-$dir.log" >>"$T/dump.log"
	if [ $st != 0 ]; then
		echo "cs-dump --track-mem -D $dir $* failed with status $st:" >&2
		cat "$T/$dir.stats" >&2
		return 1
	fi
}

# stat_of DIR FIELD: a field of the --display-stats line of checkpoint DIR.
stat_of() {
	local w
	for w in $(grep '^cs-dump: ' "$T/$1.stats"); do
		case $w in "$2"=*) echo "${w#*=}"; return 0 ;; esac
	done
	echo "no $2 in the stats of $1" >&2
	return 1
}

# expect_kind DIR full|incremental
expect_kind() {
	local k
	k=$(stat_of "$1" checkpoint) || return 1
	if [ "$k" != "$2" ]; then
		echo "checkpoint $1 is $k, want $2: $(cat "$T/$1.stats")" >&2
		return 1
	fi
}

# holder_pid: the PID of the holder serving $PID (from its pid file).
holder_pid() {
	local f
	for f in "$CS_RUN_DIR/$PID"-*.pid; do
		[ -s "$f" ] && { cat "$f"; return 0; }
	done
	return 1
}

# kill_and_restore DIR: kill the original, restore from $T/DIR, wait for it.
kill_and_restore() {
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null || true
	wait_pid_gone "$PID" || return 1
	rm -f "$T/img"
	ln -s "$1" "$T/img"
	restore_wait
}

# step I [OPTS...]: advance to phase I, checkpoint cI with parent ../c(I-1)
# and OPTS.
step() {
	local i=$1
	shift
	advance "$i"
	ckpt "c$i" --prev-images-dir "../c$((i - 1))" "$@"
}

# incr_step I [OPTS...]: step I OPTS; cI must be incremental.
incr_step() {
	step "$@"
	expect_kind "c$1" incremental
}

# restore_check N DIR [SECONDS]: kill incr, restore it (N tasks) from $T/DIR,
# let it run SECONDS, wake it: its checks pass.
restore_check() {
	NTASKS=$1
	kill_and_restore "$T/$2"
	[ -z "${3-}" ] || sleep "$3"
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "incr: control: the checks pass through three phases without a dump" {
	start_prog incr
	advance 1
	advance 2
	advance 3
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "incr: each check detects a change" {
	local m o
	for m in page stale remap newvma file phase; do
		# with "phase" the phase file runs one ahead
		o=0
		[ $m != phase ] || o=1
		CS_TEST_CORRUPT=$m start_prog incr
		advance $((1 + o))
		advance $((2 + o))
		advance $((3 + o))
		wake_and_wait "$PID"
		mv "$T/prog.out" "$T/prog-$m.out"
		[ "$STATUS" = 1 ] || { echo "CS_TEST_CORRUPT=$m: status $STATUS, want 1" >&2; return 1; }
		grep -q differs "$T/prog-$m.out" || { echo "CS_TEST_CORRUPT=$m: no difference reported" >&2; return 1; }
	done
}

@test "incr live: the live pages' check passes without a dump, and detects an older version" {
	start_prog incr incr-file live
	advance 1
	sleep 0.1
	wake_and_wait "$PID"
	assert_prog_ok
	CS_TEST_CORRUPT=live start_prog incr incr-file live
	sleep 0.1
	wake_and_wait "$PID"
	[ "$STATUS" = 1 ] || { echo "CS_TEST_CORRUPT=live: status $STATUS, want 1" >&2; return 1; }
	grep -q "live page 3 word 0 differs" "$T/prog.out" || { cat "$T/prog.out" >&2; return 1; }
	CS_TEST_CORRUPT=livestale start_prog incr incr-file live
	advance 1
	sleep 0.2
	wake_and_wait "$PID"
	[ "$STATUS" = 1 ] || { echo "CS_TEST_CORRUPT=livestale: status $STATUS, want 1" >&2; return 1; }
	grep -q "live page before its step differs" "$T/prog.out" || { cat "$T/prog.out" >&2; return 1; }
}

@test "incr: --pre-copy 1, 2 and 3 rounds while a thread writes and releases pages: every page restored" {
	require_cs
	start_prog incr incr-file live
	ckpt c0 --pre-copy 2
	expect_kind c0 full
	# a full checkpoint has nothing to pre-copy with
	! grep -q precopy_rounds "$T/c0.stats"
	local i kept=0 k
	for i in 1 2 3; do
		incr_step $i --pre-copy $i
		[ "$(stat_of c$i precopy_rounds)" = $i ]
		k=$(stat_of c$i pages_precopy_kept)
		kept=$((kept + k))
	done
	# big's pages written by each phase were copied before the freeze and kept
	[ "$kept" -ge 400 ] || { echo "only $kept pre-copied pages kept in c1..c3" >&2; return 1; }
	# the restored thread goes on writing for a while before the check
	restore_check 2 c3 0.2
}

@test "incr: --pre-copy 1 on two incremental checkpoints while a thread writes, restored from the second" {
	require_cs
	start_prog incr incr-file live
	ckpt c0
	incr_step 1 --pre-copy 1
	incr_step 2 --pre-copy 1
	# the phase file says 2: restore c2, where live pages changed between the round and the freeze
	restore_check 2 c2 0.1
}

@test "incr: a full checkpoint and three incremental ones, restored from the last" {
	require_cs
	start_prog incr
	ckpt c0
	expect_kind c0 full
	local i
	for i in 1 2 3; do
		incr_step $i
		[ "$(readlink "$T/c$i/parent")" = "../c$((i - 1))" ] ||
			{ echo "c$i/parent is $(readlink "$T/c$i/parent")" >&2; return 1; }
	done
	# only what was written: big has 2048 pages, about a fifth change per phase
	local w p
	w=$(stat_of c3 pages_written)
	p=$(stat_of c3 pages_parent)
	if [ "$w" -ge 1000 ] || [ "$p" -lt 1000 ]; then
		echo "c3 wrote $w pages and left $p in its parent: not incremental" >&2
		return 1
	fi
	restore_check 1 c3
}

@test "incr: pages released with MADV_DONTNEED or unmapped since the parent come back zero" {
	require_cs
	start_prog incr
	ckpt c0
	# phase 1 released and remapped pages; c1 must not take them from c0
	incr_step 1
	restore_check 1 c1
}

@test "incr: a mapping created between checkpoints is saved whole, then tracked" {
	require_cs
	start_prog incr
	ckpt c0
	advance 1
	ckpt c1 --prev-images-dir "$T/c0"
	advance 2
	ckpt c2 --prev-images-dir "$T/c1"
	expect_kind c2 incremental
	local u2 u3
	u2=$(stat_of c2 pages_untracked)
	# newvma (32 pages) and the remapped pages are new VMAs
	[ "$u2" -ge 32 ] || { echo "c2 saved only $u2 untracked pages" >&2; return 1; }
	step 3
	u3=$(stat_of c3 pages_untracked)
	restore_check 1 c3
}

@test "incr: the holder exits when its process exits; without it the next checkpoint is full" {
	require_cs
	start_prog incr
	ckpt c0
	local h
	h=$(holder_pid) || { echo "no holder pid file in $CS_RUN_DIR: $(ls "$CS_RUN_DIR")" >&2; return 1; }
	kill -0 "$h" || { echo "holder $h is not running" >&2; return 1; }
	[ -S "$CS_RUN_DIR/$(basename "$(ls "$CS_RUN_DIR/$PID"-*.pid)" .pid).sock" ]
	# the target has no userfaultfd in its fd table
	if ls -l "/proc/$PID/fd" | grep -q userfaultfd; then
		echo "the target holds a userfaultfd" >&2
		return 1
	fi
	# a holder that is gone: the next checkpoint says it is full
	kill -TERM "$h"
	wait_pid_gone "$h"
	step 1
	expect_kind c1 full
	grep -q 'full checkpoint: no tracking holder' "$T/dump-c1.log"
	[ ! -e "$T/c1/parent" ]
	h=$(holder_pid) || { echo "the full checkpoint started no holder" >&2; return 1; }
	incr_step 2
	# the target exits: so does its holder, removing its socket
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null || true
	wait_pid_gone "$h" 50
	if ls "$CS_RUN_DIR"/*.sock 2>/dev/null; then
		echo "the holder left its socket behind" >&2
		return 1
	fi
}

@test "incr: a parent that is not the last tracked checkpoint gives a full checkpoint" {
	require_cs
	start_prog incr
	ckpt c0
	step 1
	advance 2
	# c0 is not the last checkpoint: the pages written in phase 1 would be lost
	ckpt c2 --prev-images-dir ../c0
	expect_kind c2 full
	grep -q 'is not the last tracked checkpoint' "$T/dump-c2.log"
	incr_step 3
	restore_check 1 c3
}

@test "incr: a failed checkpoint makes the next one full" {
	require_cs
	start_prog incr
	ckpt c0
	advance 1
	# fails after the scan: the pages written in phase 1 are known to no image
	! CS_FAULT=write ckpt c1 --prev-images-dir ../c0 2>/dev/null
	[ ! -e "$T/c1" ]
	ckpt c1 --prev-images-dir ../c0
	expect_kind c1 full
	grep -q 'did not complete' "$T/dump-c1.log"
	restore_check 1 c1
}

@test "incr: a checkpoint that fails after its --pre-copy rounds makes the next one full" {
	require_cs
	start_prog incr incr-file live
	ckpt c0
	advance 1
	# the round protected the pages written in phase 1 again: no image has them
	! CS_FAULT=seize ckpt c1 --prev-images-dir ../c0 --pre-copy 1 2>/dev/null
	[ ! -e "$T/c1" ]
	grep -q 'pre-copy round 1' "$T/dump-c1.log"
	ckpt c1 --prev-images-dir ../c0 --pre-copy 1
	expect_kind c1 full
	grep -q 'did not complete' "$T/dump-c1.log"
	incr_step 2 --pre-copy 1
	restore_check 2 c2 0.1
}

# refuse DIR PATTERN: cs-restore -D DIR fails, says PATTERN, and creates nothing.
refuse() {
	local st=0
	(close_fds; exec "$CS_RESTORE" -D "$1" -v4 -o "$T/restore.log") </dev/null >"$T/restore.out" 2>&1 || st=$?
	if [ $st != 1 ]; then
		echo "cs-restore -D $1: status $st, want 1" >&2
		cat "$T/restore.out" >&2
		return 1
	fi
	if ! grep -q -- "$2" "$T/restore.out"; then
		echo "cs-restore -D $1 did not say '$2':" >&2
		cat "$T/restore.out" >&2
		return 1
	fi
	[ "$(wc -l <"$T/restore.out")" = 1 ] || { echo "more than one line:" >&2; cat "$T/restore.out" >&2; return 1; }
	if [ -e "/proc/$PID" ]; then
		echo "PID $PID exists after a refused restore" >&2
		return 1
	fi
}

@test "incr: broken chains are refused before anything is created" {
	require_cs
	start_prog incr
	ckpt c0
	step 1
	step 2
	# a second series of the same process, and one of another process
	ckpt s0
	local keep=$PID
	start_prog incr other-file
	ckpt o0
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null || true
	PID=$keep
	# the other program wrote its phase into the shared phase file
	echo 2 >"$T/ready.phase"
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null || true
	wait_pid_gone "$PID"

	# missing parent
	mv "$T/c1" "$T/c1.away"
	refuse "$T/c2" "broken chain: the parent ../c1 of .*c2 cannot be opened"
	mv "$T/c1.away" "$T/c1"
	# a grandparent missing
	mv "$T/c0" "$T/c0.away"
	refuse "$T/c2" "broken chain: the parent ../c0 of ../c1 cannot be opened"
	mv "$T/c0.away" "$T/c0"
	# the parent of another process's series, of another series of this process
	ln -sfn ../o0 "$T/c1/parent"
	refuse "$T/c2" "the parent ../o0 of ../c1 belongs to another checkpoint series"
	ln -sfn ../s0 "$T/c1/parent"
	refuse "$T/c2" "the parent ../s0 of ../c1 belongs to another checkpoint series"
	ln -sfn ../c0 "$T/c1/parent"
	# a parent from the same series but not the one before
	ln -sfn ../c0 "$T/c2/parent"
	refuse "$T/c2" "is checkpoint 0 of its series, want 1"
	ln -sfn ../c1 "$T/c2/parent"
	# a corrupted parent: one byte of its pages
	cp "$T/c0/pages.img" "$T/c0.pages"
	flip_byte "$T/c0/pages.img" 100
	refuse "$T/c2" "broken chain: the parent ../c0 of ../c1 is damaged"
	cp "$T/c0.pages" "$T/c0/pages.img"
	# a parent link that is gone
	rm "$T/c2/parent"
	refuse "$T/c2" "has no parent link"
	ln -s ../c1 "$T/c2/parent"
	# and the repaired chain restores
	NTASKS=1
	rm -f "$T/img"
	ln -s "$T/c2" "$T/img"
	# the second program wrote to prog.out, which c2 has open as fd 1
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

# lib/imgfeatures.h: a parent naming a feature this checksync does not know
# (CS_TEST_FEATURE at its dump, or added by img-edit after the child was
# made) is no parent for cs-dump, and refuses the chain for cs-restore.
@test "incr: a parent naming an unknown feature gives a full checkpoint, and refuses a chain made on it" {
	require_cs
	command -v jq >/dev/null || skip "jq is not installed"
	[ -x "$CS_BUILDDIR/test/c/img-edit" ] || skip "img-edit is not built (make test/c/img-edit)"
	start_prog incr
	CS_TEST_FEATURE=x-newer ckpt c0
	advance 1
	ckpt c1 --prev-images-dir ../c0
	expect_kind c1 full
	grep -q "cannot be a parent: the images need feature 'x-newer'" "$T/dump-c1.log"
	advance 2
	ckpt c2 --prev-images-dir ../c1
	expect_kind c2 incremental
	[ "$("$CS_SHOW" "$T/c2" | jq -c '.inventory.features | index("incremental") != null')" = true ]
	[ "$("$CS_SHOW" "$T/c1" | jq -c '.inventory.features // [] | index("incremental") != null')" = false ]
	"$CS_BUILDDIR/test/c/img-edit" "$T/c1" add-feature x-newer-still
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null || true
	wait_pid_gone "$PID"
	refuse "$T/c2" "the parent ../c1 of .*c2 cannot be used: the images need feature 'x-newer-still'"
}

@test "incr: option errors" {
	require_cs
	run "$CS_DUMP" -t 1 -D "$T/x" --prev-images-dir ../y
	[ "$status" = 1 ]
	[[ "$output" == *"--prev-images-dir needs --track-mem"* ]]
	start_prog incr
	run "$CS_DUMP" -R --track-mem --prev-images-dir ../nothere -t "$PID" -D "$T/c1"
	[ "$status" = 1 ]
	[[ "$output" == *"--prev-images-dir ../nothere cannot be opened"* ]]
	[ ! -e "$T/c1" ]
	kill -0 "$PID"
	run "$CS_DUMP" -t "$PID" -D "$T/c1" --pre-copy 1
	[ "$status" = 1 ]
	[[ "$output" == *"--pre-copy needs --track-mem"* ]]
	run "$CS_DUMP" -t "$PID" -D "$T/c1" --track-mem --pre-copy 17
	[ "$status" = 1 ]
	[[ "$output" == *"invalid --pre-copy '17' (rounds, 0..16)"* ]]
	run "$CS_DUMP" -t "$PID" -D "$T/c1" --track-mem --pre-copy x
	[ "$status" = 1 ]
	[ ! -e "$T/c1" ]
	kill -0 "$PID"
}

# --------------------------------------------------------------------------
# Go: kvserver under load

# kv_series [OPTS...]: kvserver (100000 keys) under kvload's overwrite load,
# checkpointed k0 (full) and k1..k5 (incremental, 200 new keys inc<i> before
# each) with --tcp-close OPTS, then 10 keys "after" written; kvload stopped
# with no error and no mismatch, and k5 left more pages in its parents than
# it wrote.
kv_series() {
	local i
	start_kvserver -preload 100000 -value-size 128
	start_kvload -keys 100000 -conns 2 -overwrite -interval 500ms
	ckpt k0 --tcp-close "$@"
	expect_kind k0 full
	for ((i = 1; i <= 5; i++)); do
		kvc -set-prefix "inc$i" -set-count 200
		sleep 0.3
		ckpt k$i --tcp-close --prev-images-dir ../k$((i - 1)) "$@"
		expect_kind k$i incremental
	done
	# keys written after the last checkpoint must not be there
	kvc -set-prefix after -set-count 10
	stop_kvload
	grep -q " errors=0 mismatches=0" "$T/kvload.report" || { cat "$T/kvload.report" >&2; return 1; }
	local w5 p5
	w5=$(stat_of k5 pages_written)
	p5=$(stat_of k5 pages_parent)
	[ "$p5" -gt "$w5" ] || { echo "k5 wrote $w5 pages, left $p5 in its parent" >&2; return 1; }
}

# kv_series_restore: kill kvserver, restore it from k5; every key of the
# preload and of inc1..inc5 is there, the "after" keys are not, GC works.
kv_series_restore() {
	local j
	kill -KILL "$PID"
	wait_pid_gone "$PID" 50
	kv_restore_d "$T/k5"
	kv_answers
	kvc -check 100000
	grep -q "checked 100000 keys, 0 mismatches" <<<"$KV_OUT" || { echo "$KV_OUT" >&2; return 1; }
	for ((j = 1; j <= 5; j++)); do
		kvc -expect-prefix "inc$j" -expect-count 200
	done
	! kvc -expect-prefix after -expect-count 10 2>/dev/null
	kvc -gc
}

@test "go: kvserver under load, a full and 5 incremental checkpoints, restored from the last: every key" {
	require_cs
	require_go
	kv_series
	kv_series_restore
}

@test "go: kvserver under overwrite load, --pre-copy 2 on a full and 5 incremental checkpoints, restored from the last: every key" {
	require_cs
	require_go
	kv_series --pre-copy 2
	[ "$(stat_of k5 precopy_rounds)" = 2 ]
	local kept=0 j
	for ((j = 1; j <= 5; j++)); do
		kept=$((kept + $(stat_of k$j pages_precopy_kept)))
	done
	[ "$kept" -gt 0 ] || { echo "no pre-copied page was kept in k1..k5" >&2; return 1; }
	kv_series_restore
}
