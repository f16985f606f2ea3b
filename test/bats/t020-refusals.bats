#!/usr/bin/env bats
# t020-refusals.bats - what cs-dump must refuse because cs-restore could not
# recreate it, and cases a hostile tester found that must now work.
#
# Refused, each with exit status 1, exactly one line on stderr naming the
# object, no images directory (nor a partial one), and the target left
# running (not stopped, not traced, and it still exits 0 on SIGUSR2):
# a deleted working directory; an fd on a /proc or /sys file; an O_PATH fd;
# an fd holding a flock, POSIX or OFD lock without --file-locks (with it,
# see t500-files.bats); a process in another namespace (but a time namespace
# of its own is dumped: t710-timens.bats), or one that unshared a time
# namespace for its children; the leader of a
# process group with other members; a process without [vdso]; a zombie; a
# process already traced; a TID that is not a process; a TCP listener with
# connections not accepted yet, without --tcp-close.  PID 1 is never
# touched.
#
# Fixed, each with a round trip (and a negative control where the program
# checks a value): an unbound TCP socket; a pipe whose other end is outside
# the process (prog | cat: t520-fifo.bats); a SIGSTOPped process stays stopped
# through cs-dump -R and comes back stopped; an eventfd counter above 2^32;
# fds >= 1024 with cs-restore run under `ulimit -Sn 1024`; a process running
# as another uid; a listener's accept queue dropped with --tcp-close; threads
# with credentials and securebits of their own (test/c/threadcreds), as root
# and non-root, killed and with -R; refused there: a thread with more than
# 1024 groups (cs-dump), a thread capability cs-restore cannot give.
#
# Targets are test/c/refuse in one mode or another (see refuse.c).  Refusal
# targets are started detached, in a session of their own, so that init (or
# the wrapper they run under) reaps them.  cs-dump runs with --runtime=none:
# for a C program the default --runtime=auto adds a warning line ("not a Go
# binary") to stderr, and the one-line rule is about the error.

load helpers

REFUSE=$CS_BUILDDIR/test/c/refuse

teardown() {
	kill_extra
	# the overmounted test's tmpfs, if it failed before its umount
	[ -n "${T:-}" ] && mountpoint -q "$T/over" 2>/dev/null && umount "$T/over"
	cs_teardown
}

require_refuse() {
	require_cs
	[ -x "$REFUSE" ] || skip "$REFUSE is not built (make test/c/refuse)"
}

# Processes that are not test programs (strace): PID and expected
# comm in $T/xpids; killed by PID at teardown while the comm still matches.
record_extra() {
	echo "$1 $2" >>"$T/xpids"
}

kill_extra() {
	local pid comm
	[ -n "${T:-}" ] && [ -f "$T/xpids" ] || return 0
	while read -r pid comm; do
		[ "$pid" -gt 1 ] 2>/dev/null || continue
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || continue
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null || true
	done <"$T/xpids"
}

