#!/bin/bash
# runtime-safety.sh - the safety test of issue 4 ("Safety, proven by test").
#
#   test/safety/runtime-safety.sh DUMPS [BUILDDIR]
#
# Starts the churn program (test/go/churn: a Go process that churns a large
# map, keeps deep goroutine stacks and large objects it can check), dumps it
# with cs-dump -R at random moments until DUMPS dumps landed, kills it, then
# restores every dump in turn and has each restored copy check all its data
# (SIGUSR1), run more GCs and check again, and exit cleanly (SIGTERM).  Any
# CORRUPT line, crash, hang or failed restore is a failure.
#
# When cs-dump knows --runtime, every dump gets --runtime=${CS_RUNTIME:-auto}.
# When the dump stats have gc_phase and unswept_spans, the dumps go on (up
# to 4*DUMPS attempts) until at least MIN_MARKING of them were taken during
# GC marking (gc_phase != 0) and MIN_UNSWEPT with unswept spans; dumps past
# DUMPS that add to neither count are thrown away.
#
# BUILDDIR (default $CS_BUILDDIR, else the source tree) holds
# cs-dump/cs-dump, cs-restore/cs-restore, images/cs-show and test/go-bin/churn
# (built by make check, or test/go/build.sh BUILDDIR/test/go-bin).
#
# Environment:
#   CS_RUNTIME        value of --runtime (default auto), if cs-dump has it
#   KEEP=1            keep the temp dir (dumps, logs, churn output)
#   CHURN             the churn binary (default BUILDDIR/test/go-bin/churn)
#   CHURN_ARGS        extra arguments for churn (e.g. "-keys 50000")
#   MIN_MARKING       dumps wanted during GC marking (default 10)
#   MIN_UNSWEPT       dumps wanted with unswept spans (default 3)
#   MIN_MARKED        dumps wanted in which spans were judged by their mark
#                     bits (rule M: spans_marked > 0; default 10, 0 when
#                     cs-dump does not report spans_marked)
#   GC_ALIGN          if set, every other dump gets --gc-align=GC_ALIGN (ms):
#                     it freezes right after a mark phase ends, when most
#                     spans are unswept and judged by their mark bits
#   MAX_ATTEMPTS      dump attempts at most (default 4*DUMPS)
#   SLEEP_MS          the random pause before each dump is 0..SLEEP_MS ms
#                     (default 300)
#   RESTORE_TIMEOUT   seconds a restored copy gets, from the end of cs-restore
#                     to its clean exit (default 8; more when the control
#                     check of the original shows that one check is slow)
#   TMPDIR            where the temp dir goes (the dumps need ~RSS each)
#
# Output: one line per dump and per restore, then
#   runtime-safety: N dumps (M in GC marking, K with unswept spans), N restored, 0 corrupt, 0 crashed
# (M and K are "unknown" when the stats do not say).  Exit status 0 when
# everything passed, 1 on any failure, 2 on a usage or set-up error.
set -u

me=runtime-safety

usage() {
	echo "usage: $0 DUMPS [BUILDDIR]" >&2
	exit 2
}

