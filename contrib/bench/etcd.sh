#!/bin/bash
# checksync benchmark: dump and restore etcd (Debian's etcd-server 3.4)
# holding 20000 keys, under a write load.
#
#   contrib/bench/etcd.sh [BUILDDIR]   # BUILDDIR default: $CS_BUILD_DIR or <repo>/build
#
# Run as root after contrib/build.sh, with etcd-server and etcd-client
# installed (contrib/install-deps.sh). It builds etcdload with
# test/go/build.sh into BUILDDIR/test/go-bin. One run:
#   1. starts etcd (its own ports and data directory), puts BENCH_KEYS keys
#      with `etcdctl txn` (1000 puts a transaction), and times a cold start
#      on that data directory (baseline: SIGTERM, start, first answer);
#   2. BENCH_RUNS times: puts it under etcdload (4 connections writing over
#      the HTTP gateway), takes the revision and `etcdctl endpoint hashkv`
#      at it, dumps it with `cs-dump --file-locks --tcp-established
#      --tcp-close --display-stats` (which kills it), restores it with
#      `cs-restore -d --file-locks --tcp-established`, timed to the first
#      answer of GET /health over a new connection, and checks hashkv at
#      that revision, every key and the load's acknowledged writes.
# It prints the median of each figure, and CRIU's figures for etcd from
# issue 3 for reference (CRIU 3.17 does not run on this kernel).
#
# Environment (defaults in brackets):
#   BENCH_KEYS   keys [20000]
#   BENCH_RUNS   dump/restore cycles [5]
#   BENCH_AB_BUILDDIR  if set: a second build (before/after a change); the
#                runs alternate between BUILDDIR (A: odd runs) and it (B: even
#                runs), and the medians are printed for each, with B/A
#   BENCH_LOG_DIR  if set: keep -v4 logs of each cs-dump and cs-restore there
#                (dump-N.log, restore-N.log), to see where the time goes
#
# Exit status: 0 if every step succeeded and the data came back identical,
# 1 otherwise. Only processes this script started are stopped, and its
# temporary directory is removed on exit.
set -euo pipefail

KEYS=${BENCH_KEYS:-20000}
RUNS=${BENCH_RUNS:-5}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$here/../lib/common.sh"
builddir=${1:-${CS_BUILD_DIR:-$root/build}}


need_counts KEYS RUNS
use_build "$builddir" cs-dump/cs-dump cs-restore/cs-restore
AB=${BENCH_AB_BUILDDIR:-}
if [ -n "$AB" ]; then
	AB=$(cd "$AB" && pwd) || die "BENCH_AB_BUILDDIR $BENCH_AB_BUILDDIR not found"
	for b in "$AB/cs-dump/cs-dump" "$AB/cs-restore/cs-restore"; do
		[ -x "$b" ] || die "$b not found"
	done
fi
need_root "cs-dump and cs-restore need ptrace and CAP_SYS_ADMIN"
need_tools etcd etcdctl jq ss setsid awk du
"$root/test/go/build.sh" "$builddir/test/go-bin" >/dev/null || die "building the Go test programs failed"
ETCDLOAD=$builddir/test/go-bin/etcdload

tmp=$(mktemp -d "${TMPDIR:-/tmp}/checksync-bench-etcd.XXXXXX")
server_pid=""
load_pid=""

stop_all() {
	stop_child "$load_pid"
	stop "$server_pid" etcd "$tmp"
}
cleanup_on_exit

cport=$(pick_port) || die "no free port"
pport=$(pick_port) || die "no free port"
[ "$pport" != "$cport" ] || pport=$(pick_port) || die "no free port"

# start_etcd: etcd detached on the data in $tmp/data, with $tmp in its
# argv[0] (so that `stop` recognises it); prints its PID.
start_etcd() {
	rm -f "$tmp/etcd.pid"
	# shellcheck disable=SC2016 # $0 and $@ are expanded by the inner bash
	start_detached "$tmp/etcd.pid" "$tmp/etcd.log" bash -c 'exec -a "$0" etcd "$@"' "$tmp/etcd" \
		--name default --data-dir "$tmp/data" \
		--listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
		--listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "default=http://127.0.0.1:$pport" --max-txn-ops 1000
}

