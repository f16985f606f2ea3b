#!/usr/bin/env bats
# t240-pidns.bats - cs-restore --pidns: a tree restored into a new PID
# namespace while its PIDs are taken here (the original still runs).
#
# test/c/tree (see tree.c) with "session": a root leading its own session
# with two children and a grandchild, threads, a zombie, a pipe, a
# socketpair, a shared offset; every process checks its PID, parent,
# group, session, and that /proc/self/status (Pid and the last NSpid)
# gives its getpid(), which needs a /proc of its own PID namespace.
#
# Dumped with -R and restored with --pidns beside the original: inside,
# the tree has its saved PIDs; here the root has another PID, written to
# --pidfile, and its parent is cs-restore's init, which forwards SIGTERM
# and exits with the root's status. A failure injected after the
# namespace exists leaves no init and no process. "Another host": the Go
# key/value server restored with --pidns in a network namespace of its
# own, answering there with its data while the original answers here;
# dumped there (in both namespaces) and restored back here (failback).
# Dumped again: the tree restored with --pidns is dumped (-R, and killed)
# with the PIDs it has inside, and restored again with --pidns (not
# without: refused), where it checks itself; and so on, a chain.
# Refused: --pidns without CAP_SYS_ADMIN; a plain restore of images dumped
# inside; cs-dump of cs-restore's init; cs-dump of a process in a PID
# namespace that cs-restore did not make (unshare). One process twice
# through it (signals, timers), a --track-mem series taken inside.

load helpers
load pidns

TREE=$CS_BUILDDIR/test/c/tree

require_pidns() {
	[ -x "$TREE" ] || skip "$TREE is not built (make test/c/tree)"
	require_pidns_caps	# pidns.bash
}

# The original tree, running: its descendants are recorded for teardown.
start_tree() {
	start_prog tree session
	local p
	for p in $(descendants "$PID"); do
		record_pid "$p"
	done
}