die() {
	echo "$me: $*" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
DUMPS=$1
[[ $DUMPS =~ ^[0-9]+$ ]] && [ "$DUMPS" -ge 1 ] || usage

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
B=${2:-${CS_BUILDDIR:-$srcdir}}
[ -d "$B" ] || die "build dir $B does not exist"
B=$(cd "$B" && pwd)
CS_DUMP=$B/cs-dump/cs-dump
CS_RESTORE=$B/cs-restore/cs-restore
CS_SHOW=$B/images/cs-show
CHURN=${CHURN:-$B/test/go-bin/churn}
MIN_MARKING=${MIN_MARKING:-10}
MIN_UNSWEPT=${MIN_UNSWEPT:-3}
MIN_MARKED=${MIN_MARKED:-10}
GC_ALIGN=${GC_ALIGN:-}
MAX_ATTEMPTS=${MAX_ATTEMPTS:-$((4 * DUMPS))}
RESTORE_TIMEOUT=${RESTORE_TIMEOUT:-8}
SLEEP_MS=${SLEEP_MS:-300}
for v in MIN_MARKING MIN_UNSWEPT MIN_MARKED MAX_ATTEMPTS RESTORE_TIMEOUT SLEEP_MS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number, not '${!v}'"
done

for f in "$CS_DUMP" "$CS_RESTORE" "$CS_SHOW" "$CHURN"; do
	[ -x "$f" ] || die "$f is not built"
done
CHURN=$(cd "$(dirname "$CHURN")" && pwd)/$(basename "$CHURN")
command -v jq >/dev/null 2>&1 || die "jq not found"
command -v setsid >/dev/null 2>&1 || die "setsid not found"

RTOPT=()
if "$CS_DUMP" --help 2>&1 | grep -q -- '--runtime'; then
	RTOPT=("--runtime=${CS_RUNTIME:-auto}")
fi
if [ -n "$GC_ALIGN" ]; then
	[[ $GC_ALIGN =~ ^[1-9][0-9]*$ ]] || die "GC_ALIGN must be a number of ms, not '$GC_ALIGN'"
	"$CS_DUMP" --help 2>&1 | grep -q -- '--gc-align' || die "cs-dump has no --gc-align"
fi
# every copy appends to churn.out and churn.log, which the images have open:
# by design they changed since each dump, so the restore must not compare them
FVOPT=()
if "$CS_RESTORE" --help 2>&1 | grep -q -- '--file-validation'; then
	FVOPT=(--file-validation=none)
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/cs-safety.XXXXXX") || die "mktemp failed"
mkdir -p "$T/dumps" "$T/logs"
OUT=$T/churn.out	# churn's stdout+stderr (O_APPEND; the copies inherit it)
LOG=$T/churn.log	# churn -log (O_APPEND)
STATS=$T/stats.txt	# "NNN <cs-dump --display-stats line>"
: >"$STATS"
PID=

# --------------------------------------------------------------------------
# Process handling: only PIDs we started, and only while they look like ours

# Is PID a churn of ours?  Its command line names $T (the -ready file); a
# restored copy whose command line came back empty is recognised by its
# executable.
is_ours() {
	local pid=$1 cmdline exe
	[ -n "$pid" ] && [ -e "/proc/$pid" ] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	case "$cmdline" in
	*"$T"*) return 0 ;;
	"") exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	    [ "$exe" = "$CHURN" ] && return 0 ;;
	esac
	return 1
}

proc_state() {
	local line
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	line=${line##*) }
	echo "${line%% *}"
}

# alive PID: exists and is not a zombie
alive() {
	local st
	st=$(proc_state "$1") || return 1
	[ "$st" != Z ]
}

# wait_gone PID TENTHS
wait_gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		[ -e "/proc/$1" ] || return 0
		sleep 0.1
	done
	return 1
}

# kill_ours PID: SIGKILL if it is ours; either way wait (5 s) until the PID
# is gone (an exiting process, or a zombie, no longer looks like ours).
kill_ours() {
	is_ours "$1" && kill -KILL "$1" 2>/dev/null
	wait_gone "$1" 50
}