ectl() { ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$cport" --command-timeout 10s "$@"; }

# health: one GET /health on a new connection; true on {"health":"true"}
health() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$cport" || exit 1
		printf 'GET /health HTTP/1.0\r\n\r\n' >&3 || exit 1
		grep -q '"health":"true"' <&3
	) 2>/dev/null
}

# first_answer T0_US DEADLINE_S: ms from T0_US to the first healthy answer
first_answer() {
	until health; do
		(($(now_us) - $1 < $2 * 1000000)) || return 1
		sleep 0.001
	done
	us2ms $(($(now_us) - $1))
}

say "checksync etcd benchmark: $KEYS keys, $RUNS dump/restore cycles under a write load, $(etcd --version | head -n 1)"
say "machine: $(uname -r), $(nproc) CPUs; files in $tmp ($(df -PT "$tmp" | awk 'NR==2{print $2}'))"
say "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine skew the times)"

# 1. load, cold start
server_pid=$(start_etcd) || die "etcd did not start"
first_answer "$(now_us)" 20 >/dev/null || die "etcd did not answer: $(tail -n 3 "$tmp/etcd.log")"
awk -v n="$KEYS" -v dir="$tmp" 'BEGIN {
	for (i = 0; i < n; i++) {
		f = sprintf("%s/load-%05d.txn", dir, int(i / 1000))
		if (i % 1000 == 0)
			print "" > f
		printf "put key-%06d v-%d-%d\n", i, i, (i * 7919) % 1000003 > f
		if (i % 1000 == 999 || i == n - 1) {
			printf "\n\n" > f
			close(f)
		}
	}
}'
t0=$(now_us)
for f in "$tmp"/load-*.txn; do
	ectl txn <"$f" >"$tmp/txn.out" 2>&1 || die "etcdctl txn: $(tail -n 3 "$tmp/txn.out")"
done
load_ms=$((($(now_us) - t0) / 1000))
ectl get --prefix key- >"$tmp/want" || die "etcdctl get failed"
[ "$(wc -l <"$tmp/want")" = $((2 * KEYS)) ] || die "$(($(wc -l <"$tmp/want") / 2)) keys, want $KEYS"
say "loaded in $load_ms ms"
stop "$server_pid" etcd "$tmp"
t0=$(now_us)
server_pid=$(start_etcd) || die "etcd did not start again"
cold_ms=$(first_answer "$t0" 60) || die "etcd did not answer after a restart"