# A PID read from a ready file: a number above 1 whose command line names $T.
# (A program in a new PID namespace would write 1 here: never dump or kill it.)
valid_pid() {
	[[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 1 ] && is_ours "$1"
}

# start_detached NAME CMD...: run CMD (which must make a program write its
# PID to $T/NAME.ready, or to $READY when set) in a new session, detached
# from this shell; output in $T/prog-NAME.out.  Sets PID (recorded for
# teardown) and PROG_EXE once the program is ready and asleep.
start_detached() {
	local name=$1 ready=${READY:-$T/$1.ready} i
	shift
	rm -f "$ready"
	(close_fds; setsid "$@" </dev/null >>"$T/prog-$name.out" 2>&1 &)
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$ready" ] && break
		sleep 0.1
	done
	if [ ! -s "$ready" ]; then
		echo "$name: no ready file in 10 s: $(tail -n 3 "$T/prog-$name.out")" >&2
		return 1
	fi
	PID=$(cat "$ready")
	if ! valid_pid "$PID"; then
		echo "$name: ready file says \"$PID\": not a process of this test" >&2
		PID=
		return 1
	fi
	record_pid "$PID"
	PROG_EXE=$(readlink "/proc/$PID/exe")
	wait_settled "$PID"
}

# expect_refusal TARGET WORDS...: cs-dump -t TARGET exits 1, prints nothing on
# stdout and exactly one line on stderr that contains every WORD (fixed
# strings), and leaves neither $T/img nor a partial directory.
expect_refusal() {
	local target=$1 st=0 w left
	shift
	valid_pid "$target" || [ "$(proc_state "$target")" = Z ] || {
		echo "refusing to run cs-dump on $target: not a process of this test" >&2
		return 1
	}
	timeout -k 5 60 "$CS_DUMP" --runtime=none -t "$target" -D "$T/img" \
		</dev/null >"$T/out" 2>"$T/err" 3>&- || st=$?
	{ echo "\$ cs-dump --runtime=none -t $target -D $T/img  (status $st)"
	  sed 's/^/  stdout: /' "$T/out"; sed 's/^/  stderr: /' "$T/err"; } >>"$T/dump.out"
	if [ "$st" != 1 ]; then
		echo "cs-dump -t $target: exit status $st, want 1; stderr: $(cat "$T/err")" >&2
		return 1
	fi
	if [ -s "$T/out" ]; then
		echo "cs-dump -t $target wrote to stdout: $(head -n 3 "$T/out")" >&2
		return 1
	fi
	if [ "$(wc -l <"$T/err")" != 1 ]; then
		echo "cs-dump -t $target: want one line on stderr, got $(wc -l <"$T/err"):" >&2
		cat "$T/err" >&2
		return 1
	fi
	for w in "$@"; do
		grep -qF -- "$w" "$T/err" && continue
		echo "cs-dump -t $target: \"$w\" not in: $(cat "$T/err")" >&2
		return 1
	done
	if [ -e "$T/img" ]; then
		echo "cs-dump -t $target left $T/img behind" >&2
		return 1
	fi
	left=$(find "$T" -maxdepth 1 -name '.*.partial-*')
	if [ -n "$left" ]; then
		echo "partial directory left behind: $left" >&2
		return 1
	fi
}

# target_running PID [TRACER]: PID is asleep or running, not stopped, and
# traced by TRACER (default: by nobody).
target_running() {
	local st tracer
	st=$(proc_state "$1") || { echo "process $1 is gone" >&2; return 1; }
	case $st in
	S|R) ;;
	*) echo "process $1 is in state $st" >&2; return 1 ;;
	esac
	tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$1/status")
	if [ "$tracer" != "${2:-0}" ]; then
		echo "process $1 is traced by $tracer, want ${2:-0}" >&2
		return 1
	fi
}

# wake_detached PID NAME: SIGUSR2; the program must exit (within 5 s; a
# zombie counts, as its reaper is not this shell) having printed its "ok"
# line.
wake_detached() {
	local i st
	kill -USR2 "$1"
	for ((i = 0; i < 50; i++)); do
		st=$(proc_state "$1") || break
		[ "$st" = Z ] && break
		sleep 0.1
	done
	if [ -n "$st" ] && [ "$st" != Z ]; then
		echo "$2: $1 did not exit within 5 s of SIGUSR2 (state $st)" >&2
		return 1
	fi
	if ! grep -q '^refuse: ok:' "$T/prog-$2.out"; then
		echo "$2: no \"ok\" line after SIGUSR2: $(tail -n 3 "$T/prog-$2.out")" >&2
		return 1
	fi
}

# refuse_mode MODE WORDS...: a refuse MODE target is refused, naming WORDS
# (@PID@ in a word stands for its PID), and goes on unharmed.
refuse_mode() {
	local mode=$1 w words=()
	shift
	start_detached "$mode" "$REFUSE" "$T/$mode.ready" "$mode"
	for w in "$@"; do words+=("${w//@PID@/$PID}"); done
	expect_refusal "$PID" "${words[@]}"
	target_running "$PID"
	wake_detached "$PID" "$mode"
}

# ---- refusals -----------------------------------------------------------------

@test "refuse: a deleted working directory" {
	require_refuse
	refuse_mode deleted-cwd "$T/gone (deleted)" "working directory" @PID@
}

@test "refuse: an fd on a /proc file and an fd on a /sys file" {
	require_refuse
	refuse_mode proc-fd "fd 3" "/proc/@PID@/stat"
	refuse_mode sys-fd "fd 3" "/sys/"
}

@test "refuse: an O_PATH fd" {
	require_refuse
	refuse_mode o-path "fd 3" "$T/opath-file" O_PATH
}

