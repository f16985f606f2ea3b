# shellcheck shell=bash
# Helpers shared by contrib/demo.sh and the contrib/bench scripts: starting
# programs detached from the calling shell, stopping only processes the
# script started, timing and number formatting. Sourced, not run:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
#
# It defines functions only and sets no shell options.

# now_us: microseconds since the epoch, without forking (bash >= 5; `date`
# on an older bash).
now_us() {
	if [ -n "${EPOCHREALTIME:-}" ]; then
		local t=${EPOCHREALTIME//[!0-9]/}
		echo "$t"
	else
		date +%s%6N
	fi
}

# is_ours PID NAME [WITH]: PID is alive and its command line contains NAME
# (and WITH after it, if WITH is given and not empty, e.g. the script's
# temporary directory): not a recycled PID, not someone else's program.
is_ours() {
	local cmd
	[ -n "$1" ] && [ -r "/proc/$1/cmdline" ] || return 1
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	case $cmd in
	*"$2"*"${3:-}"*) return 0 ;;
	esac
	return 1
}

# wait_gone PID SECONDS: wait until PID no longer exists (a process whose
# parent is init may stay a zombie for a moment after it dies).
wait_gone() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		[ -e "/proc/$1" ] || return 0
		sleep 0.05
	done
	return 1
}

# stop PID NAME [WITH]: stop a process this script started, if it is still
# ours (see is_ours): SIGTERM, then SIGKILL after 5 s.
stop() {
	if is_ours "$1" "$2" "${3:-}"; then
		kill -TERM "$1" 2>/dev/null || true
		wait_gone "$1" 5 || { kill -KILL "$1" 2>/dev/null || true; wait_gone "$1" 5 || true; }
	fi
}

# close_fds: in a subshell about to start a detached program, close every
# fd above 2, so that the program holds no pipe of whoever runs us (cs-dump
# refuses pipes whose other end is outside the process).
close_fds() {
	local fd
	for fd in "/proc/$BASHPID/fd"/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
	done
	return 0
}

# start_detached PIDFILE LOG CMD...: run CMD in its own session with init as
# its parent (a dumped process must not be the child of a shell waiting for
# the dump: its zombie would hold the PID), stdin /dev/null, stdout and
# stderr to LOG, no fd above 2 open. PIDFILE gets CMD's PID, which is also
# printed. Fails if PIDFILE is not written within 5 s.
start_detached() {
	local pidfile=$1 log=$2
	shift 2
	# shellcheck disable=SC2016 # $$, $0 and $@ are expanded by the inner sh
	(close_fds; setsid sh -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
		</dev/null >"$log" 2>&1 &)
	local i
	for ((i = 0; i < 500; i++)); do
		[ -s "$pidfile" ] && { cat "$pidfile"; return 0; }
		sleep 0.01
	done
	return 1
}

# pick_port: print a TCP port in 17000-17999 with no socket on it.
pick_port() {
	local i p
	for ((i = 0; i < 200; i++)); do
		p=$((17000 + (RANDOM % 1000)))
		if [ -z "$(ss -Hltn "sport = :$p")" ] && [ -z "$(ss -Htn "sport = :$p")" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# ping_once PORT TIMEOUT: one PING on a new connection to 127.0.0.1:PORT
# (bash's /dev/tcp); true on PONG within TIMEOUT seconds. A connection made
# while a server is still preloading waits in the listen backlog, hence a
# long TIMEOUT there.
ping_once() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'PING\n' >&3 || exit 1
		read -r -t "$2" line <&3 || exit 1
		[ "${line%$'\r'}" = PONG ]
	) 2>/dev/null
}

# field NAME LINE: the value of the first NAME=... in a space-separated line.
field() { tr ' ' '\n' <<<"$2" | sed -n "s|^$1=||p" | head -n 1; }

# status_kb PID KEY: the number of a "KEY: N [kB]" line of /proc/PID/status.
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Formatting helpers (awk for floating point).
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
us2ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }
# median VALUES...: the median of numbers (mean of the two middle ones if even).
median() {
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
			if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.3f", m }' | sed -e 's/\.\?0*$//'
}

# need_counts VAR...: each shell variable VAR (set from BENCH_VAR) holds a
# positive integer; else die naming BENCH_VAR and its value.
need_counts() {
	local v
	for v in "$@"; do
		[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer (got '${!v}')"
	done
}

# use_build DIR PROG...: DIR, a build directory (contrib/build.sh), must
# exist and hold each PROG (a path in it: cs-dump/cs-dump, ...) executable;
# else die. Sets builddir to DIR's absolute path, CS_DUMP and CS_RESTORE to
# the two programs in it.
# shellcheck disable=SC2034 # CS_DUMP, CS_RESTORE: set for the script
use_build() {
	local p
	[ -d "$1" ] || die "build directory $1 not found: run contrib/build.sh first"
	builddir=$(cd "$1" && pwd)
	CS_DUMP=$builddir/cs-dump/cs-dump
	CS_RESTORE=$builddir/cs-restore/cs-restore
	shift
	for p in "$@"; do
		[ -x "$builddir/$p" ] || die "$builddir/$p not found: run contrib/build.sh first"
	done
}

# build_kv: test/go/build.sh into $builddir/test/go-bin (gobin), its output
# kept in $tmp/gobuild.log and shown only if the build fails (then die).
# Sets KVSERVER, KVCLIENT and KVLOAD to the programs. Needs root (the
# repository), builddir and tmp.
# shellcheck disable=SC2034,SC2154 # KV*: set for the script; root, tmp: the script's
build_kv() {
	gobin=$builddir/test/go-bin
	"$root/test/go/build.sh" "$gobin" >"$tmp/gobuild.log" 2>&1 || {
		cat "$tmp/gobuild.log" >&2
		die "building the Go test programs failed"
	}
	KVSERVER=$gobin/kvserver
	KVCLIENT=$gobin/kvclient
	KVLOAD=$gobin/kvload
}

# stop_child PID: SIGTERM to PID, a child of this shell (started with &),
# and reap it; nothing if PID is empty.
stop_child() {
	[ -z "$1" ] || { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
}

# cleanup_on_exit: when the script exits, run stop_all (which the script
# defines: it stops the processes the script started and still owns),
# remove $tmp and keep the exit status; SIGINT and SIGTERM make it exit
# with 130 and 143 (and so clean up too).
cleanup_on_exit() {
	trap cleanup_now EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# cleanup_now: the EXIT trap of cleanup_on_exit.
# shellcheck disable=SC2154 # tmp: the script's
cleanup_now() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	rm -rf "$tmp"
	exit "$rc"
}

# need_root WHY: die unless run as root, saying WHY root is needed.
need_root() { [ "$(id -u)" -eq 0 ] || die "run as root ($1)"; }

# need_tools TOOL...: die naming the first TOOL not on PATH.
need_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || die "'$t' not found: run contrib/install-deps.sh"
	done
}

# The benchmarks' output helpers: say (stdout), warn and die (stderr, with
# "bench: "; die exits 1).
say() { printf '%s\n' "$*"; }
warn() { printf 'bench: %s\n' "$*" >&2; }
die() {
	printf 'bench: FAILED: %s\n' "$*" >&2
	exit 1
}
