# helpers.bash - shared set-up for checksync's bats tests.
#
# Every test gets a fresh temp dir $T.  Test programs follow the protocol in
# test/c/tprog.h: `prog $T/ready ARGS`, PID in $T/ready when set up, checks
# run on SIGUSR2, exit 0 when everything came back identical.
#
#   start_prog NAME ARGS...  start a test program, wait for it to be ready
#                            and asleep; sets PID
#   dump_killed [OPTS]       cs-dump -t $PID (the process is gone after it)
#   dump_running [OPTS]      cs-dump -R -t $PID (the process keeps running)
#   restore_wait [OPTS]      cs-restore in the background; sets RPID, waits
#                            for $PID to be back
#   wake_and_wait WAITPID    SIGUSR2 to $PID, wait for WAITPID; sets STATUS
#   assert_prog_ok           STATUS 0 and no "differs" in the output
#   round_trip NAME ARGS...  all of the above, kill-dump-restore
#   control NAME ARGS...     no dump: the program's own checks pass
#   expect_detects NAME MODE ARGS...
#                            CS_TEST_CORRUPT=MODE: the checks must fail
#
# Teardown kills only the PIDs this test recorded in $T/pids, and only while
# they still look like ours (their command line names $T), so a recycled PID
# is left alone.  On failure it prints the program output and the dump and
# restore logs (bats shows teardown output only for failed tests).

CS_SRCDIR=${CS_SRCDIR:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
CS_BUILDDIR=${CS_BUILDDIR:-$CS_SRCDIR}
CS_DUMP=$CS_BUILDDIR/cs-dump/cs-dump
CS_RESTORE=$CS_BUILDDIR/cs-restore/cs-restore
CS_SHOW=$CS_BUILDDIR/images/cs-show

READY_TIMEOUT=100	# tenths of a second
EXIT_TIMEOUT=300

setup() {
	cs_setup
}

teardown() {
	cs_teardown
}

cs_setup() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/cs-test.XXXXXX")
	: >"$T/pids"
	PID='' RPID='' STATUS='' NTASKS='' PROG_EXE=''
}

cs_teardown() {
	[ -n "${T:-}" ] && [ -d "$T" ] || return 0
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -z "${BATS_TEST_SKIPPED:-}" ]; then
		show_logs
	fi
	kill_recorded
	drop_logged_tables
	rm -rf "$T"
}

# drop_logged_tables: network lock tables (cs-dump --tcp-established in kill
# mode, cs-restore) that this test's cs-dump and cs-restore runs named in
# their logs and that are still there (a dump not restored, a refused restore)
drop_logged_tables() {
	local n
	command -v nft >/dev/null && nft list tables 2>/dev/null | grep -q ' checksync-' || return 0
	for n in $(grep -rhoE 'checksync-[dr][0-9]+-[0-9a-f]+' "$T" --include='*.log' --include='*.out' \
		2>/dev/null | sort -u); do
		nft delete table inet "$n" 2>/dev/null
	done
	return 0
}

record_pid() {
	echo "$1" >>"$T/pids"
}