# 2. dump/restore cycles
frozen=() dumpwall=() restore=() answer=() images=() rss=() fa=() fb=() aa=() ab=()
for ((run = 1; run <= RUNS; run++)); do
	(close_fds; exec "$ETCDLOAD" -addr "127.0.0.1:$cport" -prefix "load$run" -load 3s -conns 4) \
		</dev/null >"$tmp/load.out" 2>&1 &
	load_pid=$!
	sleep 1
	rev=$(ectl endpoint status -w json | jq -e '.[0].Status.header.revision') || die "no revision"
	hash=$(ectl endpoint hashkv --rev "$rev" -w json | jq -e '.[0].HashKV.hash') || die "no hashkv"
	rss+=("$(status_kb "$server_pid" VmRSS)")
	rm -rf "$tmp/img"
	bd=$builddir
	[ -z "$AB" ] || ((run % 2)) || bd=$AB
	CS_DUMP=$bd/cs-dump/cs-dump
	CS_RESTORE=$bd/cs-restore/cs-restore
	t0=$(now_us)
	"$CS_DUMP" -t "$server_pid" -D "$tmp/img" --file-locks --tcp-established --tcp-close --display-stats \
		${BENCH_LOG_DIR:+-v4 -o "$BENCH_LOG_DIR/dump-$run.log"} \
		>"$tmp/dump.out" 2>&1 || die "cs-dump failed: $(tail -n 3 "$tmp/dump.out")"
	dumpwall+=("$(us2ms $(($(now_us) - t0)))")
	stats=$(grep -m1 'freeze_us=' "$tmp/dump.out") || die "cs-dump printed no stats line"
	[ -z "${BENCH_LOG_DIR:-}" ] || printf '%s\n' "$stats" >"$BENCH_LOG_DIR/stats-$run.txt"
	frozen+=("$(us2ms "$(field frozen_us "$stats")")")
	images+=("$(du -sb "$tmp/img" | cut -f1)")
	wait_gone "$server_pid" 10 || die "PID $server_pid still exists after the dump"
	t0=$(now_us)
	"$CS_RESTORE" -D "$tmp/img" -d --file-locks --tcp-established \
		${BENCH_LOG_DIR:+-v4 -o "$BENCH_LOG_DIR/restore-$run.log"} >"$tmp/restore.out" 2>&1 ||
		die "cs-restore failed: $(tail -n 3 "$tmp/restore.out")"
	restore+=("$(us2ms $(($(now_us) - t0)))")
	a=$(first_answer "$t0" 30) || die "the restored etcd did not answer in 30 s"
	answer+=("$a")
	is_ours "$server_pid" etcd "$tmp" || die "no etcd with PID $server_pid after the restore"
	wait "$load_pid" || die "etcdload failed: $(tail -n 3 "$tmp/load.out")"
	load_pid=""
	"$ETCDLOAD" -addr "127.0.0.1:$cport" -prefix "load$run" -check-acked "$tmp/load.out" >"$tmp/check.out" 2>&1 ||
		die "acknowledged writes lost: $(tail -n 3 "$tmp/check.out")"
	[ "$(ectl endpoint hashkv --rev "$rev" -w json | jq -e '.[0].HashKV.hash')" = "$hash" ] ||
		die "hashkv at revision $rev differs after the restore"
	ectl get --prefix key- >"$tmp/got" && cmp -s "$tmp/want" "$tmp/got" || die "the keys differ after the restore"
	[ -z "$AB" ] || if ((run % 2)); then fa+=("${frozen[-1]}") aa+=("${answer[-1]}"); else fb+=("${frozen[-1]}") ab+=("${answer[-1]}"); fi
	say "run $run${AB:+ ($( ((run % 2)) && echo A || echo B))}: frozen ${frozen[-1]} ms, restore to first answer ${answer[-1]} ms, load: $(tail -n 1 "$tmp/load.out")"
done

say ""
say "etcd, $KEYS keys, under etcdload (4 connections writing), median of $RUNS runs"
printf '  %-50s %12s\n' "RSS before the dump (VmRSS)" "$(awk -v k="$(median "${rss[@]}")" 'BEGIN{printf "%.1f MiB", k/1024}')"
printf '  %-50s %12s\n' "image bytes (du -sb)" "$(mib "$(median "${images[@]}")") MiB"
printf '  %-50s %12s\n' "cs-dump wall time" "$(median "${dumpwall[@]}") ms"
printf '  %-50s %12s\n' "frozen (frozen_us)" "$(median "${frozen[@]}") ms"
printf '  %-50s %12s\n' "cs-restore -d returns" "$(median "${restore[@]}") ms"
printf '  %-50s %12s\n' "restore to first answer (GET /health)" "$(median "${answer[@]}") ms"
printf '  %-50s %12s\n' "cold start to first answer (baseline)" "$cold_ms ms"
printf '  %-50s %12s\n' "data after each restore" "keys, hashkv, acknowledged writes identical"
if [ -n "$AB" ] && ((RUNS > 1)); then
	say "A: $builddir, B: $AB (runs alternate)"
	printf '  %-50s %12s\n' "frozen, A (median of ${#fa[@]})" "$(median "${fa[@]}") ms"
	printf '  %-50s %12s\n' "frozen, B (median of ${#fb[@]})" "$(median "${fb[@]}") ms"
	printf '  %-50s %12s\n' "frozen B/A" "$(ratio "$(median "${fb[@]}")" "$(median "${fa[@]}")")"
	printf '  %-50s %12s\n' "restore to first answer, A" "$(median "${aa[@]}") ms"
	printf '  %-50s %12s\n' "restore to first answer, B" "$(median "${ab[@]}") ms"
	printf '  %-50s %12s\n' "restore to first answer B/A" "$(ratio "$(median "${ab[@]}")" "$(median "${aa[@]}")")"
fi
say "ratios"
printf '  %-50s %12s\n' "restore-to-answer / cold-start-to-answer" "$(ratio "$(median "${answer[@]}")" "$cold_ms")"
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
say "criu: for reference, issue 3 quotes CRIU 4.2 on etcd: 51 ms frozen and ~200 ms to the first"
say "answer after a restore (with --file-locks); not measured here."
