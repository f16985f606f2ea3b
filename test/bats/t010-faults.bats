#!/usr/bin/env bats
# t010-faults.bats - failure injection (CS_FAULT, see cs-dump(8) and
# cs-restore(8)): a dump or restore that fails or dies at any step boundary
# must do no harm.
#
#   CS_FAULT=STEP       the tool fails there (exit 1) and unwinds
#   CS_FAULT=exit:STEP  the tool _exit(42)s there, with no unwinding at all
#
# cs-dump -R: the target keeps running, untraced, and keeps answering with
# its data intact, and the images directory does not exist.  After a plain
# failure no hidden partial directory (.NAME.partial-PID) is left either.
# After exit:STEP one may be: nothing runs to remove it, and it is never
# taken for a checkpoint because DIR itself never appears; the test only
# notes it.  With exit:STEP the tool dies while the target's threads are
# ptrace-stopped: the kernel detaches a dead tracer's tracees and they go
# on; the steps are boundaries between remote syscalls, so no injected code
# or register is left in the target.
#
# cs-restore: the process being made is traced with PTRACE_O_EXITKILL, so
# after a failure or a death at any step neither the PID nor any saved TID
# exists, and the same images then restore normally.

load helpers

# The target kept running (not stopped, not traced), serves, holds its data
# and takes writes.
target_unharmed() {
	local st tracer i
	# a tracer that just died: its tracees are detached as it exits
	for ((i = 0; i < 20; i++)); do
		tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status" 2>/dev/null) || break
		[ "$tracer" = 0 ] && break
		sleep 0.1
	done
	st=$(proc_state "$PID") || { echo "process $PID is gone" >&2; return 1; }
	case $st in
	S|R) ;;
	*) echo "process $PID is in state $st" >&2; return 1 ;;
	esac
	[ "$tracer" = 0 ] || { echo "process $PID is still traced by $tracer" >&2; return 1; }
	kv_answers
	kvc -check 1000 -set-prefix "after-$1" -set-count 100
}

# dump_fault STEP: CS_FAULT=STEP cs-dump -R.
dump_fault() {
	local step=$1
	require_cs
	require_go
	start_kvserver -preload 1000
	CS_FAULT=$step kv_dump "$T/img" -R
	if [ "$DUMP_ST" != 1 ]; then
		echo "CS_FAULT=$step: cs-dump exit status $DUMP_ST, want 1" >&2
		return 1
	fi
	# the step exists and was reached
	if ! grep -q "fault injection: step $step fails" "$T/dump.err"; then
		echo "CS_FAULT=$step: no \"fault injection: step $step fails\" on stderr" >&2
		return 1
	fi
	[ ! -e "$T/img" ] || { echo "CS_FAULT=$step: $T/img exists" >&2; ls -la "$T/img" >&2; return 1; }
	local left
	left=$(find "$T" -maxdepth 1 -name '.img.partial-*')
	[ -z "$left" ] || { echo "CS_FAULT=$step: partial directory left: $left" >&2; return 1; }
	target_unharmed "$step"
	# and it can still be dumped for real
	kv_dump "$T/img" -R
	[ "$DUMP_ST" = 0 ] || { echo "a clean cs-dump -R after CS_FAULT=$step failed ($DUMP_ST)" >&2; return 1; }
	kv_answers
}

# dump_exit STEP: CS_FAULT=exit:STEP cs-dump -R.
dump_exit() {
	local step=$1
	require_cs
	require_go
	start_kvserver -preload 1000
	CS_FAULT=exit:$step kv_dump "$T/img" -R
	if [ "$DUMP_ST" != 42 ]; then
		echo "CS_FAULT=exit:$step: cs-dump exit status $DUMP_ST, want 42" >&2
		return 1
	fi
	[ ! -e "$T/img" ] || { echo "CS_FAULT=exit:$step: $T/img exists" >&2; ls -la "$T/img" >&2; return 1; }
	# allowed: a dead cs-dump cannot remove its hidden partial directory
	target_unharmed "exit-$step"
	kv_dump "$T/img" -R
	[ "$DUMP_ST" = 0 ] || { echo "a clean cs-dump -R after CS_FAULT=exit:$step failed ($DUMP_ST)" >&2; return 1; }
	kv_answers
}

# dump_fault_kill FAULT: CS_FAULT=FAULT cs-dump without -R (kill mode),
# with FAULT STEP or exit:STEP: the target is killed only once the images
# are durable, so a dump that fails or dies before that leaves it running.
dump_fault_kill() {
	local fault=$1 want=1
	[ "${fault#exit:}" = "$fault" ] || want=42
	require_cs
	require_go
	start_kvserver -preload 1000
	CS_FAULT=$fault kv_dump "$T/img"
	[ "$DUMP_ST" = "$want" ] || { echo "CS_FAULT=$fault: cs-dump exit status $DUMP_ST, want $want" >&2; return 1; }
	[ ! -e "$T/img" ] || { echo "CS_FAULT=$fault: $T/img exists" >&2; ls -la "$T/img" >&2; return 1; }
	target_unharmed "kill-$fault"
	kvc -check 1000
}