# Is PID (still) one of ours?  Its command line names $T: the test program's
# ready file, cs-restore's image dir.  A restored process whose command line
# came back empty is recognised by its executable instead.
is_ours() {
	local pid=$1 cmdline exe
	[ -e "/proc/$pid" ] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	case "$cmdline" in
	*"$T"*) return 0 ;;
	"") exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	    case "$exe" in "$CS_BUILDDIR"/*) return 0 ;; esac ;;
	esac
	return 1
}

# drop_netns NAME...: for each network namespace this test made, kill the
# processes of ours left in it (is_ours), then delete it. Absent ones are fine.
drop_netns() {
	local ns pid
	for ns in "$@"; do
		ip netns list 2>/dev/null | grep -qw "$ns" || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			is_ours "$pid" && kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

kill_recorded() {
	local pid killed=()
	[ -f "$T/pids" ] || return 0
	while read -r pid; do
		[ -n "$pid" ] || continue
		if is_ours "$pid"; then
			kill -KILL "$pid" 2>/dev/null && killed+=("$pid")
		fi
	done <"$T/pids"
	# reap the killed ones that are our children (wait returns at once for
	# the others: not a child of this shell)
	for pid in "${killed[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}

show_logs() {
	local f
	for f in "$T"/prog*.out "$T/dump.out" "$T/dump.log" "$T/restore.out" "$T/restore.log"; do
		[ -s "$f" ] || continue
		echo "----- ${f#"$T"/} (last 300 lines) -----"
		tail -n 300 "$f"
	done
}

require_cs() {
	local b
	for b in cs-dump cs-restore; do
		[ -x "$CS_BUILDDIR/$b/$b" ] || skip "$b is not built in $CS_BUILDDIR"
	done
	# seizing and restoring a chosen PID need CAP_SYS_ADMIN (21) or
	# CAP_CHECKPOINT_RESTORE (40), plus CAP_SYS_PTRACE (19)
	local capeff
	capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
	if (((0x$capeff >> 19 & 1) == 0 || ((0x$capeff >> 21 & 1) == 0 && (0x$capeff >> 40 & 1) == 0))); then
		skip "needs CAP_SYS_PTRACE and CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE"
	fi
}

# In a subshell about to exec: close every fd above 2.  bats leaves several
# open (its fd 3, the test's output file, an internal pipe); a test program
# should own only stdin, stdout and stderr, so that its fd table is the same
# on every machine, and a process holding a bats pipe can hang bats.
close_fds() {
	local fd
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
	done
	return 0
}

proc_state() {
	local line
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	line=${line##*) }
	echo "${line%% *}"
}

# proc_start PID: its start time (field 22 of /proc/PID/stat, clock ticks
# after boot); nothing when there is no such process.
proc_start() {
	local line f
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
	line=${line##*) }
	read -r -a f <<<"$line"
	echo "${f[19]}"
}

# Wait until every thread of $1 sleeps (state S), i.e. is inside the syscall
# it waits in, not on its way there.  Returns 1 after 10 s.
wait_settled() {
	local pid=$1 i t st all
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		all=1
		for t in /proc/"$pid"/task/*; do
			st=$(proc_state "${t#/proc/}") || { all=0; break; }
			[ "$st" = S ] || { all=0; break; }
		done
		[ -e "/proc/$pid" ] && [ $all = 1 ] && return 0
		sleep 0.1
	done
	echo "process $pid did not settle in 10 s: $(for t in /proc/"$pid"/task/*; do echo -n "${t##*/}=$(proc_state "${t#/proc/}") "; done)" >&2
	return 1
}

# start_prog NAME ARGS...: run $CS_BUILDDIR/test/c/NAME "$T/ready" ARGS in the
# background, stdout and stderr to $T/prog.out.  Returns 0 once it is ready
# and asleep; the program's status if it exits first (77: cannot test this
# here); 124 if it is not ready in 10 s.
# START_WRAP, when set: words of a command that execs the program (setpriv
# ...), so that it keeps the PID.
start_prog() {
	local name=$1 bin=$CS_BUILDDIR/test/c/$1 i st=0
	shift
	if [ ! -x "$bin" ]; then
		echo "test program $bin is not built" >&2
		return 1
	fi
	rm -f "$T/ready"
	# shellcheck disable=SC2086 # START_WRAP is words
	(close_fds; exec ${START_WRAP:-} "$bin" "$T/ready" "$@") </dev/null >"$T/prog.out" 2>&1 &
	PID=$!
	record_pid "$PID"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/ready" ] && break
		if ! kill -0 "$PID" 2>/dev/null || [ "$(proc_state "$PID")" = Z ]; then
			wait "$PID" || st=$?
			[ $st = 77 ] || echo "$name exited with status $st before it was ready" >&2
			[ $st != 0 ] || st=1
			return $st
		fi
		sleep 0.1
	done
	if [ ! -s "$T/ready" ]; then
		echo "$name wrote no ready file in 10 s" >&2
		return 124
	fi
	if [ "$(cat "$T/ready")" != "$PID" ]; then
		echo "ready file says $(cat "$T/ready"), but $name was started as $PID" >&2
		return 1
	fi
	PROG_EXE=$(readlink "/proc/$PID/exe")
	wait_settled "$PID"
}

