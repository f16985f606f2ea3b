#!/bin/bash
# checksync benchmark: dump and restore memcached (Debian's) holding
# BENCH_KEYS items, under a load, several times.
#
#   contrib/bench/memcached.sh [BUILDDIR]   # BUILDDIR default: $CS_BUILD_DIR or <repo>/build
#
# Run as root after contrib/build.sh, with memcached installed
# (contrib/install-deps.sh). It builds mcclient with test/go/build.sh into
# BUILDDIR/test/go-bin. It starts memcached (4 threads, TCP only, its own
# port), sets BENCH_KEYS items of BENCH_VALUE_SIZE bytes with mcclient,
# then BENCH_RUNS times: mcclient -load (4 connections, sets and gets) for
# 3 s, and after 1 s `cs-dump --tcp-close --display-stats` kills memcached;
# `cs-restore -d` brings it back, timed to the first answer to "version"
# on a new connection; every item is checked with mcclient -check, and the
# load's acknowledged sets with -check-acked.
# It prints the medians of frozen_us and restore-to-first-answer, and the
# figures issue 3 quotes for CRIU 4.2 on memcached (not measured here).
#
# Environment (defaults in brackets):
#   BENCH_KEYS         items [20000]
#   BENCH_VALUE_SIZE   bytes per item (the load sets that size too) [100]
#   BENCH_RUNS         dump/restore cycles [6]
#   BENCH_AB_BUILDDIR  a second build (before/after a change): the runs
#                      alternate between BUILDDIR (A, odd runs) and it (B,
#                      even runs); medians for each, and B/A
#   BENCH_LOG_DIR      keep -v4 logs there (dump-N.log, restore-N.log)
#
# Exit status: 0 if every step succeeded and the data came back, 1
# otherwise. Only processes this script started are stopped, and its
# temporary directory is removed on exit.
set -euo pipefail

KEYS=${BENCH_KEYS:-20000}
VALUE_SIZE=${BENCH_VALUE_SIZE:-100}
RUNS=${BENCH_RUNS:-6}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$here/../lib/common.sh"
builddir=${1:-${CS_BUILD_DIR:-$root/build}}

need_counts KEYS VALUE_SIZE RUNS
[ -d "$builddir" ] || die "build directory $builddir not found: run contrib/build.sh first"
builddir=$(cd "$builddir" && pwd)
AB=${BENCH_AB_BUILDDIR:-}
[ -z "$AB" ] || AB=$(cd "$AB" && pwd) || die "BENCH_AB_BUILDDIR $BENCH_AB_BUILDDIR not found"
for b in "$builddir" ${AB:+"$AB"}; do
	for t in cs-dump/cs-dump cs-restore/cs-restore; do
		[ -x "$b/$t" ] || die "$b/$t not found: run contrib/build.sh first"
	done
done
need_root "cs-dump and cs-restore need ptrace and CAP_SYS_ADMIN"
need_tools memcached setsid awk
"$root/test/go/build.sh" "$builddir/test/go-bin" >/dev/null || die "building the Go test programs failed"
MC=$builddir/test/go-bin/mcclient

tmp=$(mktemp -d "${TMPDIR:-/tmp}/checksync-bench-memcached.XXXXXX")
server_pid=""
load_pid=""

stop_all() {
	stop_child "$load_pid"
	stop "$server_pid" "$tmp/memcached"
}
cleanup_on_exit

port=$(pick_port) || die "no free port"

# answer: one "version" on a new connection; true on VERSION
answer() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
		printf 'version\r\n' >&3 || exit 1
		read -r -t 5 line <&3 || exit 1
		[ "${line%% *}" = VERSION ]
	) 2>/dev/null
}

# first_answer T0_US DEADLINE_S: ms from T0_US to the first answer
first_answer() {
	until answer; do
		(($(now_us) - $1 < $2 * 1000000)) || return 1
		sleep 0.001
	done
	us2ms $(($(now_us) - $1))
}

mc() { "$MC" -addr "127.0.0.1:$port" "$@" >"$tmp/mc.out" 2>&1 || die "mcclient $*: $(tail -n 3 "$tmp/mc.out")"; }

say "checksync memcached benchmark: $KEYS items x $VALUE_SIZE B, $RUNS dump/restore cycles under a load, $(memcached -V)"
say "machine: $(uname -r), $(nproc) CPUs; files in $tmp ($(df -PT "$tmp" | awk 'NR==2{print $2}'))"
say "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine skew the times)"