@test "refuse: an fd on a POSIX message queue, on a namespace file, on a path a mount now hides; such a working directory" {
	require_refuse
	refuse_mode mqueue-fd "fd 3" "POSIX message queue"
	refuse_mode ns-fd "fd 3" "net:[" "namespace file"
	start_detached overmounted "$REFUSE" "$T/overmounted.ready" overmounted
	mount -t tmpfs cs-test-over "$T/over" || skip "cannot mount a tmpfs"
	expect_refusal "$PID" "fd 3" "$T/over/file" "names another file or nothing"
	target_running "$PID"
	umount "$T/over"
	wake_detached "$PID" overmounted
	start_detached overmounted-cwd "$REFUSE" "$T/overmounted-cwd.ready" overmounted-cwd
	mount -t tmpfs cs-test-over "$T/over"
	expect_refusal "$PID" "working directory $T/over/sub" "a mount over it"
	target_running "$PID"
	umount "$T/over"
	wake_detached "$PID" overmounted-cwd
}

@test "refuse: an fd holding a flock, a POSIX or an OFD lock (no --file-locks)" {
	require_refuse
	refuse_mode flock "fd 3" "$T/lock-file" "lock" "FLOCK" "--file-locks"
	refuse_mode posix-lock "fd 3" "$T/lock-file" "lock" "POSIX"
	refuse_mode ofd-lock "fd 3" "$T/lock-file" "lock" "OFDLCK"
}

@test "refuse: a process in another mnt, net, uts, ipc, user or cgroup namespace" {
	require_refuse
	command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
	local ns opt done= cannot=
	# no PID namespace: its first process is PID 1 inside, and needs a
	# wrapper between it and this shell; the check is the same comparison.
	# A time namespace of its own is not refused (t710-timens.bats).
	for ns in uts ipc net mnt cgroup user; do
		opt=--$ns
		[ $ns = mnt ] && opt=--mount
		if ! start_detached "ns-$ns" unshare $opt "$REFUSE" "$T/ns-$ns.ready" plain 2>/dev/null; then
			cannot="$cannot $ns"
			continue
		fi
		if [ "$(readlink "/proc/$PID/ns/$ns")" = "$(readlink "/proc/self/ns/$ns")" ]; then
			echo "unshare $opt: $PID is still in this shell's $ns namespace" >&2
			return 1
		fi
		expect_refusal "$PID" "$PID" "another $ns namespace"
		target_running "$PID"
		wake_detached "$PID" "ns-$ns"
		done="$done $ns"
	done
	[ -n "$cannot" ] && echo "# could not create here:$cannot" >&3
	[[ $done == *uts* ]] || skip "unshare --uts does not work here"
}

@test "refuse: a process that unshared a time namespace for its children" {
	require_refuse
	[ -e /proc/self/ns/time ] || skip "this kernel has no time namespaces"
	# the program unshares it itself (an execve would move it there)
	start_detached ns-time-kids "$REFUSE" "$T/ns-time-kids.ready" time-kids
	if [ "$(readlink "/proc/$PID/ns/time")" != "$(readlink /proc/self/ns/time)" ] ||
	   [ "$(readlink "/proc/$PID/ns/time_for_children")" = "$(readlink /proc/self/ns/time)" ]; then
		echo "$PID is not in our time namespace with another for its children" >&2
		return 1
	fi
	expect_refusal "$PID" "$PID" "time namespace for its children"
	target_running "$PID"
	wake_detached "$PID" ns-time-kids
}

@test "refuse: the leader of a process group and session with another member" {
	require_refuse
	local member
	# the member is forked by a subshell that exits: it is not a child of
	# the leader (that would be refused as a child), but it stays in the
	# group and session that sh made and the leader inherits by exec
	start_detached leader sh -c '("$0" "$1.m" plain &); exec "$0" "$1" plain' "$REFUSE" "$T/leader.ready"
	member=$(cat "$T/leader.ready.m")
	valid_pid "$member" || { echo "member PID \"$member\"" >&2; return 1; }
	record_pid "$member"
	[ "$(ps -o pgid= -p "$member" | tr -d ' ')" = "$PID" ] || {
		echo "the member $member is not in process group $PID" >&2
		return 1
	}
	expect_refusal "$PID" "$PID" "leads the process group" "$member"
	target_running "$PID"
	target_running "$member"
	kill -USR2 "$member"
	wake_detached "$PID" leader
}

@test "refuse: a process without [vdso]" {
	require_refuse
	refuse_mode no-vdso "@PID@" "[vdso]"
}

