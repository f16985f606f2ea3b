#!/usr/bin/env bats
# t250-cgroup.bats - control groups: cs-dump saves which cgroups each
# process and thread of the tree is in (cgroup.img) with the limits of
# those cgroups; cs-restore --manage-cgroups (soft by default) puts the
# processes back, making the cgroups that are missing with their saved
# limits, and --cgroup-root moves them under another cgroup.
#
# The test makes its own cgroups, below the cgroup it runs in, in each
# hierarchy it finds: v2 (unified), and the v1 memory, pids and cpu
# hierarchies when mounted. test/c/cgroup (see cgroup.c) starts with the
# root process in the "p" cgroups, its child in "c" and a second thread of
# the root in the v1 cpu "t" cgroup and the v2 threaded cgroup "p/t", records its /proc/thread-self/cgroup
# lines and the limits of each cgroup, and checks them after the restore.
# Between the dump and the restore the cgroups are removed ("another host").
#
# Refused, with one line naming the cgroup and no process and no cgroup of
# the restore left: a cgroup that cannot be created; a cgroup that cannot
# be joined (a v1 cpuset without CPUs; a v2 cgroup for a thread that is
# not threaded); a limit that cannot be set; a --cgroup-root for a controller the
# processes were not in; a bad --manage-cgroups mode.
#
# Only processes this test started are ever moved; every cgroup it or
# cs-restore made is removed in teardown, once its processes are gone.

load helpers

# The mount point of the cgroup hierarchy with controller $1 (v1), or the
# v2 one with "".
cg_mount() {
	awk -v c="$1" '{
		for (i = 7; $i != "-"; i++) ;
		fs = $(i + 1); opts = "," $(i + 3) ","
		if (c == "" && fs == "cgroup2") { print $5; exit }
		if (c != "" && fs == "cgroup" && index(opts, "," c ",")) { print $5; exit }
	}' /proc/self/mountinfo
}

# Our own cgroup in the hierarchy with controller $1 ("" for v2).
cg_mine() {
	awk -F: -v c="$1" '{
		n = split($2, a, ",")
		for (i = 1; i <= n; i++) if (a[i] == c) { print $3; exit }
		if (c == "" && $2 == "") { print $3; exit }
	}' /proc/self/cgroup
}

# cg_base CTRL: where this test's cgroups go in that hierarchy (empty when
# it is not mounted or we cannot make cgroups there); a trailing "/" of
# the root is dropped.
cg_base() {
	local m mine
	m=$(cg_mount "$1")
	[ -n "$m" ] || return 0
	mine=$(cg_mine "$1")
	[ "$mine" = / ] && mine=
	[ -w "$m$mine" ] || return 0
	echo "$m$mine/$NAME"
}

setup() {
	cs_setup
	require_cs
	[ -x "$CS_BUILDDIR/test/c/cgroup" ] || skip "test/c/cgroup is not built (make test/c/cgroup)"
	NAME=cs-t250-$$-$BATS_TEST_NUMBER
	V2=$(cg_base "") MEM=$(cg_base memory) PIDS=$(cg_base pids) CPU=$(cg_base cpu)
	CPUSET=$(cg_base cpuset)
	[ -n "$V2$MEM$PIDS$CPU" ] || skip "no cgroup hierarchy where this test can make cgroups"
	# the cgroups this test makes; cs-restore's are added when made
	: >"$T/cgroups"
}

teardown() {
	kill_recorded
	cg_remove_all
	cs_teardown
}

# cg_make DIR: mkdir DIR (and its parent) and remember it for teardown.
cg_make() {
	local d
	for d in "$(dirname "$1")" "$1"; do
		[ -d "$d" ] && continue
		mkdir "$d"
		echo "$d" >>"$T/cgroups"
	done
}

# rmdir DIR, waiting a moment for killed tasks to leave it.
cg_rmdir() {
	local i
	[ -d "$1" ] || return 0
	for ((i = 0; i < 50; i++)); do
		rmdir "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "cannot remove cgroup $1" >&2
	return 1
}