# dump_killed [OPTS...]: dump $PID into $T/img; cs-dump kills it and returns
# once the PID is gone.
dump_killed() {
	local st=0
	mkdir -p "$T/img"
	NTASKS=$(ls "/proc/$PID/task" | wc -l)
	timeout -k 5 120 "$CS_DUMP" -t "$PID" -D "$T/img" -v4 -o "$T/dump.log" "$@" \
		</dev/null >"$T/dump.out" 2>&1 3>&- || st=$?
	if [ $st != 0 ]; then
		echo "cs-dump -t $PID failed with status $st" >&2
		return 1
	fi
	# The program is this shell's child: once dead it may linger as our
	# zombie until reaped.  Anything else means it is still alive.
	st=$(proc_state "$PID") || st=gone
	if [ "$st" != gone ] && [ "$st" != Z ]; then
		echo "cs-dump returned but process $PID is still there (state $st)" >&2
		return 1
	fi
	wait "$PID" 2>/dev/null || true
	if [ -e "/proc/$PID" ]; then
		echo "PID $PID still exists after the dump" >&2
		return 1
	fi
}

# dump_running [OPTS...]: cs-dump -R; the process must keep running.
dump_running() {
	local st=0
	mkdir -p "$T/img"
	NTASKS=$(ls "/proc/$PID/task" | wc -l)
	timeout -k 5 120 "$CS_DUMP" -R -t "$PID" -D "$T/img" -v4 -o "$T/dump.log" "$@" \
		</dev/null >"$T/dump.out" 2>&1 3>&- || st=$?
	if [ $st != 0 ]; then
		echo "cs-dump -R -t $PID failed with status $st" >&2
		return 1
	fi
	st=$(proc_state "$PID") || st=gone
	case "$st" in
	S|R|D) ;;
	*) echo "process $PID is not running after cs-dump -R (state $st)" >&2; return 1 ;;
	esac
	wait_settled "$PID"
}

# restore_wait [OPTS...]: start cs-restore (it waits for the restored process
# and exits with its status); wait until $PID exists again and has settled.
restore_wait() {
	local i st=0
	(close_fds; exec "$CS_RESTORE" -D "$T/img" -v4 -o "$T/restore.log" "$@") \
		</dev/null >"$T/restore.out" 2>&1 &
	RPID=$!
	record_pid "$RPID"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -e "/proc/$PID" ] && break
		if ! kill -0 "$RPID" 2>/dev/null; then
			wait "$RPID" || st=$?
			echo "cs-restore exited with status $st before PID $PID came back" >&2
			return 1
		fi
		sleep 0.1
	done
	if [ ! -e "/proc/$PID" ]; then
		echo "PID $PID did not come back within 10 s" >&2
		return 1
	fi
	wait_restored
}

# The PID exists as soon as cs-restore forks it, long before it is the
# program again.  A SIGUSR2 sent into the middle of a restore tests the
# restorer's signal handling, not the program's state; wait (up to 10 s)
# until the process runs the program's executable with all its threads
# asleep.  Only a note when that does not happen: the checks decide.
wait_restored() {
	local i exe n
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		exe=$(readlink "/proc/$PID/exe" 2>/dev/null) || exe=
		n=$(ls "/proc/$PID/task" 2>/dev/null | wc -l)
		if [ "$exe" = "$PROG_EXE" ] && [ "$n" = "$NTASKS" ] && wait_settled_once "$PID"; then
			return 0
		fi
		kill -0 "$RPID" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "note: restored $PID did not look settled in 10 s (exe $exe, $n of $NTASKS threads)" >&2
	return 0
}

