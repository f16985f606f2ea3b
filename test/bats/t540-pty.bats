#!/usr/bin/env bats
# t540-pty.bats - a pseudo-terminal pair held inside the dumped tree, as
# script(1), tmux or an expect-style supervisor holds one: the root keeps
# the master, a child leads a session whose controlling terminal is the
# slave, and a grandchild's process group is the terminal's foreground.
# cs-restore makes the pair again with the same /dev/pts index, termios,
# window size and packet mode, the slave the controlling terminal of the
# same session with the same foreground group; no --shell-job is needed.
#
# test/c/pty (see pty.c) checks all of it itself, and that bytes go both
# ways through the line discipline with the restored settings. Two real
# programs too: script(1) with its shell (output after the restore reaches
# the typescript, the exit code comes back), a tmux server with a pane
# running cat (the pane keeps its pid and terminal, keys typed after the
# restore are echoed and read).
#
# Refused, with one line naming the fd and the tree left running: unread
# bytes in either direction (with the count), a packet-mode status not read,
# a master whose slave nobody in the tree holds (unless it was opened and
# closed: that comes back so, tested too), /dev/tty leading to the
# pair's slave. Refused by cs-restore before anything is created: the
# /dev/pts index taken by another pair. A terminal whose master is outside
# the tree stays under -j as before.

load helpers

PTY=$CS_BUILDDIR/test/c/pty

require_pty() {
	require_cs
	[ -x "$PTY" ] || skip "$PTY is not built (make test/c/pty)"
	[ -c /dev/ptmx ] && [ -d /dev/pts ] || skip "no /dev/ptmx and devpts here"
}

# Every process of the tree is there, sleeping, untraced.
tree_running() {
	local p
	for p in "$PID" $(cat "$T/ready.pids"); do
		[ "$(proc_state "$p")" = S ] || { echo "process $p: state $(proc_state "$p")" >&2; return 1; }
		[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$p/status")" = 0 ] || {
			echo "process $p is still traced" >&2
			return 1
		}
	done
}

@test "pty: control, the tree's own checks pass without a dump" {
	[ -x "$PTY" ] || skip "$PTY is not built"
	control pty
	[ "$(grep -c 'ok:' "$T/prog.out")" = 3 ] || { echo "want 3 verdicts (R C G)" >&2; return 1; }
}

@test "pty: negative control, each check catches a change" {
	[ -x "$PTY" ] || skip "$PTY is not built"
	expect_detects_all pty "index termios winsize packet pgrp ctty echo excl"
}

@test "pty: round trip killed, without --shell-job: same /dev/pts index, termios, winsize, ctty, foreground group" {
	require_pty
	local n c g
	start_prog pty
	n=$(cat "$T/ready.pts")
	read -r c g <<<"$(tr '\n' ' ' <"$T/ready.pids")"
	dump_killed
	expect_features "$T/img" +pty -tcp-established -file-locks
	[ ! -e "/dev/pts/$n" ] || echo "# /dev/pts/$n exists after the dump (another pair took it?)" >&3
	if command -v jq >/dev/null; then
		"$CS_SHOW" "$T/img" | jq -e ".images[\"files.img\"][] | select(.type == 26) |
			.pty.index == $n and .pty.sid == $c and .pty.fg_pgrp == $g and .pty.rows == 37 and
			.pty.packet == true" >/dev/null || { echo "files.img: no pty master as expected" >&2; return 1; }
		"$CS_SHOW" "$T/img" | jq -e ".images[\"files-$c.img\"][] | select(.fd == 0) |
			.type == 27 and .pty.index == $n" >/dev/null || { echo "files-$c.img: fd 0 is no pty slave" >&2; return 1; }
	fi
	restore_wait
	[ -c "/dev/pts/$n" ] || { echo "/dev/pts/$n was not made again" >&2; return 1; }
	wake_and_wait "$RPID"
	assert_prog_ok
	[ "$(grep -c 'ok:' "$T/prog.out")" = 3 ] || { echo "want 3 verdicts (R C G)" >&2; return 1; }
}