@test "refuse: a zombie, naming it; its parent keeps running" {
	require_refuse
	local z i
	# sh forks a short sleep and execs the program: the exited child is the
	# program's, and it never waits for it
	start_detached zombie sh -c 'sleep 0.3 & echo $! >"$1.z"; exec "$0" "$1" plain' "$REFUSE" "$T/zombie.ready"
	z=$(cat "$T/zombie.ready.z")
	for ((i = 0; i < 50; i++)); do
		[ "$(proc_state "$z")" = Z ] && break
		sleep 0.1
	done
	[ "$(proc_state "$z")" = Z ] || { echo "$z is not a zombie: $(proc_state "$z")" >&2; return 1; }
	[ "$(ps -o ppid= -p "$z" | tr -d ' ')" = "$PID" ] || { echo "zombie $z is not $PID's" >&2; return 1; }
	expect_refusal "$z" "$z" "zombie"
	[ "$(proc_state "$z")" = Z ] || { echo "zombie $z: state $(proc_state "$z")" >&2; return 1; }
	target_running "$PID"
	wake_detached "$PID" zombie
}

@test "refuse: a process already traced (strace), naming the tracer; strace keeps it" {
	require_refuse
	command -v strace >/dev/null || skip "strace is not installed"
	local s i tracer
	start_detached traced "$REFUSE" "$T/traced.ready" plain
	strace -o /dev/null -p "$PID" </dev/null >/dev/null 2>"$T/prog-strace.out" 3>&- &
	s=$!
	record_extra "$s" strace
	for ((i = 0; i < 50; i++)); do
		tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")
		[ "$tracer" != 0 ] && break
		sleep 0.1
	done
	[ "$tracer" = "$s" ] || skip "strace did not attach (TracerPid $tracer): $(cat "$T/prog-strace.out")"
	expect_refusal "$PID" "$PID" "already traced" "$s"
	target_running "$PID" "$s"
	kill -TERM "$s"
	wait "$s" || true
	target_running "$PID"
	wake_detached "$PID" traced
}

@test "refuse: a TCP listener with a connection not accepted yet (no --tcp-close); with -R it is left to the process" {
	require_refuse
	local port kfd
	start_detached listen-queue "$REFUSE" "$T/listen-queue.ready" listen-queue
	port=$(cat "$T/listen-queue.ready.port")
	# completed by the kernel, waiting in the listener's accept queue
	exec {kfd}<>"/dev/tcp/127.0.0.1/$port"
	expect_refusal "$PID" "fd 3" "TCP listener on port $port" "1 connection(s) not accepted yet" "--tcp-close"
	target_running "$PID"
	# with -R they stay the running process's: not refused
	dump_running --runtime=none
	grep -qF "fd 3: TCP listener on port $port: 1 connection(s) not accepted yet, left to the running process" "$T/dump.log"
	wake_detached "$PID" listen-queue
	exec {kfd}>&-
}

@test "refuse: a TID that is not a process, naming the process" {
	require_refuse
	local tid
	start_detached thread "$REFUSE" "$T/thread.ready" thread
	tid=$(ls "/proc/$PID/task" | grep -vx "$PID" | head -n 1)
	[ -n "$tid" ] || { echo "no second thread in $PID" >&2; return 1; }
	expect_refusal "$tid" "$tid" "thread of process $PID"
	target_running "$PID"
	target_running "$tid"
	wake_detached "$PID" thread
}

# ---- fixed ---------------------------------------------------------------------

@test "fixed: unbound TCP sockets (IPv4, IPv6 non-blocking) survive dump and restore" {
	require_refuse
	control refuse fresh-socket
	expect_detects refuse socket fresh-socket
	round_trip refuse fresh-socket
}

# target_stopped PID: in a group stop (T), traced by nobody.
target_stopped() {
	local st tracer
	sleep 0.2	# a stop that would end by itself has had time to
	st=$(proc_state "$1") || { echo "process $1 is gone" >&2; return 1; }
	[ "$st" = T ] || { echo "process $1 is in state $st, want T (stopped)" >&2; return 1; }
	tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$1/status")
	[ "$tracer" = 0 ] || { echo "process $1 is traced by $tracer" >&2; return 1; }
}