wait_settled_once() {
	local t st
	for t in /proc/"$1"/task/*; do
		st=$(proc_state "${t#/proc/}") || return 1
		[ "$st" = S ] || return 1
	done
}

# still_running PID START: PID is still the process that started at START
# (proc_start) and not a zombie. Each /proc read may be the first after
# bash reaped it: a state that cannot be read is an exit, not "not Z" (a
# zombie seen by the loop and reaped before this check read its state once
# made wake_and_wait report a program that had exited as one that did not).
still_running() {
	local st
	[ -n "$2" ] && [ "$(proc_start "$1")" = "$2" ] && st=$(proc_state "$1") && [ "$st" != Z ]
}

# wake_and_wait WAITPID: SIGUSR2 to $PID, then wait (up to 30 s) for WAITPID
# (the program itself, or cs-restore standing in for it); STATUS = its exit
# status.
wake_and_wait() {
	local waitpid=$1 i start
	# bash reaps an exited child at once; with pid_max 32768 and a test
	# that forks all the time its PID may be another process's seconds
	# later: the start time tells them apart
	start=$(proc_start "$waitpid")
	kill -USR2 "$PID"
	for ((i = 0; i < EXIT_TIMEOUT; i++)); do
		still_running "$waitpid" "$start" || break
		sleep 0.1
	done
	if still_running "$waitpid" "$start"; then
		echo "$waitpid did not exit within 30 s of SIGUSR2 to $PID" >&2
		threads_where "$waitpid" >&2
		STATUS=124
		return 1
	fi
	STATUS=0
	wait "$waitpid" || STATUS=$?
}

# threads_where PID: one line per thread of PID, its state, where it waits
# in the kernel (wchan) and its kernel stack when readable: what a process
# that does not exit is doing.
threads_where() {
	local t
	for t in /proc/"$1"/task/*; do
		[ -e "$t" ] || continue
		echo "thread ${t##*/}: state $(proc_state "${t##*/}"), wchan $(cat "$t/wchan" 2>/dev/null)," \
			"stack $(tr '\n' ' ' <"$t/stack" 2>/dev/null)"
	done
}

assert_prog_ok() {
	if [ "$STATUS" != 0 ]; then
		echo "exit status $STATUS, want 0" >&2
		return 1
	fi
	if grep -q differs "$T/prog.out"; then
		echo "the program reported differences:" >&2
		grep differs "$T/prog.out" >&2
		return 1
	fi
}

# control NAME ARGS...: no dump at all; proves the checks pass on an
# undisturbed process (and that the test program's set-up works here).
control() {
	start_prog "$@"
	wake_and_wait "$PID"
	assert_prog_ok
}

# round_trip NAME ARGS...: start, dump (killed), restore, wake, check.
round_trip() {
	require_cs
	start_prog "$@"
	dump_killed
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

# expect_detects NAME MODE ARGS...: with CS_TEST_CORRUPT=MODE the program
# breaks its own state after set-up; it must exit 1 and say what differs.
# Returns 77 when this machine cannot do MODE (e.g. no AVX-512).
expect_detects() {
	local name=$1 mode=$2 st=0
	shift 2
	CS_TEST_CORRUPT=$mode start_prog "$name" "$@" || st=$?
	if [ $st = 77 ]; then
		mv "$T/prog.out" "$T/prog-$mode.out"
		return 77
	fi
	[ $st = 0 ] || return 1
	wake_and_wait "$PID"
	mv "$T/prog.out" "$T/prog-$mode.out"
	if [ "$STATUS" != 1 ]; then
		echo "CS_TEST_CORRUPT=$mode: exit status $STATUS, want 1" >&2
		return 1
	fi
	if ! grep -q differs "$T/prog-$mode.out"; then
		echo "CS_TEST_CORRUPT=$mode: no \"differs\" line in the output" >&2
		return 1
	fi
}

# expect_detects_all NAME "MODE..." ARGS...: every mode must be detected;
# modes this machine cannot do are listed, not failed.
expect_detects_all() {
	local name=$1 modes=$2 mode st skipped=
	shift 2
	for mode in $modes; do
		st=0
		expect_detects "$name" "$mode" "$@" || st=$?
		case $st in
		0) ;;
		77) skipped="$skipped $mode" ;;
		*) echo "CS_TEST_CORRUPT=$mode was not detected" >&2; return 1 ;;
		esac
	done
	[ -z "$skipped" ] || echo "# not possible on this machine:$skipped" >&3
}

