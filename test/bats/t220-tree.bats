#!/usr/bin/env bats
# t220-tree.bats - process trees: cs-dump -t PID takes PID and every
# descendant, frozen together; cs-restore makes them again with their PIDs,
# TIDs, process groups and sessions, zombies, and what they share.
#
# test/c/tree (see tree.c): a root with two children and a grandchild, two
# threads in a child, a zombie child, a child in a process group of its own
# with its own child in it, a pipe from the root to a child with unread
# bytes, a socketpair across processes with a message queued each way, an
# open file description shared by the root and a child (an lseek in one is
# seen by the other). Every process checks its own state on SIGUSR2 and the
# root collects the verdicts.
#
# Refused, with one line naming the object and the tree left running: SysV
# shared memory; a process in a group whose leader is outside the tree; a
# child already traced.

load helpers

TREE=$CS_BUILDDIR/test/c/tree

require_tree() {
	require_cs
	[ -x "$TREE" ] || skip "$TREE is not built (make test/c/tree)"
}

# The PIDs of the descendants, from READY.pids: A G Z.
tree_pids() {
	cat "$T/ready.pids"
}

# cs-show prints the images as JSON; jq answers questions about them.
show_q() {
	"$CS_SHOW" "$T/img" | jq -e "$1" >/dev/null
}

# Every process of the tree is running (S or R), untraced.
tree_running() {
	local p st tracer
	for p in "$PID" $(tree_pids); do
		st=$(proc_state "$p") || { echo "process $p is gone" >&2; return 1; }
		case $st in
		S|R|Z) ;;
		*) echo "process $p is in state $st" >&2; return 1 ;;
		esac
		tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$p/status")
		[ "$tracer" = "${1:-0}" ] || [ "$p" = "${2:-}" ] || {
			echo "process $p is traced by $tracer" >&2
			return 1
		}
	done
}

@test "tree: control, the tree's own checks pass without a dump" {
	[ -x "$TREE" ] || skip "$TREE is not built"
	control tree
}

@test "tree: negative control, each check catches a change" {
	[ -x "$TREE" ] || skip "$TREE is not built"
	expect_detects_all tree "pipe offset zombie pgid sock threads"
}

@test "tree: round trip killed, every PID, TID, group, session, zombie, pipe, socketpair, shared offset" {
	require_tree
	local a g z
	start_prog tree
	read -r a g z <<<"$(tree_pids | tr '\n' ' ')"
	dump_killed
	for p in "$a" "$g" "$z"; do
		[ ! -e "/proc/$p" ] || { echo "process $p is still there after the dump" >&2; return 1; }
	done
	if command -v jq >/dev/null; then
		show_q ".images[\"pstree.img\"] | length == 5 and .[0].pid == $PID"
		show_q ".images[\"pstree.img\"][] | select(.pid == $z) | .zombie == true and .exit_status == 1792"
		show_q ".images[\"pstree.img\"][] | select(.pid == $a) | .threads | length == 3"
		show_q ".images | has(\"mm-$a.img\") and has(\"files-$g.img\") and (has(\"mm-$z.img\") | not)"
	fi
	restore_wait
	for p in "$a" "$g" "$z"; do
		[ -e "/proc/$p" ] || { echo "process $p was not restored" >&2; return 1; }
	done
	[ "$(proc_state "$z")" = Z ] || { echo "zombie $z: state $(proc_state "$z")" >&2; return 1; }
	[ "$(ls "/proc/$a/task" | wc -l)" = 3 ] || { echo "A has $(ls "/proc/$a/task" | wc -l) threads" >&2; return 1; }
	wake_and_wait "$RPID"
	assert_prog_ok
	[ "$(grep -c 'ok:' "$T/prog.out")" = 4 ] || { echo "want 4 verdicts (R A B G)" >&2; cat "$T/prog.out" >&2; return 1; }
}

@test "tree: cs-dump -R leaves the tree intact, and its images restore" {
	require_tree
	start_prog tree
	dump_running
	tree_running
	wake_and_wait "$PID"
	assert_prog_ok
	# the tree is gone, its PIDs free again (the children were reaped by
	# theirs); its output file grew since the dump (and the restored tree
	# writes its verdicts at the offset it had then, over the first ones)
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
	[ "$(grep -c 'ok:' "$T/prog.out")" -ge 4 ]
}

@test "tree: restore refuses when a PID of the tree is taken, creating nothing" {
	require_tree
	local a g z st=0
	start_prog tree
	read -r a g z <<<"$(tree_pids | tr '\n' ' ')"
	dump_killed
	# a child of ours on the zombie's PID is not possible to arrange; the
	# check reads the images: make the root's PID taken by restoring twice
	restore_wait
	timeout 60 "$CS_RESTORE" -D "$T/img" -d >"$T/out2" 2>&1 || st=$?
	[ "$st" = 1 ] || { echo "second restore: status $st" >&2; cat "$T/out2" >&2; return 1; }
	grep -q "PID $PID is taken" "$T/out2" || { cat "$T/out2" >&2; return 1; }
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "refuse: SysV shared memory in the tree" {
	require_tree
	start_prog tree sysv
	refused "SysV shared memory"
	tree_running
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "refuse: a child in a process group whose leader is outside the tree" {
	require_tree
	local leader
	# the leader: another program of this session, in a group of its own
	(close_fds; exec "$TREE" "$T/leader.ready" leader) </dev/null >"$T/prog-leader.out" 2>&1 &
	leader=$!
	record_pid "$leader"
	for ((i = 0; i < 50; i++)); do [ -s "$T/leader.ready" ] && break; sleep 0.1; done
	[ "$(ps -o pgid= -p "$leader" | tr -d ' ')" = "$leader" ] || { echo "leader has no group" >&2; return 1; }
	start_prog tree "join-pgid=$leader"
	refused "process group $leader" "leader is outside the tree"
	tree_running
	wake_and_wait "$PID"
	assert_prog_ok
	kill -USR2 "$leader"
	wait "$leader"
}

@test "refuse: a child already traced (strace), naming the tracer" {
	require_tree
	command -v strace >/dev/null || skip "strace is not installed"
	local a g z s tracer i
	start_prog tree
	read -r a g z <<<"$(tree_pids | tr '\n' ' ')"
	strace -o /dev/null -p "$a" </dev/null >/dev/null 2>"$T/prog-strace.out" 3>&- &
	s=$!
	for ((i = 0; i < 50; i++)); do
		tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$a/status")
		[ "$tracer" != 0 ] && break
		sleep 0.1
	done
	[ "$tracer" = "$s" ] || { kill "$s"; skip "strace did not attach (TracerPid $tracer)"; }
	refused "process $a" "traced by process $s"
	tree_running 0 "$a"
	kill -TERM "$s"
	wait "$s" || true
	tree_running
	wake_and_wait "$PID"
	assert_prog_ok
}