@test "fixed: a TCP listener's connections not accepted yet are dropped with --tcp-close, saying so; the restored listener accepts" {
	require_refuse
	local port kfd st=0 line
	expect_detects refuse listener listen-queue
	start_prog refuse listen-queue
	port=$(cat "$T/ready.port")
	exec {kfd}<>"/dev/tcp/127.0.0.1/$port"
	dump_killed --tcp-close --runtime=none
	grep -qF "fd 3: TCP listener on port $port: 1 connection(s) not accepted yet dropped (--tcp-close)" "$T/dump.log"
	# its client was reset when the listener went (a timeout is status > 128)
	read -r -t 5 -u "$kfd" line 2>/dev/null || st=$?
	exec {kfd}>&-
	[ "$st" = 1 ] || { echo "the queued client: read status $st, want 1 (reset)" >&2; return 1; }
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "fixed: a SIGSTOPped process stays stopped through cs-dump -R and comes back stopped (state T)" {
	require_refuse
	local i st=
	start_prog refuse plain
	kill -STOP "$PID"
	for ((i = 0; i < 50; i++)); do
		[ "$(proc_state "$PID")" = T ] && break
		sleep 0.1
	done
	[ "$(proc_state "$PID")" = T ] || { echo "$PID did not stop: $(proc_state "$PID")" >&2; return 1; }
	# cs-dump -R lets it go stopped as it found it, not traced
	timeout -k 5 60 "$CS_DUMP" -R --runtime=none -t "$PID" -D "$T/img-R" -v4 -o "$T/dump.log" \
		</dev/null >>"$T/dump.out" 2>&1 3>&- || { echo "cs-dump -R of a stopped process failed" >&2; return 1; }
	target_stopped "$PID"
	dump_killed
	(close_fds; exec "$CS_RESTORE" -D "$T/img" -v4 -o "$T/restore.log") \
		</dev/null >"$T/restore.out" 2>&1 &
	RPID=$!
	record_pid "$RPID"
	# back, running the program, and stopped
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		st=$(proc_state "$PID") || st=
		[ "$st" = T ] && [ "$(readlink "/proc/$PID/exe")" = "$PROG_EXE" ] && break
		kill -0 "$RPID" 2>/dev/null || break
		sleep 0.1
	done
	if [ "$st" != T ]; then
		echo "restored $PID is in state \"$st\", want T (stopped)" >&2
		return 1
	fi
	target_stopped "$PID"
	kill -CONT "$PID"
	wait_settled "$PID"
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "fixed: an eventfd counter above 2^32 survives dump and restore" {
	require_refuse
	control refuse eventfd-big
	expect_detects refuse eventfd eventfd-big
	round_trip refuse eventfd-big
}

@test "fixed: fds 1023, 1024 and 1500 restore with cs-restore under ulimit -Sn 1024" {
	require_refuse
	control refuse many-fds
	expect_detects refuse fds many-fds
	start_prog refuse many-fds
	dump_killed
	ulimit -Sn 1024
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

# creds_of PID: the ids and capability sets of each of its threads
creds_of() {
	local t
	for t in /proc/"$1"/task/*; do
		echo "${t##*/}"
		grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb):' "$t/status"
	done
}

@test "fixed: a process running as uid 65534 is dumped and restored with its credentials, in every thread" {
	require_refuse
	[ "$(id -u)" = 0 ] || skip "needs root to run a target as another user"
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	local nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups) before after
	"${nobody[@]}" test -x "$REFUSE" ||
		skip "user 65534 cannot execute $REFUSE (a parent directory is not searchable)"
	chmod o+x "$T"
	mkdir "$T/nobody"
	chown 65534 "$T/nobody"
	# a second thread: Linux keeps credentials per thread
	READY=$T/nobody/ready start_detached nobody "${nobody[@]}" "$REFUSE" "$T/nobody/ready" thread
	before=$(creds_of "$PID")
	[[ $before == *65534* ]] || { echo "the target does not run as 65534: $before" >&2; return 1; }
	[ "$(grep -c '^Uid:' <<<"$before")" = 2 ] || { echo "want 2 threads: $before" >&2; return 1; }
	NTASKS=2
	dump_killed
	wait_pid_gone "$PID"
	restore_wait
	after=$(creds_of "$PID")
	if [ "$before" != "$after" ]; then
		echo "credentials differ after restore:" >&2
		diff <(echo "$before") <(echo "$after") >&2
		return 1
	fi
	wake_and_wait "$RPID"
	[ "$STATUS" = 0 ] || { echo "restored process: exit status $STATUS, want 0" >&2; return 1; }
	grep -q '^refuse: ok:' "$T/prog-nobody.out" || {
		echo "no \"ok\" line: $(tail -n 3 "$T/prog-nobody.out")" >&2
		return 1
	}
}