# restore_fault FAULT WANT: dump (killed), then CS_FAULT=FAULT cs-restore -d
# must exit WANT and leave neither the PID nor any TID; then the same
# images restore.
restore_fault() {
	local fault=$1 want=$2 st=0 tids t i
	require_cs
	require_go
	start_kvserver -preload 1000
	tids=$(task_list "$PID")
	dump_killed
	(close_fds; CS_FAULT=$fault exec timeout -k 5 20 "$CS_RESTORE" -D "$T/img" -d -v4 -o "$T/restore.log") \
		</dev/null >"$T/restore.out" 2>&1 || st=$?
	if [ $st != "$want" ]; then
		echo "CS_FAULT=$fault: cs-restore exit status $st, want $want" >&2
		return 1
	fi
	if [ "$want" = 1 ] && ! grep -q "fault injection: step ${fault#exit:} fails" "$T/restore.out"; then
		echo "CS_FAULT=$fault: no \"fault injection: step $fault fails\" on stderr" >&2
		return 1
	fi
	# after a failure cs-restore has reaped what it made before returning;
	# after its death the kernel kills the traced process and init reaps it
	for t in $tids; do
		if [ "$want" = 1 ]; then
			[ ! -e "/proc/$t" ] || { echo "CS_FAULT=$fault: TID $t exists after the failed restore (state $(proc_state "$t"))" >&2; return 1; }
		else
			wait_pid_gone "$t" 50 || { echo "CS_FAULT=$fault: TID $t still exists 5 s after cs-restore died" >&2; return 1; }
		fi
	done
	# nothing was left holding the PID, the TIDs or the port
	kv_restore_d
	[ "$(task_list "$PID")" = "$tids" ] || { echo "threads after the restore: $(task_list "$PID"), want $tids" >&2; return 1; }
	kv_answers
	kvc -check 1000
}

@test "faults: cs-dump -R with CS_FAULT=seize" { dump_fault seize; }
@test "faults: cs-dump -R with CS_FAULT=threads" { dump_fault threads; }
@test "faults: cs-dump -R with CS_FAULT=process" { dump_fault process; }
@test "faults: cs-dump -R with CS_FAULT=files" { dump_fault files; }
@test "faults: cs-dump -R with CS_FAULT=memory" { dump_fault memory; }
@test "faults: cs-dump -R with CS_FAULT=write" { dump_fault write; }
@test "faults: cs-dump -R with CS_FAULT=sync" { dump_fault sync; }
@test "faults: cs-dump -R with CS_FAULT=inventory" { dump_fault inventory; }
@test "faults: cs-dump -R with CS_FAULT=rename" { dump_fault rename; }

@test "faults: cs-dump -R with CS_FAULT=exit:seize" { dump_exit seize; }
@test "faults: cs-dump -R with CS_FAULT=exit:threads" { dump_exit threads; }
@test "faults: cs-dump -R with CS_FAULT=exit:process" { dump_exit process; }
@test "faults: cs-dump -R with CS_FAULT=exit:files" { dump_exit files; }
@test "faults: cs-dump -R with CS_FAULT=exit:memory" { dump_exit memory; }
@test "faults: cs-dump -R with CS_FAULT=exit:write" { dump_exit write; }
@test "faults: cs-dump -R with CS_FAULT=exit:sync" { dump_exit sync; }
@test "faults: cs-dump -R with CS_FAULT=exit:inventory" { dump_exit inventory; }
@test "faults: cs-dump (kill mode) with CS_FAULT=sync leaves the target running" { dump_fault_kill sync; }
@test "faults: cs-dump (kill mode) with CS_FAULT=exit:sync leaves the target running" { dump_fault_kill exit:sync; }
@test "faults: cs-dump (kill mode) with CS_FAULT=exit:rename leaves the target running" { dump_fault_kill exit:rename; }
@test "faults: cs-dump -R with CS_FAULT=exit:rename" { dump_exit rename; }

@test "faults: cs-restore with CS_FAULT=check" { restore_fault check 1; }
@test "faults: cs-restore with CS_FAULT=create" { restore_fault create 1; }
@test "faults: cs-restore with CS_FAULT=memory" { restore_fault memory 1; }
@test "faults: cs-restore with CS_FAULT=threads" { restore_fault threads 1; }
@test "faults: cs-restore with CS_FAULT=finish" { restore_fault finish 1; }