@test "pty: a second master whose slave was closed comes back closed and locked, at its index" {
	require_pty
	local st=0
	expect_detects pty hup hup || st=$?
	[ $st = 0 ] || { echo "CS_TEST_CORRUPT=hup was not detected" >&2; return 1; }
	round_trip pty hup
	[ "$(grep -c 'ok:' "$T/prog.out")" = 3 ] || { echo "want 3 verdicts (R C G)" >&2; return 1; }
}

@test "pty: cs-dump -R leaves the pair working, and its images restore" {
	require_pty
	start_prog pty
	dump_running
	tree_running
	wake_and_wait "$PID"
	assert_prog_ok
	[ "$(grep -c 'ok:' "$T/prog.out")" = 3 ] || { echo "want 3 verdicts (R C G)" >&2; return 1; }
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "pty: a restore failing once the pair exists (CS_FAULT=create) leaves no pair and no process" {
	require_pty
	local n st=0 p
	start_prog pty
	n=$(cat "$T/ready.pts")
	dump_killed
	CS_FAULT=create timeout 60 "$CS_RESTORE" -D "$T/img" -v4 -o "$T/restore.log" </dev/null >"$T/restore.out" 2>&1 || st=$?
	[ "$st" = 1 ] || { echo "cs-restore with CS_FAULT=create: status $st, want 1" >&2; return 1; }
	grep -q "/dev/pts/$n is the controlling terminal" "$T/restore.log" || {
		echo "the failure did not come after the pair was made" >&2
		return 1
	}
	# the children's stubs die with the root's and go to init, which
	# reaps them in its own time (KERNEL-FACTS.md): zombies for a moment
	for p in "$PID" $(cat "$T/ready.pids"); do
		case $(proc_state "$p") in
		''|Z) ;;
		*) echo "process $p exists after the failed restore (state $(proc_state "$p"))" >&2; return 1 ;;
		esac
		wait_pid_gone "$p" 100 || { echo "process $p is still there 10 s after the failed restore" >&2; return 1; }
	done
	[ ! -e "/dev/pts/$n" ] || echo "# /dev/pts/$n exists after the failed restore (another pair?)" >&3
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "refuse: bytes written on the master that the slave has not read" {
	require_pty
	start_prog pty queued-in
	DUMP_OPTS=()
	refused "pty slave /dev/pts/$(cat "$T/ready.pts")" "5 unread bytes"
	tree_running
}

@test "refuse: bytes written on the slave that the master has not read" {
	require_pty
	start_prog pty queued-out
	DUMP_OPTS=()
	refused "pty master of /dev/pts/$(cat "$T/ready.pts")" "6 unread bytes"
	tree_running
}