# ---- threads with credentials of their own -------------------------------------
# Credentials are per thread: a raw setresuid, setgroups or capset in one
# thread changes that one only (Samba's smbd impersonates users so). Each
# thread's own set is saved (thread_core_entry.creds, feature thread-creds)
# and given back in that thread; test/c/threadcreds checks every thread's
# ids, groups, capability sets and securebits, and the dumpable flag.

THREADCREDS=$CS_BUILDDIR/test/c/threadcreds

require_threadcreds() {
	require_cs
	[ -x "$THREADCREDS" ] || skip "$THREADCREDS is not built (make test/c/threadcreds)"
	[ "$(id -u)" = 0 ] || skip "needs root: its threads change their ids"
}

# thread_with PID KEY VALUE: the TID of PID's thread whose status line KEY
# reads VALUE (its first field)
thread_with() {
	local t
	for t in /proc/"$1"/task/*; do
		[ "$(awk -v k="$2:" '$1 == k { print $2 }' "$t/status")" = "$3" ] && { echo "${t##*/}"; return 0; }
	done
	echo "no thread of $1 with $2 $3" >&2
	return 1
}

# own_creds_cores: how many core images of $T/img hold credentials of their own
own_creds_cores() {
	"$CS_SHOW" "$T/img" | jq '[.images | to_entries[] | select(.key | startswith("core-"))
		| .value[] | select(.creds != null)] | length'
}

@test "fixed: threads with credentials and securebits of their own (raw setresuid, setgroups, capset) round trip; controls" {
	require_threadcreds
	control threadcreds root
	expect_detects_all threadcreds "a-uid a-gid b-caps b-sb b-groups dumpable" root
	start_prog threadcreds root
	dump_killed
	expect_features "$T/img" +thread-creds
	if command -v jq >/dev/null; then
		# A and B; main and C have the process's
		[ "$(own_creds_cores)" = 2 ] || { echo "want 2 cores with creds, got $(own_creds_cores)" >&2; return 1; }
	fi
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	grep -q "ok: 60 values checked" "$T/prog.out"
}

# cs-dump -R leaves every thread's credentials as they were (the program
# checks them as it goes on), and the images restore them once it is gone.
@test "fixed: threads with credentials of their own, dumped with -R: the process goes on, the images restore" {
	require_threadcreds
	start_prog threadcreds root
	dump_running
	# its output file as at the dump (size, mtime), for the restore's check
	cp -p "$T/prog.out" "$T/prog.out.at-dump"
	wake_and_wait "$PID"
	assert_prog_ok
	mv "$T/prog.out" "$T/prog-running.out"
	mv "$T/prog.out.at-dump" "$T/prog.out"
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	grep -q "ok: 60 values checked" "$T/prog.out"
}

# A restore that fails half-way through the threads' credentials (some
# threads are other users already) leaves nothing; the next one works.
@test "fixed: threads with credentials of their own: CS_FAULT=creds and exit:creds leave nothing, then the restore works" {
	require_threadcreds
	local fault st want tids t
	start_prog threadcreds root
	tids=$(ls "/proc/$PID/task" | sort -n)
	dump_killed
	for fault in creds exit:creds; do
		st=0
		want=1
		[ "$fault" = creds ] || want=42
		(close_fds; CS_FAULT=$fault exec timeout -k 5 30 "$CS_RESTORE" -D "$T/img" -d -v4 -o "$T/restore.log") \
			</dev/null >"$T/restore.out" 2>&1 || st=$?
		[ "$st" = "$want" ] || { echo "CS_FAULT=$fault: status $st, want $want: $(cat "$T/restore.out")" >&2; return 1; }
		if [ "$want" = 1 ]; then
			grep -q "fault injection: step creds fails" "$T/restore.out" ||
				{ echo "CS_FAULT=creds said: $(cat "$T/restore.out")" >&2; return 1; }
		fi
		for t in $tids; do
			wait_pid_gone "$t" 50 || { echo "CS_FAULT=$fault: TID $t is left (state $(proc_state "$t"))" >&2; return 1; }
		done
	done
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	grep -q "ok: 60 values checked" "$T/prog.out"
}

@test "fixed: a process whose threads all run as other non-root users, with capabilities and securebits (round trip; controls)" {
	require_threadcreds
	chmod 1777 "$T"	# main, as uid 3001, writes the ready file
	control threadcreds nonroot
	expect_detects_all threadcreds "a-uid a-gid b-caps b-sb dumpable" nonroot
	start_prog threadcreds nonroot
	dump_killed
	expect_features "$T/img" +thread-creds
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	grep -q "ok: 62 values checked" "$T/prog.out"
}