# descendants PID: the PIDs of its descendants, from /proc/PID/task/PID/children.
descendants() {
	local todo=("$1") p k
	while [ ${#todo[@]} -gt 0 ]; do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		for k in $(cat "/proc/$p/task/$p/children" 2>/dev/null); do
			echo "$k"
			todo+=("$k")
		done
	done
}

@test "pidns: control and negative control of the /proc check" {
	[ -x "$TREE" ] || skip "$TREE is not built"
	control tree session
	expect_detects tree procpid session
}

@test "pidns: restored beside the running original, with the saved PIDs inside and others here" {
	require_pidns
	start_tree
	local want=("$PID" $(descendants "$PID")) p got
	dump_running
	# the PIDs are taken: a plain restore is refused, naming one
	run "$CS_RESTORE" -D "$T/img"
	[ "$status" = 1 ]
	[[ "$output" == *"is taken"* ]] || { echo "plain restore said: $output" >&2; return 1; }
	restore_pidns
	[ "$HPID" != "$PID" ] || { echo "the pidfile holds the original's PID $PID" >&2; return 1; }
	[ "$(cat "/proc/$INIT/comm")" = cs-init ] || { echo "parent $INIT of $HPID is $(cat "/proc/$INIT/comm")" >&2; return 1; }
	[ "$(awk '{ print $4 }' "/proc/$INIT/stat")" = "$RPID" ] || { echo "the init is not cs-restore's child" >&2; return 1; }
	# our PIDs for the tree differ, theirs are the saved ones
	[ "$(nspid "$HPID")" = "$HPID $PID" ] || { echo "NSpid of $HPID: $(nspid "$HPID"), want $HPID $PID" >&2; return 1; }
	[ "$(nspid "$INIT")" = "$INIT 1" ] || { echo "NSpid of the init: $(nspid "$INIT")" >&2; return 1; }
	got=$(for p in $(descendants "$INIT"); do nspid "$p" | awk '{ print $2 }'; done | sort -n | tr '\n' ' ')
	[ "$got" = "$(printf '%s\n' "${want[@]}" | sort -n | tr '\n' ' ')" ] ||
		{ echo "inner PIDs $got, want ${want[*]}" >&2; return 1; }
	# the tree checks itself (getpid, getppid, /proc/self/status) ...
	kill -USR2 "$HPID"
	STATUS=0
	wait "$RPID" || STATUS=$?
	assert_prog_ok
	[ "$(grep -c ': ok: ' "$T/prog.out")" = 4 ] || { cat "$T/prog.out" >&2; return 1; }
	wait_pid_gone "$INIT"
	# ... and the original runs on, untouched
	wake_and_wait "$PID"
	[ "$STATUS" = 0 ] || { echo "the original exited with $STATUS" >&2; return 1; }
}

# inner_pids INIT: the PIDs inside of the processes below INIT, sorted, one line.
inner_pids() {
	local p
	for p in $(descendants "$1"); do nspid "$p" | awk '{ print $2 }'; done | sort -n | tr '\n' ' '
}

# check_generation WANT: the tree restored by $RPID has the inner PIDs WANT;
# woken, it checks itself and the init exits with its status 0.
check_generation() {
	local got
	got=$(inner_pids "$INIT")
	[ "$got" = "$1" ] || { echo "inner PIDs $got, want $1" >&2; return 1; }
	[ "$(nspid "$HPID")" = "$HPID $PID" ] || { echo "NSpid of $HPID: $(nspid "$HPID")" >&2; return 1; }
	kill -USR2 "$HPID"
	STATUS=0
	wait "$RPID" || STATUS=$?
	cp "$T/prog.out" "$T/prog-gen$2.out"
	assert_prog_ok
	wait_pid_gone "$INIT"
}

@test "pidns: dumped again inside (-R and killed), restored again with --pidns, a chain; not without --pidns" {
	require_pidns
	start_tree
	local want i
	want=$(printf '%s\n' "$PID" $(descendants "$PID") | sort -n | tr '\n' ' ')
	dump_running
	restore_pidns
	# generation 1, dumped with -R: it runs on
	dump_inner "$T/img2" -R
	kill -0 "$HPID"
	[ "$(inner_pids "$INIT")" = "$want" ]
	# the images have the PIDs inside, and say so
	"$CS_SHOW" "$T/img2" >"$T/show2.json"
	grep -q '"pidns": true' "$T/show2.json" || { echo "no pidns in the inventory" >&2; return 1; }
	expect_features "$T/img2" +pidns
	expect_features "$T/img" -pidns
	grep -q "\"root_pid\": $PID," "$T/show2.json" || { grep root_pid "$T/show2.json" >&2; return 1; }
	[ -e "$T/img2/core-$PID.img" ] || { ls "$T/img2" >&2; return 1; }
	# without --pidns: refused in the check phase, one line, nothing made
	run "$CS_RESTORE" -D "$T/img2"
	[ "$status" = 1 ]
	[ "${#lines[@]}" = 1 ] || { echo "want one line: $output" >&2; return 1; }
	[[ "$output" == *"process $PID was dumped inside a PID namespace"*"restore it with --pidns"* ]] ||
		{ echo "said: $output" >&2; return 1; }
	# generation 1 again, dumped and killed: cs-restore ends with the root's SIGKILL
	dump_inner "$T/img3"
	STATUS=0
	wait "$RPID" || STATUS=$?
	[ "$STATUS" = 137 ] || { echo "cs-restore of generation 1 exited with $STATUS, want 137" >&2; return 1; }
	wait_pid_gone "$INIT"
	wait_pid_gone "$HPID"
	# generation 2, from the killed dump: dumped again (-R) into img4, then checks itself
	IMG=$T/img3 restore_pidns
	dump_inner "$T/img4" -R
	check_generation "$want" 2
	# generation 3, from the -R dump of generation 1 (generation 2 wrote
	# its verdicts to the output file since: no size check)
	IMG=$T/img2 restore_pidns --file-validation=none
	check_generation "$want" 3
	# generation 4, from the -R dump of generation 2: the chain goes on
	IMG=$T/img4 restore_pidns --file-validation=none
	check_generation "$want" 4
	# the original runs on, untouched
	wake_and_wait "$PID"
	[ "$STATUS" = 0 ] || { echo "the original exited with $STATUS" >&2; return 1; }
}

@test "pidns: one process, twice through --pidns: pending signals with their si_pid, thread IDs" {
	require_pidns
	pidns_chain sigstate nanosleep
}

@test "pidns: one process, twice through --pidns: POSIX timers, one signalling a thread by its TID" {
	require_pidns
	pidns_chain timers posix
	# the thread's TID in the images is the one inside: the original's
	grep -q '"tid": [0-9]' <("$CS_SHOW" "$T/img2") || { echo "no timer TID in the images" >&2; return 1; }
}

@test "pidns: a pty pair held in the tree, twice through --pidns: its session and foreground group inside" {
	require_pidns
	# TIOCGSID and TIOCGPGRP answer in cs-dump's namespace: the images
	# once had our PIDs for them, and the second restore was refused
	pidns_chain pty
	[ "$(grep -c 'ok:' "$T/prog.out")" = 3 ] || { echo "want 3 verdicts (R C G)" >&2; return 1; }
	"$CS_SHOW" "$T/img2" | jq -e '[.images["files.img"][] | select(.type == 26)][0].pty.sid as $s |
		$s > 0 and ([.images | keys[] | select(. == "files-\($s).img")] | length) == 1' >/dev/null ||
		{ echo "the pty master's session in img2 is no process of the images" >&2; return 1; }
}

@test "pidns: pidfds on the process and its child, twice through --pidns: Pid: inside, signals, poll" {
	require_pidns
	# the images hold the PIDs inside; the stub's pidfd_open resolves them there
	pidns_chain pidfd
}

# incr_ckpt DIR [OPTS...]: cs-dump -R --track-mem of $HPID into $T/DIR;
# the kind of checkpoint (full, incremental) in INCR_KIND.
incr_ckpt() {
	local dir=$1 st=0 w
	shift
	timeout -k 5 120 "$CS_DUMP" -R --track-mem -t "$HPID" -D "$T/$dir" -v4 -o "$T/dump-$dir.log" \
		--display-stats "$@" </dev/null >"$T/dump.out" 2>"$T/$dir.stats" 3>&- || st=$?
	[ $st = 0 ] || { echo "cs-dump --track-mem -D $dir $* failed with status $st: $(cat "$T/$dir.stats")" >&2; return 1; }
	INCR_KIND=
	for w in $(grep '^cs-dump: ' "$T/$dir.stats"); do
		case $w in checkpoint=*) INCR_KIND=${w#*=} ;; esac
	done
}

@test "pidns: --track-mem inside: a full and two incremental checkpoints, restored from the last with --pidns" {
	require_pidns
	[ -x "$CS_BUILDDIR/test/c/incr" ] || skip "test/c/incr is not built"
	export CS_RUN_DIR=$T/run
	local i k
	start_prog incr
	dump_killed
	restore_pidns
	incr_ckpt c0
	[ "$INCR_KIND" = full ] || { echo "c0 is $INCR_KIND" >&2; return 1; }
	for i in 1 2; do
		kill -USR1 "$HPID"
		for ((k = 0; k < READY_TIMEOUT; k++)); do
			[ "$(cat "$T/ready.phase" 2>/dev/null)" = $i ] && break
			sleep 0.1
		done
		[ "$(cat "$T/ready.phase")" = $i ] || { echo "incr did not reach phase $i" >&2; return 1; }
		incr_ckpt c$i --prev-images-dir ../c$((i - 1))
		[ "$INCR_KIND" = incremental ] || { echo "c$i is $INCR_KIND: $(cat "$T/c$i.stats")" >&2; return 1; }
	done
	grep -q '"pidns": true' <("$CS_SHOW" "$T/c2") || { echo "no pidns in c2" >&2; return 1; }
	# the copy in the namespace ends; its last checkpoint comes back there
	kill -KILL "$HPID"
	STATUS=0
	wait "$RPID" || STATUS=$?
	wait_pid_gone "$INIT"
	IMG=$T/c2 restore_pidns
	[ "$(nspid "$HPID")" = "$HPID $PID" ] || { echo "NSpid of $HPID: $(nspid "$HPID")" >&2; return 1; }
	kill -USR2 "$HPID"
	STATUS=0
	wait "$RPID" || STATUS=$?
	assert_prog_ok
}

@test "pidns: refused inside: cs-restore's init itself; the tree runs on" {
	require_pidns
	start_tree
	dump_running
	restore_pidns
	run "$CS_DUMP" -t "$INIT" -D "$T/img-init"
	[ "$status" = 1 ]
	[ "${#lines[@]}" = 1 ] || { echo "want one line: $output" >&2; return 1; }
	[[ "$output" == *"process $INIT is the init of a PID namespace made by cs-restore --pidns"* ]] ||
		{ echo "said: $output" >&2; return 1; }
	[ ! -e "$T/img-init" ]
	check_generation "$(printf '%s\n' "$PID" $(descendants "$PID") | sort -n | tr '\n' ' ')" 1
	wake_and_wait "$PID"
	[ "$STATUS" = 0 ]
}

@test "pidns: a process in a PID namespace of unshare (a container) is refused, and runs on" {
	require_pidns
	command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
	local u init inner i
	(close_fds; exec unshare --pid --fork sh -c 'sleep 600 & wait') </dev/null >/dev/null 2>&1 &
	u=$!
	record_pid "$u"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		init=$(cat "/proc/$u/task/$u/children" 2>/dev/null | awk '{ print $1 }')
		[ -n "$init" ] && inner=$(cat "/proc/$init/task/$init/children" 2>/dev/null | awk '{ print $1 }')
		[ -n "$inner" ] && [ "$(cat "/proc/$inner/comm")" = sleep ] && break
		sleep 0.1
	done
	record_pid "$init"
	record_pid "$inner"
	[ "$(nspid "$inner")" = "$inner 2" ] || { echo "NSpid of $inner: $(nspid "$inner")" >&2; return 1; }
	for p in "$inner" "$init"; do
		run "$CS_DUMP" -t "$p" -D "$T/img-$p"
		[ "$status" = 1 ]
		[ "${#lines[@]}" = 1 ] || { echo "want one line: $output" >&2; return 1; }
		[[ "$output" == *"process $p is in a PID namespace below ours"*"not supported yet"* ]] ||
			{ echo "said: $output" >&2; return 1; }
		[ ! -e "$T/img-$p" ]
		[ "$(proc_state "$p")" = S ]
	done
}

@test "pidns: SIGTERM to the init ends the root, the init exits with its status, nothing is left" {
	require_pidns
	start_tree
	dump_running
	restore_pidns
	local pids p
	pids=$(descendants "$INIT")
	[ "$(echo $pids | wc -w)" = 5 ] || { echo "in the namespace: $pids" >&2; return 1; }
	kill -TERM "$INIT"
	STATUS=0
	wait "$RPID" || STATUS=$?
	[ "$STATUS" = $((128 + 15)) ] || { echo "cs-restore exited with $STATUS, want 143 (the root killed by SIGTERM)" >&2; return 1; }
	for p in $INIT $pids; do
		wait_pid_gone "$p"
	done
	# a -d restore leaves the init running: -d returns 0, same signal path
	(close_fds; exec "$CS_RESTORE" -D "$T/img" --pidns -d --pidfile "$T/rpid2" -v4 -o "$T/restore2.log") \
		</dev/null >"$T/restore2.out" 2>&1
	p=$(cat "$T/rpid2")
	record_pid "$p"
	INIT=$(awk '{ print $4 }' "/proc/$p/stat")
	record_pid "$INIT"
	[ "$(cat "/proc/$INIT/comm")" = cs-init ]
	kill -TERM "$INIT"
	wait_pid_gone "$p"
	wait_pid_gone "$INIT" 100
	wake_and_wait "$PID"
	[ "$STATUS" = 0 ]
}

@test "pidns: a failure after the namespace exists leaves no init and no process" {
	require_pidns
	start_tree
	dump_running
	local f st want inits p
	for f in pidns create threads finish exit:create exit:finish; do
		st=0
		CS_FAULT=$f "$CS_RESTORE" -D "$T/img" --pidns -v4 -o "$T/restore-$f.log" </dev/null \
			>"$T/restore.out" 2>&1 3>&- || st=$?
		want=1
		[ "${f#exit:}" = "$f" ] || want=42
		[ "$st" = "$want" ] || { echo "CS_FAULT=$f: status $st, want $want" >&2; return 1; }
		# the init and every stub, by the PIDs the log gave them
		inits=$(sed -n 's/.*its init is \([0-9]*\).*/\1/p; s/.*process [0-9]* is \([0-9]*\) here.*/\1/p' \
			"$T/restore-$f.log")
		[ -n "$inits" ] || { echo "CS_FAULT=$f: no init in the log" >&2; return 1; }
		for p in $inits; do
			wait_pid_gone "$p" 100 || { echo "CS_FAULT=$f: $p left behind" >&2; return 1; }
		done
	done
	# no stub was left: the original is the only tree
	wake_and_wait "$PID"
	[ "$STATUS" = 0 ]
}

@test "pidns: refused without CAP_SYS_ADMIN, nothing created" {
	require_pidns
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	start_tree
	dump_running
	run setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin "$CS_RESTORE" -D "$T/img" --pidns
	[ "$status" = 1 ]
	[ "${#lines[@]}" = 1 ] || { echo "want one line: $output" >&2; return 1; }
	[[ "$output" == *"--pidns needs CAP_SYS_ADMIN"* ]] || { echo "said: $output" >&2; return 1; }
}

# ---- a restore on another host: the key/value server in a netns of its own ----

NS2=cs-host2-$$

in_host2() {
	nsenter --net="/run/netns/$NS2" "$@"
}

# kvc2 ARGS...: kvclient in the second host.
kvc2() {
	local st=0
	KV_OUT=$(in_host2 "$GO_BIN/kvclient" -addr "$KV_ADDR" -timeout 10s "$@" 2>&1 </dev/null 3>&-) || st=$?
	printf '$ (host2) kvclient %s  (status %d)\n%s\n' "$*" "$st" "$KV_OUT" >>"$T/prog-kvclient.out"
	[ $st = 0 ] || { echo "(host2) kvclient $* failed with status $st: $(tail -n 3 <<<"$KV_OUT")" >&2; return 1; }
}

teardown() {
	local pid
	# everything in the second host was started by this test
	if ip netns list 2>/dev/null | grep -qw "$NS2"; then
		for pid in $(ip netns pids "$NS2" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
	fi
	cs_teardown
	ip netns del "$NS2" 2>/dev/null
	return 0
}

@test "pidns: another host: the key/value server restored in a netns of its own with its data, the original still answers; failback" {
	require_pidns
	require_go
	command -v ip >/dev/null || skip "ip (iproute2) is not installed"
	command -v nsenter >/dev/null || skip "nsenter (util-linux) is not installed"
	start_kvserver -preload 20000 -value-size 128
	kvc -set-prefix before -set-count 500
	kv_dump "$T/img" -R --tcp-close
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump -R --tcp-close failed with status $DUMP_ST" >&2; return 1; }
	ip netns add "$NS2" || skip "cannot create network namespaces here"
	ip -n "$NS2" link set lo up
	(close_fds; exec nsenter --net="/run/netns/$NS2" timeout -k 5 120 "$CS_RESTORE" -D "$T/img" -d --pidns \
		--pidfile "$T/rpid" -v4 -o "$T/restore.log") </dev/null >"$T/restore.out" 2>&1
	HPID=$(cat "$T/rpid")
	record_pid "$HPID"
	INIT=$(awk '{ print $4 }' "/proc/$HPID/stat")
	record_pid "$INIT"
	[ "$HPID" != "$PID" ]
	[ "$(nspid "$HPID")" = "$HPID $PID" ] || { echo "NSpid of $HPID: $(nspid "$HPID")" >&2; return 1; }
	# host 2: every key, the ones written before the dump, its own PID
	kvc2 -check 20000
	grep -q "checked 20000 keys, 0 mismatches" <<<"$KV_OUT" || { echo "host2 -check: $KV_OUT" >&2; return 1; }
	kvc2 -expect-prefix before -expect-count 500
	kvc2 -stats
	[[ " $KV_OUT " == *" pid=$PID "* ]] || { echo "host2 STATS: $KV_OUT, want pid=$PID" >&2; return 1; }
	kvc2 -set-prefix host2 -set-count 100
	# host 1: the original answers, with its data and without host 2's
	kv_answers
	kvc -check 20000
	kvc -expect-prefix before -expect-count 500
	! kvc -expect-prefix host2 -expect-count 100 2>/dev/null ||
		{ echo "host 1 has the keys written on host 2" >&2; return 1; }
	# failback: host 2 checkpoints its server (inside the PID namespace:
	# the images get the PIDs there), which ends; host 1's original is gone
	# meanwhile, and the checkpoint comes back there with --pidns
	local st=0
	(close_fds; exec nsenter --net="/run/netns/$NS2" timeout -k 5 120 "$CS_DUMP" -t "$HPID" -D "$T/img-back" \
		--tcp-close -v4 -o "$T/dump-back.log") </dev/null >"$T/dump-back.out" 2>&1 || st=$?
	[ $st = 0 ] || { echo "cs-dump in host 2 failed with status $st: $(cat "$T/dump-back.out")" >&2; return 1; }
	wait_pid_gone "$HPID" 100
	wait_pid_gone "$INIT" 100
	kill -KILL "$PID"
	wait_pid_gone "$PID" 100
	(close_fds; exec timeout -k 5 120 "$CS_RESTORE" -D "$T/img-back" -d --pidns --pidfile "$T/rpid-back" -v4 \
		-o "$T/restore-back.log") </dev/null >"$T/restore-back.out" 2>&1
	HPID=$(cat "$T/rpid-back")
	record_pid "$HPID"
	INIT=$(awk '{ print $4 }' "/proc/$HPID/stat")
	record_pid "$INIT"
	[ "$(nspid "$HPID")" = "$HPID $PID" ] || { echo "NSpid of $HPID: $(nspid "$HPID")" >&2; return 1; }
	# host 1 again: host 2's keys with the others, the same PID inside
	kvc -check 20000
	grep -q "checked 20000 keys, 0 mismatches" <<<"$KV_OUT" || { echo "failback -check: $KV_OUT" >&2; return 1; }
	kvc -expect-prefix before -expect-count 500
	kvc -expect-prefix host2 -expect-count 100
	kvc -stats
	[[ " $KV_OUT " == *" pid=$PID "* ]] || { echo "failback STATS: $KV_OUT, want pid=$PID" >&2; return 1; }
	kill -TERM "$INIT"
	wait_pid_gone "$HPID" 100
}