# ---------------------------------------------------------------------------
# The Go key/value server (test/go): kvserver, kvclient, kvload, built into
# $GO_BIN by test/go/build.sh (make check does it before bats runs).
#
#   require_go               skip unless the three Go programs are built
#   start_kvserver ARGS...   start kvserver on a free port, detached; sets PID,
#                            KV_PORT, KV_ADDR, PROG_EXE
#   kvc ARGS...              kvclient against $KV_ADDR; output in KV_OUT
#   kv_stat FIELD            one field of the server's STATS line
#   kv_answers               the server answers a fresh connection (STATS pid)
#   kv_dump DIR OPTS...      cs-dump -t $PID -D DIR OPTS; status in DUMP_ST
#   kv_restore_d [DIR [OPT..]] cs-restore -d; $PID must be back
#   start_kvload ARGS...     kvload against $KV_ADDR until stopped; sets KVLOAD_PID
#   kvload_flows SECS WHEN   kvload makes progress in the next SECS seconds
#   stop_kvload              SIGTERM, exit status 0; its summary in KVLOAD_SUMMARY
#   nfds PID                 how many fds PID has open
#   task_list PID            its thread IDs, one line, sorted

GO_BIN=$CS_BUILDDIR/test/go-bin

require_go() {
	local p
	for p in kvserver kvclient kvload; do
		[ -x "$GO_BIN/$p" ] || skip "$p is not built in $GO_BIN (run test/go/build.sh $GO_BIN)"
	done
}

# A TCP port nobody uses on this machine as a local or remote port (checked
# in /proc/net/tcp{,6}); random, so that concurrent test runs do not collide.
free_port() {
	local p i hex lo=32768
	# below the ephemeral range, which clients' ports come from: one could take
	# a test server's port between its dump and its restore
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	[ "$lo" -gt 12000 ] 2>/dev/null || lo=32768
	for ((i = 0; i < 100; i++)); do
		p=$((10000 + RANDOM % (lo - 10000)))
		printf -v hex ':%04X ' "$p"
		cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -qi -- "$hex" || { echo "$p"; return 0; }
	done
	echo "no free TCP port found" >&2
	return 1
}

# start_kvserver ARGS...: the server runs in its own session, started from a
# subshell that exits at once, so it is not a child of this shell: when
# cs-dump kills it, init reaps it and no zombie of ours holds its PID.  Its
# PID comes from its -ready file (which also puts $T in its command line, so
# that teardown recognises it).  Output goes to $T/prog-kvserver.out.
start_kvserver() {
	local i
	KV_PORT=$(free_port) || return 1
	KV_ADDR=127.0.0.1:$KV_PORT
	rm -f "$T/ready"
	(close_fds; setsid "${KV_BIN:-$GO_BIN/kvserver}" -addr "$KV_ADDR" -ready "$T/ready" "$@" \
		</dev/null >>"$T/prog-kvserver.out" 2>&1 &)
	for ((i = 0; i < 3 * READY_TIMEOUT; i++)); do
		[ -s "$T/ready" ] && break
		# it logs only after the ready file, or when it fails
		if grep -q 'kvserver: ' "$T/prog-kvserver.out" 2>/dev/null && [ ! -s "$T/ready" ]; then
			echo "kvserver failed to start:" >&2
			cat "$T/prog-kvserver.out" >&2
			return 1
		fi
		sleep 0.1
	done
	if [ ! -s "$T/ready" ]; then
		echo "kvserver wrote no ready file in 30 s" >&2
		return 124
	fi
	PID=$(cat "$T/ready")
	record_pid "$PID"
	PROG_EXE=$(readlink "/proc/$PID/exe")
}