cleanup() {
	local st=$?
	trap - EXIT INT TERM
	[ -n "$PID" ] && kill_ours "$PID"
	if [ "${KEEP:-0}" = 1 ]; then
		echo "$me: kept $T" >&2
	else
		rm -rf "$T"
	fi
	exit $st
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# In a subshell about to exec: close every fd above 2 (a detached process
# must not hold a pipe of whoever runs us, e.g. bats).
close_fds() {
	local fd
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
	done
	return 0
}

# Bytes of FILE (0 if none).
fsize() {
	local s
	s=$(stat -c %s "$1" 2>/dev/null) || s=0
	echo "$s"
}

# since FILE OFF: what FILE holds past byte OFF.
since() {
	tail -c +"$(($2 + 1))" "$1" 2>/dev/null
}

# wait_line COFF POFF DEADLINE PATTERN: wait until the log shows PATTERN
# after byte POFF, or CORRUPT after byte COFF, or the copy is gone, or
# DEADLINE (epoch ms) passes.  Sets GOT to ok, corrupt, gone or timeout.
wait_line() {
	local coff=$1 poff=$2 deadline=$3 pat=$4 gone=0
	while :; do
		alive "$PID" || gone=1
		# (a copy may write its line just before it goes)
		if since "$LOG" "$coff" | grep -q 'churn: CORRUPT'; then GOT=corrupt; return; fi
		if since "$LOG" "$poff" | grep -q "$pat"; then GOT=ok; return; fi
		if [ $gone = 1 ]; then GOT=gone; return; fi
		if (($(date +%s%N) / 1000000 > deadline)); then GOT=timeout; return; fi
		sleep 0.05
	done
}

# --------------------------------------------------------------------------
# Start churn detached: setsid from a subshell that exits at once, so that
# init is its parent (a dumped process must not be our child: its zombie
# would hold the PID the restore needs).

# shellcheck disable=SC2086
(close_fds; exec setsid "$CHURN" -ready "$T/ready" -log "$LOG" ${CHURN_ARGS:-} \
	</dev/null >>"$OUT" 2>&1 &)
for ((i = 0; i < 600; i++)); do
	[ -s "$T/ready" ] && break
	if grep -q 'churn: ' "$OUT" 2>/dev/null && ! grep -q 'churn: ready' "$OUT"; then
		break
	fi
	sleep 0.1
done
if [ ! -s "$T/ready" ]; then
	echo "$me: churn did not get ready in 60 s:" >&2
	tail -n 20 "$OUT" >&2
	exit 2
fi
PID=$(cat "$T/ready")
alive "$PID" || die "churn ($PID) is not running"
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status")
echo "$me: churn $PID ready (RSS $((rss / 1024)) MiB, args: ${CHURN_ARGS:-defaults}), cs-dump ${RTOPT[*]:-(no --runtime option)}"

# control_check WHEN: SIGUSR1 to the original, which must answer "check ok"
# (within 60 s); CTL = how long it took in ms.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}
control_check() {
	local off t0
	off=$(fsize "$LOG")
	t0=$(now_ms)
	kill -USR1 "$PID"
	wait_line "$off" "$off" $((t0 + 60000)) 'churn: check ok'
	CTL=$(($(now_ms) - t0))
	if [ "$GOT" != ok ]; then
		echo "$me: FAILED: the $1 check of the original ($GOT):" >&2
		tail -n 20 "$OUT" >&2
		exit 1
	fi
	echo "$me: $1 check of the original ok in $CTL ms ($(since "$LOG" "$off" | grep -m1 'check ok'))"
}

# Control: the checks pass on the undisturbed process.
control_check control
ctl=$CTL

# --------------------------------------------------------------------------
# Dump at random moments

fields=unknown	# "yes" once the stats have gc_phase and unswept_spans
landed=0 attempts=0 marking=0 unswept=0 marked=0 dumpfail=0 discarded=0
mfields=unknown	# "yes" once the stats have spans_marked
failures=0

enough() {
	[ "$landed" -ge "$DUMPS" ] || return 1
	[ "$fields" = yes ] || return 0
	[ "$marking" -ge "$MIN_MARKING" ] && [ "$unswept" -ge "$MIN_UNSWEPT" ] &&
		{ [ "$mfields" != yes ] || [ "$marked" -ge "$MIN_MARKED" ]; }
}

while ! enough && [ "$attempts" -lt "$MAX_ATTEMPTS" ]; do
	attempts=$((attempts + 1))
	n=$(printf '%03d' "$attempts")
	dir=$T/dumps/$n
	ms=$(((RANDOM * 32768 + RANDOM) % (SLEEP_MS + 1)))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	st=0
	align=()
	[ -n "$GC_ALIGN" ] && [ $((attempts % 2)) = 1 ] && align=("--gc-align=$GC_ALIGN")
	timeout -k 5 120 "$CS_DUMP" -R -t "$PID" -D "$dir" --display-stats "${RTOPT[@]}" "${align[@]}" \
		-v4 -o "$T/logs/dump-$n.log" </dev/null >"$T/logs/dump-$n.out" 2>&1 || st=$?
	if [ $st != 0 ]; then
		dumpfail=$((dumpfail + 1))
		failures=$((failures + 1))
		echo "$me: dump $n: cs-dump -R failed with status $st:" >&2
		tail -n 5 "$T/logs/dump-$n.out" >&2
		rm -rf "$dir"
	else
		sline=$(grep -m1 'pages_present=' "$T/logs/dump-$n.out")
		echo "$n $sline" >>"$STATS"
		if ! js=$("$CS_SHOW" "$dir" 2>"$T/logs/show-$n.err" | jq -c '.stats'); then
			echo "$me: dump $n: cs-show cannot read it: $(head -n 3 "$T/logs/show-$n.err")" >&2
			failures=$((failures + 1))
			rm -rf "$dir"
		else
			echo "$js" >"$T/logs/stats-$n.json"
			phase=$(jq -r '.gc_phase // empty' <<<"$js")
			uns=$(jq -r '.unswept_spans // empty' <<<"$js")
			smk=$(jq -r '.spans_marked // empty' <<<"$js")
			if [ -n "$smk" ]; then
				mfields=yes
			elif [ -n "$phase" ]; then
				smk=0	# not reported: 0 when the runtime reader ran
			else
				smk='?'
			fi
			if [ -n "$phase" ] && [ -n "$uns" ]; then
				[ "$fields" = unknown ] && fields=yes
			else
				fields=no
				phase='?' uns='?'
			fi
			keep=1
			if [ "$landed" -ge "$DUMPS" ] && [ "$fields" = yes ]; then
				# past DUMPS: keep only what the counts still need
				keep=0
				[ "$phase" != 0 ] && [ "$marking" -lt "$MIN_MARKING" ] && keep=1
				[ "$uns" != 0 ] && [ "$unswept" -lt "$MIN_UNSWEPT" ] && keep=1
				[ "$smk" != 0 ] && [ "$smk" != '?' ] && [ "$marked" -lt "$MIN_MARKED" ] && keep=1
			fi
			if [ $keep = 1 ]; then
				landed=$((landed + 1))
				if [ "$fields" = yes ]; then
					[ "$phase" != 0 ] && marking=$((marking + 1))
					[ "$uns" != 0 ] && unswept=$((unswept + 1))
				fi
				[ "$smk" != 0 ] && [ "$smk" != '?' ] && marked=$((marked + 1))
				echo "$me: dump $n:${align:+ ${align[*]}} gc_phase=$phase unswept_spans=$uns spans_marked=$smk $(jq -r '"pages_present=\(.pages_present) pages_written=\(.pages_written) pages_dead=\(.pages_dead) bytes_written=\(.bytes_written)"' <<<"$js")"
			else
				discarded=$((discarded + 1))
				rm -rf "$dir"
			fi
		fi
	fi
	# the original must live on, uncorrupted
	if ! alive "$PID" || grep -q 'churn: CORRUPT' "$OUT"; then
		echo "$me: the original churn ($PID) broke after dump $n:" >&2
		tail -n 20 "$OUT" >&2
		failures=$((failures + 1))
		echo "$me: FAILED: the dumped process itself crashed or saw corruption"
		exit 1
	fi
done

if [ "$fields" = yes ]; then
	mtxt=$marking utxt=$unswept
else
	mtxt=unknown utxt=unknown
fi
if [ "$mfields" = yes ]; then
	ktxt=$marked
else
	ktxt=unknown
fi

# The original survived every dump: check it once more.  How long its check
# takes now, with its heap grown, sets the time a restored copy gets (three
# checks and a second's pause, twice over; at least RESTORE_TIMEOUT).
control_check final
[ "$CTL" -le "$ctl" ] || ctl=$CTL
budget=$((RESTORE_TIMEOUT * 1000))
[ $((2 * (3 * ctl + 1000))) -le "$budget" ] || budget=$((2 * (3 * ctl + 1000)))
echo "$me: a restored copy gets $((budget / 1000)) s to check twice and exit"

# --------------------------------------------------------------------------
# Kill the original; restore each dump in turn

kill -KILL "$PID"
if ! wait_gone "$PID" 100; then
	echo "$me: churn $PID did not go away after SIGKILL" >&2
	exit 1
fi
# a last word of the original, if any, must not be taken for a copy's
sleep 0.1

restored=0 corrupt=0 crashed=0 hung=0 rfail=0

# fail_copy N WHAT: count and report a failed copy, show what it said.
fail_copy() {
	local n=$1 what=$2 msgs
	echo "$me: dump $n: FAILED: $what" >&2
	msgs=$(since "$OUT" "$OUTOFF" | grep -v '^churn: \(check\|exit\) ok' | head -n 30)
	[ -z "$msgs" ] || sed 's/^/    /' <<<"$msgs" >&2
	failures=$((failures + 1))
	kill_ours "$PID"
	if [ -e "/proc/$PID" ]; then
		echo "$me: PID $PID is still there; cannot restore the other dumps" >&2
		summary
		exit 1
	fi
}

summary() {
	echo "$me: $landed dumps ($mtxt in GC marking, $utxt with unswept spans, $ktxt judged by mark bits), $restored restored, $corrupt corrupt, $crashed crashed"
}

for dir in "$T"/dumps/*; do
	[ -d "$dir" ] || continue
	n=${dir##*/}
	OUTOFF=$(fsize "$OUT")
	off=$(fsize "$LOG")
	t0=$(now_ms)
	st=0
	(close_fds; exec timeout -k 5 60 "$CS_RESTORE" -D "$dir" -d "${FVOPT[@]}" -v4 -o "$T/logs/restore-$n.log") \
		</dev/null >"$T/logs/restore-$n.out" 2>&1 || st=$?
	if [ $st != 0 ]; then
		rfail=$((rfail + 1))
		fail_copy "$n" "cs-restore -d failed with status $st: $(tail -n 3 "$T/logs/restore-$n.out" | tr '\n' ' ')"
		continue
	fi
	if ! alive "$PID"; then
		restored=$((restored + 1)) crashed=$((crashed + 1))
		fail_copy "$n" "the restored copy was gone as soon as cs-restore -d returned (crash)"
		continue
	fi
	t1=$(now_ms)
	deadline=$((t1 + budget))
	# check, let GCs run for a second, check again, exit
	steps=("USR1:churn: check ok" "USR1:churn: check ok" "TERM:churn: exit ok")
	result=ok
	for ((k = 0; k < ${#steps[@]}; k++)); do
		sig=${steps[k]%%:*} pat=${steps[k]#*:}
		soff=$(fsize "$LOG")
		kill -"$sig" "$PID" 2>/dev/null
		wait_line "$off" "$soff" "$deadline" "$pat"
		case $GOT in
		ok) ;;
		corrupt) result=corrupt; break ;;
		gone) result=crashed; break ;;
		timeout) result=hung; break ;;
		esac
		# more GCs before the second check
		[ $k = 0 ] && sleep 1
	done
	case $result in
	ok)
		if ! wait_gone "$PID" 50; then
			result=hung
		fi ;;
	esac
	t2=$(now_ms)
	case $result in
	ok)
		restored=$((restored + 1))
		echo "$me: dump $n: restored in $((t1 - t0)) ms, checked twice, exit ok in $((t2 - t1)) ms" ;;
	corrupt)
		restored=$((restored + 1)) corrupt=$((corrupt + 1))
		fail_copy "$n" "the restored copy found corruption: $(since "$LOG" "$off" | grep -m1 'churn: CORRUPT')" ;;
	crashed)
		restored=$((restored + 1)) crashed=$((crashed + 1))
		fail_copy "$n" "the restored copy died without a CORRUPT line (crash)" ;;
	hung)
		restored=$((restored + 1)) hung=$((hung + 1))
		fail_copy "$n" "the restored copy did not check twice and exit within $((budget / 1000)) s" ;;
	esac
