# pidns.bash - helpers for tests of cs-restore --pidns (t240, t545):
# load it after helpers.bash.
#
#   require_pidns_caps       skip unless cs-restore --pidns can work here
#   restore_pidns [OPTS]     cs-restore --pidns of ${IMG:-$T/img}; sets RPID,
#                            HPID (the root here) and INIT
#   nspid PID                its NSpid line, "OURS INNER"
#   dump_inner DIR [OPTS]    cs-dump of $HPID into DIR
#   pidns_chain PROG ARGS... dumped, restored with --pidns, dumped inside,
#                            restored again, woken: it checks itself

# require_pidns_caps: cs-dump and cs-restore built, CAP_SYS_ADMIN, PID namespaces.
require_pidns_caps() {
	require_cs
	local capeff
	capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
	(((0x$capeff >> 21 & 1) == 1)) || skip "--pidns needs CAP_SYS_ADMIN"
	[ -e /proc/self/ns/pid ] || skip "no PID namespaces in this kernel"
}

# restore_pidns [OPTS...]: cs-restore --pidns of $IMG (default $T/img) in
# the background (it waits
# for the init and exits with its status); sets RPID, HPID (the root's PID
# here, from --pidfile) and INIT (its parent, the namespace's init), and
# waits until the restored root runs the program with its threads asleep.
restore_pidns() {
	local i st=0
	rm -f "$T/rpid"
	(close_fds; exec "$CS_RESTORE" -D "${IMG:-$T/img}" --pidns --pidfile "$T/rpid" -v4 -o "$T/restore.log" "$@") \
		</dev/null >"$T/restore.out" 2>&1 &
	RPID=$!
	record_pid "$RPID"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/rpid" ] && break
		if ! kill -0 "$RPID" 2>/dev/null; then
			wait "$RPID" || st=$?
			echo "cs-restore --pidns exited with status $st before writing its pidfile" >&2
			return 1
		fi
		sleep 0.1
	done
	HPID=$(cat "$T/rpid")
	[ -n "$HPID" ] || { echo "no pidfile in 10 s" >&2; return 1; }
	record_pid "$HPID"
	INIT=$(awk '{ print $4 }' "/proc/$HPID/stat")
	record_pid "$INIT"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ "$(readlink "/proc/$HPID/exe" 2>/dev/null)" = "$PROG_EXE" ] && wait_settled_once "$HPID" && return 0
		sleep 0.1
	done
	echo "note: restored $HPID did not look settled in 10 s" >&2
}

# nspid PID: the NSpid line of PID, "OURS INNER".
nspid() {
	awk '/^NSpid:/ { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"
}

# dump_inner DIR [OPTS...]: cs-dump of the restored root $HPID into DIR.
dump_inner() {
	local dir=$1 st=0
	shift
	timeout -k 5 120 "$CS_DUMP" -t "$HPID" -D "$dir" -v4 -o "$dir.log" "$@" </dev/null >"$dir.out" 2>&1 3>&- ||
		st=$?
	[ $st = 0 ] || { echo "cs-dump -t $HPID -D $dir $* failed with status $st: $(cat "$dir.out")" >&2; return 1; }
}

# pidns_chain PROG ARGS...: PROG started, dumped (killed), restored with
# --pidns, dumped inside (killed), restored again with --pidns, woken: it
# checks itself (its getpid() and gettid()s are the saved ones; the time
# stopped is in stopped-ms for test/c/timers).
pidns_chain() {
	local t0
	[ -x "$CS_BUILDDIR/test/c/$1" ] || skip "test/c/$1 is not built"
	start_prog "$@"
	t0=$(date +%s%N)
	dump_killed
	restore_pidns
	dump_inner "$T/img2"
	STATUS=0
	wait "$RPID" || STATUS=$?
	[ "$STATUS" = 137 ] || { echo "cs-restore of generation 1 exited with $STATUS, want 137" >&2; return 1; }
	wait_pid_gone "$INIT"
	IMG=$T/img2 restore_pidns
	echo $((($(date +%s%N) - t0) / 1000000 + 100)) >"$T/stopped-ms"
	[ "$(nspid "$HPID")" = "$HPID $PID" ] || { echo "NSpid of $HPID: $(nspid "$HPID")" >&2; return 1; }
	kill -USR2 "$HPID"
	STATUS=0
	wait "$RPID" || STATUS=$?
	assert_prog_ok
	grep -q ': ok: ' "$T/prog.out" || { cat "$T/prog.out" >&2; return 1; }
}