# kvc ARGS...: kvclient -addr $KV_ADDR; it retries to dial for 10 s.
# Output in KV_OUT and appended to $T/prog-kvclient.out.
kvc() {
	local st=0
	KV_OUT=$("$GO_BIN/kvclient" -addr "$KV_ADDR" -timeout 10s "$@" 2>&1 </dev/null 3>&-) || st=$?
	printf '$ kvclient %s  (status %d)\n%s\n' "$*" "$st" "$KV_OUT" >>"$T/prog-kvclient.out"
	if [ $st != 0 ]; then
		echo "kvclient $* failed with status $st: $(tail -n 3 <<<"$KV_OUT")" >&2
		return 1
	fi
}

# kv_stat FIELD: print FIELD of the STATS line (keys, num_gc, pid, ...).
kv_stat() {
	local w
	kvc -stats || return 1
	for w in $KV_OUT; do
		case $w in "$1"=*) echo "${w#*=}"; return 0 ;; esac
	done
	echo "no $1 in the STATS line: $KV_OUT" >&2
	return 1
}

# kv_answers: the server answers a fresh connection, and it is $PID.
kv_answers() {
	local pid
	pid=$(kv_stat pid) || return 1
	if [ "$pid" != "$PID" ]; then
		echo "the server on $KV_ADDR is PID $pid, want $PID" >&2
		return 1
	fi
}

# kv_dump DIR OPTS...: cs-dump -t $PID -D DIR -v4 OPTS, bounded by a
# timeout; never fails itself: sets DUMP_ST.  stdout+stderr in
# $T/dump.out (stderr alone also in $T/dump.err), log in $T/dump.log.
kv_dump() {
	local dir=$1
	shift
	DUMP_ST=0
	timeout -k 5 120 "$CS_DUMP" -t "$PID" -D "$dir" -v4 -o "$T/dump.log" "$@" \
		</dev/null >"$T/dump.out" 2>"$T/dump.err" 3>&- || DUMP_ST=$?
	cat "$T/dump.err" >>"$T/dump.out"
}

# start_kvload ARGS...: kvload -addr $KV_ADDR -duration 0 ARGS -report
# $T/kvload.report, detached from our fds, output in $T/prog-kvload.out, its
# PID in KVLOAD_PID (recorded); fails unless it reports progress (ops/s
# above 0) within 5 s. ARGS should set -interval short enough for that.
start_kvload() {
	local i
	(close_fds; exec "$GO_BIN/kvload" -addr "$KV_ADDR" -duration 0 "$@" -report "$T/kvload.report") \
		</dev/null >"$T/prog-kvload.out" 2>&1 &
	KVLOAD_PID=$!
	record_pid "$KVLOAD_PID"
	for ((i = 0; i < 50; i++)); do
		grep -q 'ops/s=[1-9]' "$T/prog-kvload.out" && break
		sleep 0.1
	done
	grep -q 'ops/s=[1-9]' "$T/prog-kvload.out" || { echo "kvload made no progress in 5 s" >&2; return 1; }
}

# kvload_flows SECS WHEN: kvload reports progress in the next SECS seconds;
# else fail saying "kvload made no progress in WHEN".
kvload_flows() {
	local lines
	lines=$(wc -l <"$T/prog-kvload.out")
	sleep "$1"
	tail -n +"$((lines + 1))" "$T/prog-kvload.out" | grep -q 'ops/s=[1-9]' ||
		{ echo "kvload made no progress in $2" >&2; return 1; }
}

# stop_kvload: SIGTERM to the kvload of start_kvload, which must exit 0;
# its summary line ("kvload: total ops=N ... errors=N mismatches=N") in
# KVLOAD_SUMMARY.
stop_kvload() {
	local st=0
	kill -TERM "$KVLOAD_PID"
	wait "$KVLOAD_PID" || st=$?
	[ $st = 0 ] || { echo "kvload exited with status $st" >&2; return 1; }
	KVLOAD_SUMMARY=$(cat "$T/kvload.report")
}