done

# --------------------------------------------------------------------------

# figures of every dump taken: min/median/max
figs=
for f in pages_present pages_written pages_dead bytes_written; do
	v=$(sed -n "s/.* $f=\([0-9]*\).*/\1/p" "$STATS" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) printf "%d/%d/%d", v[1], v[int((NR + 1) / 2)], v[NR] }')
	[ -z "$v" ] || figs="$figs $f=$v"
done
[ -z "$figs" ] || echo "$me: dump figures over $(wc -l <"$STATS") dumps (min/median/max):$figs"
[ "$dumpfail" = 0 ] || echo "$me: $dumpfail of $attempts dump attempts failed"
[ "$discarded" = 0 ] || echo "$me: $discarded dumps past $DUMPS discarded (not needed for the GC counts)"
[ "$rfail" = 0 ] || echo "$me: $rfail restores failed"
[ "$hung" = 0 ] || echo "$me: $hung restored copies hung"
short=
if [ "$landed" -lt "$DUMPS" ]; then
	short="only $landed of $DUMPS dumps landed in $attempts attempts"
elif [ "$fields" = yes ] && { [ "$marking" -lt "$MIN_MARKING" ] || [ "$unswept" -lt "$MIN_UNSWEPT" ]; }; then
	short="only $marking dumps in GC marking (want $MIN_MARKING) and $unswept with unswept spans (want $MIN_UNSWEPT) in $attempts attempts"
elif [ "$mfields" = yes ] && [ "$marked" -lt "$MIN_MARKED" ]; then
	short="only $marked dumps judged by mark bits (want $MIN_MARKED) in $attempts attempts"
fi
summary
if [ -n "$short" ]; then
	echo "$me: FAILED: $short"
	exit 1
fi
if [ "$failures" != 0 ]; then
	echo "$me: FAILED: $failures failures"
	exit 1
fi
exit 0