# shellcheck disable=SC2016 # $0 and $@ are expanded by the inner bash
server_pid=$(start_detached "$tmp/mc.pid" "$tmp/memcached.log" bash -c 'exec -a "$0" memcached "$@"' "$tmp/memcached" \
	-p "$port" -l 127.0.0.1 -U 0 -t 4 -m 256 -c 1024 -u root) || die "memcached did not start"
first_answer "$(now_us)" 10 >/dev/null || die "memcached did not answer: $(tail -n 3 "$tmp/memcached.log")"
mc -set "$KEYS" -value-size "$VALUE_SIZE"

frozen=() answers=() fa=() fb=() aa=() ab=() rss=()
for ((run = 1; run <= RUNS; run++)); do
	bd=$builddir
	[ -z "$AB" ] || ((run % 2)) || bd=$AB
	(close_fds; exec "$MC" -addr "127.0.0.1:$port" -load 3s -conns 4 -load-prefix "load$run" -check-range "$KEYS" -value-size "$VALUE_SIZE") \
		</dev/null >"$tmp/load.out" 2>&1 &
	load_pid=$!
	sleep 1
	rss+=("$(status_kb "$server_pid" VmRSS)")
	rm -rf "$tmp/img"
	"$bd/cs-dump/cs-dump" -t "$server_pid" -D "$tmp/img" --tcp-close --display-stats \
		${BENCH_LOG_DIR:+-v4 -o "$BENCH_LOG_DIR/dump-$run.log"} >"$tmp/dump.out" 2>&1 ||
		die "cs-dump failed: $(tail -n 3 "$tmp/dump.out")"
	stats=$(grep -m1 'freeze_us=' "$tmp/dump.out") || die "cs-dump printed no stats line"
	wait_gone "$server_pid" 10 || die "PID $server_pid still exists after the dump"
	t0=$(now_us)
	"$bd/cs-restore/cs-restore" -D "$tmp/img" -d ${BENCH_LOG_DIR:+-v4 -o "$BENCH_LOG_DIR/restore-$run.log"} \
		>"$tmp/restore.out" 2>&1 || die "cs-restore failed: $(tail -n 3 "$tmp/restore.out")"
	a=$(first_answer "$t0" 30) || die "the restored memcached did not answer in 30 s"
	is_ours "$server_pid" "$tmp/memcached" || die "no memcached with PID $server_pid after the restore"
	wait "$load_pid" || die "mcclient -load failed: $(tail -n 3 "$tmp/load.out")"
	load_pid=""
	grep -q 'mismatches=0' "$tmp/load.out" || die "the load saw a wrong value: $(tail -n 3 "$tmp/load.out")"
	mc -check "$KEYS" -value-size "$VALUE_SIZE"
	mc -check-acked "$tmp/load.out" -load-prefix "load$run" -value-size "$VALUE_SIZE"
	fz=$(us2ms "$(field frozen_us "$stats")")
	frozen+=("$fz") answers+=("$a")
	if [ -n "$AB" ] && ! ((run % 2)); then fb+=("$fz") ab+=("$a"); else fa+=("$fz") aa+=("$a"); fi
	say "run $run${AB:+ ($( ((run % 2)) && echo A || echo B))}: frozen $fz ms, restore to first answer $a ms"
done

say ""
say "memcached, $KEYS items x $VALUE_SIZE B, under mcclient -load (4 connections), median of $RUNS runs"
printf '  %-50s %12s\n' "RSS before the dump (VmRSS)" "$(awk -v k="$(median "${rss[@]}")" 'BEGIN{printf "%.1f MiB", k/1024}')"
printf '  %-50s %12s\n' "frozen (frozen_us)" "$(median "${frozen[@]}") ms"
printf '  %-50s %12s\n' "restore to first answer (version)" "$(median "${answers[@]}") ms"
if [ -n "$AB" ] && ((RUNS > 1)); then
	say "A: $builddir, B: $AB (runs alternate)"
	printf '  %-50s %12s\n' "frozen, A / B" "$(median "${fa[@]}") / $(median "${fb[@]}") ms"
	printf '  %-50s %12s\n' "frozen B/A" "$(ratio "$(median "${fb[@]}")" "$(median "${fa[@]}")")"
	printf '  %-50s %12s\n' "restore to first answer, A / B" "$(median "${aa[@]}") / $(median "${ab[@]}") ms"
	printf '  %-50s %12s\n' "restore to first answer B/A" "$(ratio "$(median "${ab[@]}")" "$(median "${aa[@]}")")"
fi
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
say "criu: for reference, issue 3 quotes CRIU 4.2 on memcached: 25 ms frozen and 71 ms to the first"
say "answer after a restore (data set size not stated there); not measured here."