# kv_restore_d [DIR [OPTS...]]: cs-restore -d OPTS from DIR ($T/img); $PID
# must be back.
kv_restore_d() {
	local dir=${1:-$T/img} st=0
	[ $# = 0 ] || shift
	(close_fds; exec timeout -k 5 120 "$CS_RESTORE" -D "$dir" -d -v4 -o "$T/restore.log" "$@") \
		</dev/null >"$T/restore.out" 2>&1 || st=$?
	if [ $st != 0 ]; then
		echo "cs-restore -D $dir -d failed with status $st" >&2
		return 1
	fi
	if [ ! -e "/proc/$PID" ] || [ "$(proc_state "$PID")" = Z ]; then
		echo "cs-restore -d returned 0 but PID $PID is not running" >&2
		return 1
	fi
}

nfds() {
	ls "/proc/$1/fd" 2>/dev/null | wc -l
}

task_list() {
	ls "/proc/$1/task" 2>/dev/null | sort -n | tr '\n' ' '
}

# wait_pid_gone PID [TENTHS]: wait (default 5 s) until PID no longer exists
# (a zombie counts as gone only once reaped).
wait_pid_gone() {
	local i
	for ((i = 0; i < ${2:-50}; i++)); do
		[ -e "/proc/$1" ] || return 0
		sleep 0.1
	done
	echo "PID $1 still exists (state $(proc_state "$1"))" >&2
	return 1
}

# flip_byte FILE OFFSET: invert every bit of the byte at OFFSET.
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	[ -n "$b" ] || { echo "no byte at $2 in $1" >&2; return 1; }
	printf "\\$(printf %03o $((b ^ 255)))" |
		dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
}

# expect_features DIR [+NAME|-NAME]...: the inventory of DIR names feature
# NAME (+) or does not (-) (lib/imgfeatures.h, checksync-images(5)
# FEATURES). Without jq: a note, and nothing is checked.
expect_features() {
	local dir=$1 have w named
	shift
	command -v jq >/dev/null || { echo "# jq is not installed: features of $dir not checked" >&3; return 0; }
	have=" $("$CS_SHOW" "$dir" | jq -r '.inventory.features // [] | join(" ")') "
	for w in "$@"; do
		case $have in *" ${w:1} "*) named=1 ;; *) named=0 ;; esac
		if [ "${w:0:1}" = + ] && [ $named = 0 ]; then
			echo "the inventory of $dir does not name feature ${w:1}: [${have:1:-1}]" >&2
			return 1
		fi
		if [ "${w:0:1}" = - ] && [ $named = 1 ]; then
			echo "the inventory of $dir names feature ${w:1}: [${have:1:-1}]" >&2
			return 1
		fi
	done
}

# refused WORDS...: cs-dump -t $PID exits 1 with one line on stderr holding
# every WORD and leaves no images directory (the tree, pty and pidfd tests;
# DUMP_OPTS: more cs-dump options).
refused() {
	local st=0 w
	timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$PID" -D "$T/img" ${DUMP_OPTS[@]+"${DUMP_OPTS[@]}"} \
		</dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	cat "$T/err" >>"$T/dump.out"
	[ "$st" = 1 ] || { echo "cs-dump: exit status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line on stderr:" >&2; cat "$T/err" >&2; return 1; }
	for w in "$@"; do
		grep -qF -- "$w" "$T/err" || { echo "\"$w\" not in: $(cat "$T/err")" >&2; return 1; }
	done
	[ ! -e "$T/img" ] || { echo "$T/img left behind" >&2; return 1; }
}

# wait_file FILE: until FILE is not empty (READY_TIMEOUT tenths of a second);
# 1 if it never is
wait_file() {
	local i
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	[ -s "$1" ]
}