@test "refuse: a thread with more than 1024 supplementary groups; it goes on" {
	require_threadcreds
	local a
	start_prog threadcreds manygroups
	a=$(thread_with "$PID" Groups 10000)
	refused "thread $a has more than 1024 supplementary groups"
	wake_and_wait "$PID"
	assert_prog_ok
}

# The images give a thread a capability cs-restore has not got (a
# bounding set without CAP_SYS_RESOURCE, bit 24, for the target and
# cs-restore): refused at the check, one line naming the thread, nothing made.
@test "refuse (cs-restore): a thread capability that cannot be given here, before anything is made" {
	require_threadcreds
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	[ -x "$CS_BUILDDIR/test/c/img-edit" ] || skip "img-edit is not built (make test/c/img-edit)"
	local b st=0
	START_WRAP="setpriv --bounding-set=-sys_resource" start_prog threadcreds root
	b=$(thread_with "$PID" CapAmb 0000000000000400)
	dump_killed
	"$CS_BUILDDIR/test/c/img-edit" "$T/img" or-thread-caps "$b" 0x1000000
	printf '#!/bin/bash\nexec setpriv --bounding-set=-sys_resource %s "$@"\n' "$CS_RESTORE" >"$T/restore-nores"
	chmod +x "$T/restore-nores"
	(close_fds; exec timeout -k 5 60 "$T/restore-nores" -D "$T/img" -d -v4 -o "$T/restore.log") \
		</dev/null >"$T/restore.out" 2>&1 || st=$?
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1" >&2; cat "$T/restore.out" >&2; return 1; }
	[ "$(wc -l <"$T/restore.out")" = 1 ] || { echo "want one line:" >&2; cat "$T/restore.out" >&2; return 1; }
	grep -qF "thread $b: capabilities 0x1000000 of its permitted set are not in cs-restore's" "$T/restore.out" ||
		{ echo "not the refusal: $(cat "$T/restore.out")" >&2; return 1; }
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
}

# The stub's threads start with cs-restore's credentials, securebits
# included: a thread saved with none (main, A, C) kept cs-restore's
# SECBIT_NO_SETUID_FIXUP (a later setuid from root would then keep every
# capability). Each thread must come back with its own securebits,
# 0 included (threadcreds checks every thread's PR_GET_SECUREBITS).
@test "fixed: threads come back with their own securebits, not those of cs-restore (setpriv --securebits +no_setuid_fixup)" {
	require_threadcreds
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	start_prog threadcreds root
	dump_killed
	printf '#!/bin/bash\nexec setpriv --securebits +no_setuid_fixup %s "$@"\n' "$CS_RESTORE" >"$T/restore-sb"
	chmod +x "$T/restore-sb"
	CS_RESTORE=$T/restore-sb
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	grep -q "ok: 60 values checked" "$T/prog.out"
}

# cs-restore whose securebits are locked (NOROOT_LOCKED without NOROOT,
# here: SECBIT_KEEP_CAPS_LOCKED, which also pins KEEP_CAPS off) cannot
# give a thread other ones: refused at the check, one line, nothing made.
@test "refuse (cs-restore): a thread's securebits when cs-restore's are locked" {
	require_threadcreds
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	local st=0
	start_prog threadcreds root
	dump_killed
	printf '#!/bin/bash\nexec setpriv --securebits +keep_caps_locked %s "$@"\n' "$CS_RESTORE" >"$T/restore-lk"
	chmod +x "$T/restore-lk"
	(close_fds; exec timeout -k 5 60 "$T/restore-lk" -D "$T/img" -d -v4 -o "$T/restore.log") \
		</dev/null >"$T/restore.out" 2>&1 || st=$?
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1" >&2; cat "$T/restore.out" >&2; return 1; }
	[ "$(wc -l <"$T/restore.out")" = 1 ] || { echo "want one line:" >&2; cat "$T/restore.out" >&2; return 1; }
	grep -qF "cannot be set: cs-restore runs with securebits 0x20 locked" "$T/restore.out" ||
		{ echo "not the refusal: $(cat "$T/restore.out")" >&2; return 1; }
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
}