# Remove every cgroup of this test (ours and cs-restore's), children first.
cg_remove_all() {
	local b d m
	[ -n "${NAME:-}" ] || return 0
	# a --cgroup-root without controller: /$NAME-new in every hierarchy
	for m in $(awk '$0 ~ / - cgroup2? / { print $5 }' /proc/self/mountinfo); do
		for d in "$m/$NAME-new"/p/t "$m/$NAME-new"/p "$m/$NAME-new"/c "$m/$NAME-new"/t "$m/$NAME-new"; do
			cg_rmdir "$d" || true
		done
	done
	for b in "$V2" "$MEM" "$PIDS" "$CPU" "$CPUSET"; do
		[ -n "$b" ] || continue
		for d in "$b"/p/t "$b"/p "$b"/c "$b"/t "$b" "$b-new"/p/t "$b-new"/p "$b-new"/c "$b-new"/t "$b-new"; do
			cg_rmdir "$d" || true
		done
	done
}

# No cgroup of this test is left in any hierarchy.
cg_none_left() {
	local b left=
	for b in "$V2" "$MEM" "$PIDS" "$CPU" "$CPUSET"; do
		[ -n "$b" ] || continue
		[ ! -d "$b" ] || left="$left $b"
		[ ! -d "$b-new" ] || left="$left $b-new"
	done
	[ -z "$left" ] || { echo "cgroups left behind:$left" >&2; return 1; }
}