@test "refuse: restore when the /dev/pts index is taken, creating nothing" {
	require_pty
	local n h st=0 i
	start_prog pty
	n=$(cat "$T/ready.pts")
	dump_killed
	# another pair on the same index: a holder opening /dev/ptmx until it gets n
	(close_fds; exec "$PTY" "$T/hold.ready" "hold=$n") </dev/null >"$T/prog-hold.out" 2>&1 &
	h=$!
	record_pid "$h"
	for ((i = 0; i < 100; i++)); do [ -s "$T/hold.ready" ] && break; sleep 0.1; done
	[ -s "$T/hold.ready" ] || { echo "the holder of /dev/pts/$n is not ready" >&2; cat "$T/prog-hold.out" >&2; return 1; }
	timeout 60 "$CS_RESTORE" -D "$T/img" -v4 -o "$T/restore.log" </dev/null >"$T/restore.out" 2>&1 || st=$?
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1" >&2; return 1; }
	grep -q "/dev/pts/$n is taken" "$T/restore.out" || { echo "no refusal naming /dev/pts/$n" >&2; return 1; }
	[ "$(wc -l <"$T/restore.out")" = 1 ] || { echo "want one line:" >&2; cat "$T/restore.out" >&2; return 1; }
	[ ! -e "/proc/$PID" ] || { echo "process $PID exists after the refused restore" >&2; return 1; }
	for p in $(cat "$T/ready.pids"); do
		[ ! -e "/proc/$p" ] || { echo "process $p exists after the refused restore" >&2; return 1; }
	done
	# once the index is free again, the same images restore
	kill -USR2 "$h"
	wait "$h"
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "refuse: a packet-mode status change the master has not read" {
	require_pty
	start_prog pty pktstatus
	DUMP_OPTS=()
	refused "pty master of /dev/pts/$(cat "$T/ready.pts"), packet mode" "status change not read"
	tree_running
}

@test "refuse: /dev/tty leading to the slave of a pair in the tree (with -j)" {
	require_pty
	local c
	start_prog pty devtty
	c=$(head -n 1 "$T/ready.pids")
	DUMP_OPTS=(-j)
	refused "fd 5 of process $c is /dev/tty" "/dev/pts/$(cat "$T/ready.pts")"
	tree_running
}

@test "refuse: a process of the session without the controlling terminal its leader has" {
	require_pty
	local c g
	start_prog pty late-ctty
	read -r c g <<<"$(tr '\n' ' ' <"$T/ready.pids")"
	DUMP_OPTS=()
	refused "process $g is in session $c" "/dev/pts/$(cat "$T/ready.pts"), but has none"
	tree_running
}

@test "refuse: a pty master whose slave no process of the tree holds" {
	require_pty
	start_prog pty lone
	DUMP_OPTS=()
	refused "whose slave no process of the tree has open"
	tree_running
}

@test "-j: a terminal whose master is outside the tree stays under --shell-job" {
	require_pty
	local h n i
	# the terminal the job runs on: its master held outside the tree
	(close_fds; exec "$PTY" "$T/hold.ready" hold=next) </dev/null >"$T/prog-hold.out" 2>&1 &
	h=$!
	record_pid "$h"
	for ((i = 0; i < 100; i++)); do [ -s "$T/hold.ready" ] && break; sleep 0.1; done
	n=$(cat "$T/hold.ready.pts") || { echo "the holder is not ready" >&2; return 1; }
	# start_prog gives /dev/null as stdin: by hand, with /dev/pts/$n as fd 0
	(close_fds; exec "$PTY" "$T/ready" idle) <"/dev/pts/$n" >"$T/prog.out" 2>&1 &
	PID=$!
	record_pid "$PID"
	for ((i = 0; i < 100; i++)); do [ -s "$T/ready" ] && break; sleep 0.1; done
	PROG_EXE=$(readlink "/proc/$PID/exe")
	wait_settled "$PID"
	DUMP_OPTS=()
	refused "fd 0 is terminal /dev/pts/$n" "--shell-job"
	dump_killed -j
	if command -v jq >/dev/null; then
		"$CS_SHOW" "$T/img" | jq -e ".images[\"files.img\"][] | select(.fd == 0) | .type == 2" >/dev/null ||
			{ echo "fd 0 is not saved as a character device" >&2; return 1; }
	fi
	# cs-restore -j gives it the terminal cs-restore runs on: the same one here
	(close_fds; exec "$CS_RESTORE" -j -D "$T/img" -v4 -o "$T/restore.log") <"/dev/pts/$n" >"$T/restore.out" 2>&1 &
	RPID=$!
	record_pid "$RPID"
	for ((i = 0; i < 100; i++)); do [ -e "/proc/$PID" ] && break; sleep 0.1; done
	wait_restored
	[ "$(readlink "/proc/$PID/fd/0")" = "/dev/pts/$n" ] || {
		echo "restored fd 0 is $(readlink "/proc/$PID/fd/0"), want /dev/pts/$n" >&2
		return 1
	}
	wake_and_wait "$RPID"
	assert_prog_ok
	kill -USR2 "$h"
	wait "$h"
}

@test "pty: script(1) and its shell: the session, its terminal and its output survive the restore" {
	require_pty
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	local c i tty st=0
	# the shell leads a session on the pair script holds; it answers SIGUSR1
	# on its terminal and exits 7, which script -e returns
	# (script runs the command with $SHELL -c: exec, so that the trap shell is
	# script's child and session leader whatever $SHELL is; dash -c does not
	# exec its last command)
	(close_fds; SHELL=/bin/sh exec script -e -f -q -c "exec sh -c 'trap \"echo usr1; exit 7\" USR1; echo start; sleep 1000 & wait'" \
		"$T/typescript") </dev/null >"$T/prog.out" 2>&1 &
	PID=$!
	record_pid "$PID"
	for ((i = 0; i < 100; i++)); do grep -q start "$T/typescript" 2>/dev/null && break; sleep 0.1; done
	grep -q start "$T/typescript" || { echo "script did not start its shell" >&2; return 1; }
	c=$(tr -d ' ' <"/proc/$PID/task/$PID/children")
	tty=$(ps -o tty= -p "$c" | tr -d ' ')
	[[ $tty == pts/* ]] || { echo "the shell has no pty as its terminal ($tty)" >&2; return 1; }
	PROG_EXE=$(readlink "/proc/$PID/exe")
	wait_settled "$PID"
	dump_killed
	restore_wait
	[ "$(ps -o tty=,stat= -p "$c" | tr -s ' ')" = "$tty Ss+" ] || {
		echo "restored shell: $(ps -o tty=,stat= -p "$c"), want $tty Ss+ (session leader, foreground)" >&2
		return 1
	}
	kill -USR1 "$c"
	for ((i = 0; i < 100; i++)); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
	wait "$RPID" || st=$?
	[ "$st" = 7 ] || { echo "cs-restore (standing for script) exited $st, want 7" >&2; return 1; }
	grep -q usr1 "$T/typescript" || { echo "the shell's answer is not in the typescript" >&2; cat "$T/typescript" >&2; return 1; }
	grep -q 'COMMAND_EXIT_CODE="7"' "$T/typescript"
}

# tmux -S $T/tmux.sock ARGS (the server's command line names $T: teardown may kill it)
tm() {
	tmux -S "$T/tmux.sock" "$@"
}

# wait_pane WORD N: the pane shows WORD on N lines (within 10 s)
wait_pane() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(tm capture-pane -p | grep -cx "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	echo "the pane does not show \"$1\" $2 times:" >&2
	tm capture-pane -p >&2
	return 1
}

@test "pty: a tmux server and its pane: the pane's terminal, its program and the socket survive" {
	require_pty
	command -v tmux >/dev/null || skip "tmux is not installed"
	local p tty
	# the server daemonizes: it is no child of ours
	(close_fds; exec tmux -S "$T/tmux.sock" -f /dev/null new-session -d -x 101 -y 37 cat) \
		</dev/null >"$T/prog.out" 2>&1
	PID=$(tm display -p '#{pid}')
	record_pid "$PID"
	p=$(tm list-panes -F '#{pane_pid}')
	tty=$(tm list-panes -F '#{pane_tty}')
	# typed on the pane: echoed by the line discipline, then written by cat
	tm send-keys before Enter
	wait_pane before 2
	PROG_EXE=$(readlink "/proc/$PID/exe")
	wait_settled "$PID"
	dump_killed
	[ ! -e "/proc/$p" ] || { echo "the pane's cat $p is still there after the dump" >&2; return 1; }
	restore_wait
	[ "$(tm list-panes -F '#{pane_pid} #{pane_tty}')" = "$p $tty" ] || {
		echo "panes after the restore: $(tm list-panes -F '#{pane_pid} #{pane_tty}'), want $p $tty" >&2
		return 1
	}
	[ "$(ps -o tty=,stat= -p "$p" | tr -s ' ')" = "${tty#/dev/} Ss+" ] || {
		echo "the pane's cat: $(ps -o tty=,stat= -p "$p"), want ${tty#/dev/} Ss+" >&2
		return 1
	}
	tm send-keys after Enter
	wait_pane after 2
	wait_pane before 2
	tm kill-server
	wait "$RPID" || true
}