@test "faults: cs-restore with CS_FAULT=exit:check" { restore_fault exit:check 42; }
@test "faults: cs-restore with CS_FAULT=exit:create" { restore_fault exit:create 42; }
@test "faults: cs-restore with CS_FAULT=exit:memory" { restore_fault exit:memory 42; }
@test "faults: cs-restore with CS_FAULT=exit:threads" { restore_fault exit:threads 42; }
@test "faults: cs-restore with CS_FAULT=exit:finish" { restore_fault exit:finish 42; }

# SIGTERM (timeout(1), systemd) or ^C to cs-dump at any moment: taken at the
# next step, never inside a remote syscall, where a killed cs-dump leaves a
# thread running with the syscall's registers (it crashed the target in
# about one try in five before cs-dump deferred those signals). 20 tries at
# random moments of a -R dump of 16 threads; each cs-dump ends with 143
# (or 0 when it was already done), leaves a complete DIR or none and no
# partial one; the threads then check themselves value by value.
@test "faults: cs-dump -R stopped by SIGTERM at random moments: the target is unharmed" {
	require_cs
	local i st d t0 us left
	start_prog threads 16
	t0=$(date +%s%N)
	dump_running
	us=$((($(date +%s%N) - t0) / 1000))
	rm -rf "$T/img"
	for ((i = 0; i < 20; i++)); do
		d=$((RANDOM % us))
		"$CS_DUMP" -R -t "$PID" -D "$T/img$i" </dev/null >/dev/null 2>"$T/term$i.err" 3>&- &
		sleep "$(printf '0.%06d' "$d")"
		kill -TERM $! 2>/dev/null || true	# it may be done already
		st=0
		wait $! || st=$?
		case $st in
		0) ;;
		143)
			if [ -e "$T/img$i" ] && [ ! -e "$T/img$i/inventory.img" ]; then
				echo "try $i (SIGTERM after $d us): $T/img$i exists without an inventory" >&2
				return 1
			fi
			;;
		*) echo "try $i (SIGTERM after $d us): cs-dump exit status $st: $(cat "$T/term$i.err")" >&2; return 1 ;;
		esac
		[ "$(wc -l <"$T/term$i.err")" -le 1 ] || { cat "$T/term$i.err" >&2; return 1; }
		st=$(proc_state "$PID") || { echo "try $i (SIGTERM after $d us): the target is gone" >&2; return 1; }
		[ "$st" = S ] || { echo "try $i (SIGTERM after $d us): the target is in state $st" >&2; return 1; }
		[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")" = 0 ] || {
			echo "try $i: the target is still traced" >&2
			return 1
		}
		left=$(find "$T" -maxdepth 1 -name ".img$i.partial-*")
		[ -z "$left" ] || { echo "try $i: partial directory left: $left" >&2; return 1; }
		rm -rf "$T/img$i"
	done
	grep -q "interrupted by SIGTERM before step" "$T"/term*.err || echo "# no SIGTERM came before the last step" >&3
	wake_and_wait "$PID"
	assert_prog_ok
}

# The target killed (SIGKILL, from outside) at a random moment of its dump:
# cs-dump fails with one line naming what went away (the unwinding callers'
# errors go to the log only; they were 4 more lines), or completes; no
# partial directory is left, and a DIR only with its inventory.
@test "faults: a target killed from outside during its dump: one line, nothing left" {
	require_cs
	local i st d us=30000 left start
	for ((i = 0; i < 12; i++)); do
		start_prog threads 4
		start=$(proc_start "$PID")
		d=$((RANDOM % us))
		(close_fds; exec "$CS_DUMP" -t "$PID" -D "$T/img$i" -o "$T/dump$i.log") </dev/null >/dev/null 2>"$T/kill$i.err" &
		sleep "$(printf '0.%06d' "$d")"
		# cs-dump may have killed it already, and its PID be another's
		[ "$(proc_start "$PID")" != "$start" ] || kill -9 "$PID" 2>/dev/null || true
		st=0
		wait $! || st=$?
		[ "$st" = 0 ] || [ "$st" = 1 ] || { echo "try $i: cs-dump exit status $st: $(cat "$T/kill$i.err")" >&2; return 1; }
		[ "$(grep -c 'error:' "$T/kill$i.err")" -le 1 ] || {
			echo "try $i (SIGKILL after $d us): more than one error line:" >&2
			cat "$T/kill$i.err" >&2
			return 1
		}
		if [ -e "$T/img$i" ] && [ ! -e "$T/img$i/inventory.img" ]; then
			echo "try $i: $T/img$i exists without an inventory" >&2
			return 1
		fi
		left=$(find "$T" -maxdepth 1 -name ".img$i.partial-*")
		[ -z "$left" ] || { echo "try $i: partial directory left: $left" >&2; return 1; }
		wait_pid_gone "$PID"
		rm -rf "$T/img$i"
	done
}