# Make the p, c and t cgroups with distinctive limits; set CS_CG_* for the
# program.
cg_prepare() {
	local self= child= thread=
	if [ -n "$MEM" ]; then
		cg_make "$MEM/p"; cg_make "$MEM/c"
		echo 314572800 >"$MEM/p/memory.limit_in_bytes"
		echo 209715200 >"$MEM/c/memory.limit_in_bytes"
		self="$self:$MEM/p" child="$child:$MEM/c"
	fi
	if [ -n "$PIDS" ]; then
		cg_make "$PIDS/p"; cg_make "$PIDS/c"
		echo 123 >"$PIDS/p/pids.max"
		echo 77 >"$PIDS/c/pids.max"
		self="$self:$PIDS/p" child="$child:$PIDS/c"
	fi
	if [ -n "$CPU" ]; then
		cg_make "$CPU/p"; cg_make "$CPU/t"
		echo 345 >"$CPU/p/cpu.shares"
		echo 45000 >"$CPU/p/cpu.cfs_quota_us"
		echo 678 >"$CPU/t/cpu.shares"
		self="$self:$CPU/p" thread="$CPU/t"
	fi
	if [ -n "$V2" ]; then
		cg_make "$V2/p"; cg_make "$V2/c"
		# limits where this host's v2 hierarchy has the controllers
		if grep -qw memory "$V2/cgroup.controllers" && echo +memory >"$V2/cgroup.subtree_control"; then
			echo 268435456 >"$V2/p/memory.max"
			echo 134217728 >"$V2/c/memory.high"
		fi
		if grep -qw pids "$V2/cgroup.controllers" && echo +pids >"$V2/cgroup.subtree_control"; then
			echo 99 >"$V2/p/pids.max"
		fi
		# a threaded cgroup below p, for the second thread
		cg_make "$V2/p/t"
		echo threaded >"$V2/p/t/cgroup.type"
		self="$self:$V2/p" child="$child:$V2/c" thread="$thread:$V2/p/t"
	fi
	export CS_CG_SELF=${self#:} CS_CG_CHILD=${child#:} CS_CG_THREAD=${thread#:}
}

# Everything of this test's cgroups goes, as on a host that never had them.
cg_remove_now() {
	cg_remove_all
	cg_none_left
}

# The restored tree is in the same cgroups as before: the limits asked for
# are back (the program checks every value; this is what the test sees).
limits_back() {
	[ -z "$MEM" ] || [ "$(cat "$MEM/p/memory.limit_in_bytes")" = 314572800 ]
	[ -z "$PIDS" ] || [ "$(cat "$PIDS/c/pids.max")" = 77 ]
	[ -z "$CPU" ] || [ "$(cat "$CPU/t/cpu.shares")" = 678 ]
}

@test "control: the program's cgroup checks pass without a dump" {
	cg_prepare
	control cgroup
}

@test "control: a wrong cgroup, limit or thread cgroup is detected" {
	cg_prepare
	local modes="cgroup limit"
	[ -z "$CPU" ] || modes="$modes thread"
	expect_detects_all cgroup "$modes"
}

@test "cgroups removed after the dump are made again with their limits" {
	cg_prepare
	start_prog cgroup
	dump_killed
	"$CS_SHOW" "$T/img" | jq -e '.images["cgroup.img"][0].members | length >= 2' >/dev/null
	cg_remove_now
	restore_wait
	limits_back
	# the restored memory (32 MiB written by the root) is charged there
	[ -z "$MEM" ] || [ "$(cat "$MEM/p/memory.usage_in_bytes")" -ge $((32 << 20)) ] ||
		{ echo "$MEM/p holds $(cat "$MEM/p/memory.usage_in_bytes") bytes, want 32 MiB or more" >&2; false; }
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "soft leaves the limits of an existing cgroup alone; full sets them" {
	[ -n "$MEM" ] || skip "no v1 memory hierarchy here"
	cg_prepare
	start_prog cgroup
	dump_killed
	echo 262144000 >"$MEM/p/memory.limit_in_bytes"
	restore_wait
	[ "$(cat "$MEM/p/memory.limit_in_bytes")" = 262144000 ]
	grep -q "memory:.*/$NAME/p" "/proc/$PID/cgroup"
	# not woken: this restore only showed soft's choice
	local child
	child=$(cat "/proc/$PID/task/$PID/children")
	child=${child%% *}
	record_pid "$child"
	kill -KILL "$PID" "$child"
	wait "$RPID" 2>/dev/null || true
	wait_pid_gone "$PID"
	wait_pid_gone "$child"
	restore_wait --manage-cgroups=full
	[ "$(cat "$MEM/p/memory.limit_in_bytes")" = 314572800 ]
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "--cgroup-root moves the tree under another cgroup" {
	cg_prepare
	local roots=() mine
	for c in memory pids cpu; do
		mine=$(cg_mine $c)
		[ "$mine" = / ] && mine=
		[ -n "$(cg_base $c)" ] && roots+=(--cgroup-root "$c:$mine/$NAME-new")
	done
	if [ -n "$V2" ]; then
		mine=$(cg_mine "")
		[ "$mine" = / ] && mine=
		roots+=(--cgroup-root "unified:$mine/$NAME-new")
	fi
	CS_CG_REMAP="/$NAME/=/$NAME-new/" start_prog cgroup
	dump_killed
	cg_remove_now
	restore_wait "${roots[@]}"
	[ -z "$MEM" ] || [ "$(cat "$MEM-new/p/memory.limit_in_bytes")" = 314572800 ]
	[ ! -d "$MEM" ] || { echo "$MEM was made" >&2; false; }
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "--cgroup-root PATH without a controller: every other hierarchy, a new cpuset gets its parent's CPUs" {
	[ -n "$MEM" ] || skip "no v1 memory hierarchy here"
	cg_prepare
	start_prog cgroup
	local child
	child=$(cat "/proc/$PID/task/$PID/children")
	child=${child%% *}
	dump_killed
	cg_remove_now
	# memory stays inside the cgroup this test runs in
	restore_wait --cgroup-root "memory:$(cg_mine memory | sed 's|^/$||')/$NAME-new" --cgroup-root "/$NAME-new"
	record_pid "$child"
	# CONTROLLERS|PATH, "" for v2
	local want=() w
	[ -z "$PIDS" ] || want+=("pids|/$NAME-new/p")
	[ -z "$CPU" ] || want+=("cpu|/$NAME-new/p")
	[ -z "$V2" ] || want+=("|/$NAME-new/p")
	[ -z "$CPUSET" ] || want+=("cpuset|/$NAME-new")
	want+=("memory|$(cg_mine memory | sed 's|^/$||')/$NAME-new/p")
	for w in "${want[@]}"; do
		awk -F: -v c="${w%%|*}" -v p="${w#*|}" '$2 == c && $3 == p { f = 1 } END { exit !f }' \
			"/proc/$PID/cgroup" ||
			{ echo "process $PID is not in $w:" >&2; cat "/proc/$PID/cgroup" >&2; false; }
	done
	[ -z "$CPUSET" ] || [ -n "$(cat "$(cg_mount cpuset)/$NAME-new/cpuset.cpus")" ]
	kill -KILL "$PID" "$child"
	wait "$RPID" 2>/dev/null || true
	wait_pid_gone "$PID"
	wait_pid_gone "$child"
}

@test "--pidns: the namespace's init is in the root's cgroups, the tree in its own" {
	local capeff i
	capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
	(((0x$capeff >> 21 & 1) == 1)) || skip "--pidns needs CAP_SYS_ADMIN"
	cg_prepare
	start_prog cgroup
	dump_killed
	cg_remove_now
	(close_fds; exec "$CS_RESTORE" -D "$T/img" --pidns --pidfile "$T/rpid" -v4 -o "$T/restore.log") \
		</dev/null >"$T/restore.out" 2>&1 &
	RPID=$!
	record_pid "$RPID"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/rpid" ] && break
		kill -0 "$RPID" 2>/dev/null || { echo "cs-restore --pidns exited" >&2; false; }
		sleep 0.1
	done
	local hpid init
	hpid=$(cat "$T/rpid")
	record_pid "$hpid"
	init=$(awk '{ print $4 }' "/proc/$hpid/stat")
	record_pid "$init"
	diff <(cut -d: -f2- "/proc/$init/cgroup") <(cut -d: -f2- "/proc/$hpid/cgroup")
	grep -q "/$NAME/p\$" "/proc/$init/cgroup"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ "$(readlink "/proc/$hpid/exe" 2>/dev/null)" = "$PROG_EXE" ] && wait_settled_once "$hpid" && break
		sleep 0.1
	done
	kill -USR2 "$hpid"
	STATUS=0
	wait "$RPID" || STATUS=$?
	assert_prog_ok
}

@test "--manage-cgroups=ignore leaves the processes in cs-restore's cgroups" {
	cg_prepare
	start_prog cgroup
	dump_killed
	cg_remove_now
	restore_wait --manage-cgroups=ignore
	cg_none_left
	diff <(cut -d: -f2- "/proc/$RPID/cgroup") <(cut -d: -f2- "/proc/$PID/cgroup")
	local child
	child=$(cat "/proc/$PID/task/$PID/children")
	child=${child%% *}
	record_pid "$child"
	diff <(cut -d: -f2- "/proc/$RPID/cgroup") <(cut -d: -f2- "/proc/$child/cgroup")
}

# restore_refused WORDS... [-- OPTS]: cs-restore of $IMG (default $T/img) exits 1 with one line on
# stderr holding every WORD, PID is not there, and no cgroup of the test
# (which were removed before) is left.
restore_refused() {
	local words=() st=0 w
	while [ $# -gt 0 ] && [ "$1" != -- ]; do words+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	timeout -k 5 60 "$CS_RESTORE" -D "${IMG:-$T/img}" -d -v4 -o "$T/restore.log" "$@" \
		</dev/null >"$T/restore.out" 2>"$T/err" || st=$?
	cat "$T/err" >>"$T/restore.out"
	[ $st = 1 ] || { echo "cs-restore exited $st, want 1" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line on stderr:" >&2; cat "$T/err" >&2; return 1; }
	for w in "${words[@]}"; do
		grep -qF -- "$w" "$T/err" || { echo "no '$w' in: $(cat "$T/err")" >&2; return 1; }
	done
	[ ! -e "/proc/$PID" ] || { echo "process $PID exists after a refused restore" >&2; return 1; }
}

@test "refused: a cgroup that cannot be created; what was made is removed" {
	[ -n "$PIDS" ] || skip "no v1 pids hierarchy here"
	cg_prepare
	start_prog cgroup
	dump_killed
	cg_remove_now
	# pids.max is a file: no cgroup can be made below it
	restore_refused "cannot create cgroup pids:" "/p/pids.max" -- \
		--cgroup-root "pids:$(cg_mine pids | sed 's|^/$||')/$NAME/p/pids.max/x"
	cg_none_left
}

@test "refused: a cgroup that cannot be joined (v1 cpuset without CPUs)" {
	[ -n "$CPUSET" ] || skip "no v1 cpuset hierarchy here"
	cg_prepare
	cg_make "$CPUSET/c"
	cat "$(dirname "$CPUSET")/cpuset.cpus" >"$CPUSET/cpuset.cpus"
	cat "$(dirname "$CPUSET")/cpuset.mems" >"$CPUSET/cpuset.mems"
	cat "$CPUSET/cpuset.cpus" >"$CPUSET/c/cpuset.cpus"
	cat "$CPUSET/cpuset.mems" >"$CPUSET/c/cpuset.mems"
	CS_CG_CHILD="$CS_CG_CHILD:$CPUSET/c" start_prog cgroup
	dump_killed
	cg_remove_now
	# here, the cgroup exists but has no CPU: no task can join it
	mkdir "$CPUSET" "$CPUSET/c"
	echo "$CPUSET" >>"$T/cgroups"
	restore_refused "cannot join cgroup cpuset:" "/$NAME/c" "No space left on device"
	rmdir "$CPUSET/c" "$CPUSET"
	cg_none_left
}

@test "refused: a v2 cgroup for a thread that is not threaded here" {
	[ -n "$V2" ] || skip "no cgroup v2 hierarchy here"
	cg_prepare
	start_prog cgroup
	dump_killed
	cg_remove_now
	mkdir -p "$V2/p/t"	# a domain cgroup: no single thread can join it
	restore_refused "cannot put thread" "in cgroup unified:/" "/$NAME/p/t" "not threaded here" -- \
		--manage-cgroups=soft
	rmdir "$V2/p/t" "$V2/p" "$V2"
	cg_none_left
}

@test "refused: a saved limit that cannot be set here (v1 CFS quota above the parent's)" {
	[ -n "$CPU" ] || skip "no v1 cpu hierarchy here"
	cg_prepare
	start_prog cgroup
	dump_killed
	cg_remove_now
	# the new parent allows 10 ms per 100 ms; p was saved with 45 ms
	mkdir "$CPU-new"
	echo 10000 >"$CPU-new/cpu.cfs_quota_us"
	restore_refused "cannot give cgroup cpu:/$NAME/p its cpu.cfs_quota_us 45000" -- \
		--cgroup-root "cpu:$(cg_mine cpu | sed 's|^/$||')/$NAME-new"
	[ -z "$(ls -d "$CPU-new"/*/ 2>/dev/null)" ] || { echo "left in $CPU-new: $(ls -d "$CPU-new"/*/)" >&2; false; }
	rmdir "$CPU-new"
	cg_none_left
}

@test "refused: a corrupt cgroup.img (a path or limit leading out of the cgroup file system); none is an older dump" {
	local edit=$CS_BUILDDIR/test/c/img-edit i
	[ -x "$edit" ] || skip "test/c/img-edit is not built"
	cg_prepare
	start_prog cgroup
	local child
	child=$(cat "/proc/$PID/task/$PID/children")
	child=${child%% *}
	dump_killed
	cg_remove_now
	# the first cgroup with a limit
	i=$("$CS_SHOW" "$T/img" | jq '[.images["cgroup.img"][0].dirs[] | (.limits | length > 0)] | index(true)')
	[ "$i" != null ]
	cp -a "$T/img" "$T/img2"
	cp -a "$T/img" "$T/img3"
	"$edit" "$T/img2" cgroup-path "$i" /../../../tmp
	IMG=$T/img2 restore_refused "cgroup.img is corrupt: cgroup $i"
	"$edit" "$T/img3" cgroup-limit "$i" ../../../../tmp/cs-t250-x
	IMG=$T/img3 restore_refused "cgroup.img is corrupt: limit 0"
	[ ! -e /tmp/cs-t250-x ]
	cg_none_left
	# without cgroup.img (an older cs-dump): cs-restore's cgroups
	"$edit" "$T/img" drop cgroup.img
	restore_wait
	record_pid "$child"
	cg_none_left
	diff <(cut -d: -f2- "/proc/$RPID/cgroup") <(cut -d: -f2- "/proc/$PID/cgroup")
}

@test "refused: --cgroup-root for a controller the tree was in no hierarchy of" {
	cg_prepare
	start_prog cgroup
	dump_killed
	restore_refused "--cgroup-root nosuch:/x" "no hierarchy with controller nosuch" -- --cgroup-root nosuch:/x
}

@test "refused: a bad --manage-cgroups mode or --cgroup-root" {
	run "$CS_RESTORE" -D "$T" --manage-cgroups=strict
	[ "$status" = 1 ]
	[[ "$output" == *"invalid --manage-cgroups mode 'strict'"* ]]
	run "$CS_RESTORE" -D "$T" --cgroup-root memory:relative
	[ "$status" = 1 ]
	[[ "$output" == *"invalid --cgroup-root 'memory:relative'"* ]]
}

@test "a restore that fails once the stubs are in their cgroups removes the cgroups it made" {
	cg_prepare
	start_prog cgroup
	local child
	child=$(cat "/proc/$PID/task/$PID/children")
	child=${child%% *}
	dump_killed
	cg_remove_now
	CS_FAULT=create restore_refused "fault injection: step create fails"
	cg_none_left
	# the same images then restore normally, at once: the child's stub
	# (an orphan when the root's was killed) was reaped by cs-restore
	[ ! -e "/proc/$child" ]
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}