# no_new_privs cannot be cleared (prctl(2)), and the stub's threads inherit
# cs-restore's: under setpriv --no-new-privs every thread came back with it
# (NoNewPrivs 1: set-user-ID programs it runs lose their privileges).
# Refused at the check, one line naming the thread, nothing made; the
# restore without it works and gives NoNewPrivs 0.
@test "refuse (cs-restore): cs-restore runs with no_new_privs, which a thread did not have; then restored without it" {
	require_threadcreds
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	local st=0 t
	start_prog threadcreds root
	dump_killed
	printf '#!/bin/bash\nexec setpriv --no-new-privs %s "$@"\n' "$CS_RESTORE" >"$T/restore-nnp"
	chmod +x "$T/restore-nnp"
	(close_fds; exec timeout -k 5 60 "$T/restore-nnp" -D "$T/img" -d -v4 -o "$T/restore.log") \
		</dev/null >"$T/restore.out" 2>&1 || st=$?
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1" >&2; cat "$T/restore.out" >&2; return 1; }
	[ "$(wc -l <"$T/restore.out")" = 1 ] || { echo "want one line:" >&2; cat "$T/restore.out" >&2; return 1; }
	grep -qE "thread [0-9]+ ran without no_new_privs: cs-restore runs with it" "$T/restore.out" ||
		{ echo "not the refusal: $(cat "$T/restore.out")" >&2; return 1; }
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
	restore_wait
	for t in /proc/"$PID"/task/*; do
		[ "$(awk '$1 == "NoNewPrivs:" { print $2 }' "$t/status")" = 0 ] ||
			{ echo "${t##*/}: NoNewPrivs $(awk '$1 == "NoNewPrivs:" { print $2 }' "$t/status")" >&2; return 1; }
	done
	wake_and_wait "$RPID"
	assert_prog_ok
}

# A socket filter (SO_ATTACH_FILTER) is in no image: a unix datagram or
# UDP socket came back without it, taking what it dropped. Refused, naming
# the fd, with and without -R; the program (test/c/netlink filter) checks
# its filter is still there once woken.
@test "refuse: a unix or UDP socket with a socket filter of its own (SO_ATTACH_FILTER); it goes on" {
	require_cs
	[ -x "$CS_BUILDDIR/test/c/netlink" ] || skip "test/c/netlink is not built"
	local kind want
	for kind in unix udp; do
		rm -f "$T/prog.out"
		want="fd 3 (unix dgram socket"
		[ $kind = unix ] || want="fd 3 (UDP socket over IPv4"
		start_prog netlink filter $kind
		refused "$want" "has a socket filter of its own (SO_ATTACH_FILTER"
		DUMP_OPTS=(-R)
		refused "$want" "has a socket filter of its own (SO_ATTACH_FILTER"
		DUMP_OPTS=()
		wake_and_wait "$PID"
		assert_prog_ok
		grep -q "ok: filter" "$T/prog.out"
	done
}

# The stub's threads start with cs-restore's ambient capabilities, and
# capset keeps those in both the permitted and the inheritable set it
# gives: a thread that had CAP_NET_RAW inheritable but not ambient came
# back with it ambient (then in the permitted and effective sets of any
# program it execs: more than it had). threadcreds checks each thread's
# CapAmb; started with CAP_NET_RAW inheritable (setpriv), restored by a
# cs-restore that has it ambient.
@test "fixed: a thread does not get cs-restore's ambient capabilities (setpriv --ambient-caps +net_raw)" {
	require_threadcreds
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	local t
	START_WRAP="setpriv --inh-caps +net_raw" start_prog threadcreds root
	t=$(thread_with "$PID" CapInh 0000000000002000)
	[ "$(awk '$1 == "CapAmb:" { print $2 }' "/proc/$PID/task/$t/status")" = 0000000000000000 ] ||
		{ echo "thread $t has ambient capabilities before the dump" >&2; return 1; }
	dump_killed
	printf '#!/bin/bash\nexec setpriv --inh-caps +net_raw --ambient-caps +net_raw %s "$@"\n' "$CS_RESTORE" \
		>"$T/restore-amb"
	chmod +x "$T/restore-amb"
	CS_RESTORE=$T/restore-amb
	restore_wait
	[ "$(awk '$1 == "CapAmb:" { print $2 }' "/proc/$PID/task/$t/status")" = 0000000000000000 ] ||
		{ echo "thread $t: CapAmb $(awk '$1 == "CapAmb:" { print $2 }' "/proc/$PID/task/$t/status")" >&2; return 1; }
	wake_and_wait "$RPID"
	assert_prog_ok
	grep -q "ok: 60 values checked" "$T/prog.out"
}
