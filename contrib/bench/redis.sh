#!/bin/bash
# checksync benchmark: dump and restore redis-server holding about 1 GB.
#
#   contrib/bench/redis.sh [BUILDDIR]   # BUILDDIR default: $CS_BUILD_DIR or <repo>/build
#
# Run as root after contrib/build.sh, with redis-server and redis-tools
# installed (contrib/install-deps.sh). One run:
#   1. starts redis-server (no persistence, its own port and directory),
#      loads BENCH_KEYS keys of BENCH_VALUE_SIZE random base64 characters
#      with redis-cli --pipe, and takes DEBUG DIGEST of the whole data set;
#   2. baseline: BGSAVE, timed until it has finished, the size of the RDB
#      file it wrote, and how long redis was blocked in fork() for it
#      (latest_fork_usec: the part of a BGSAVE that stops the server);
#   3. baseline: a cold start of a second redis-server that loads that RDB,
#      timed from its launch to its first PONG, then stopped;
#   4. puts the first server under a read-only load (redis-benchmark GET, 4
#      connections), reads its RSS, and dumps it with
#      `cs-dump --tcp-close --display-stats` (which kills it);
#   5. restores it with `cs-restore -d`, timed to its first PONG, and checks
#      that DEBUG DIGEST and DBSIZE are unchanged (the load only reads).
# Then it prints the figures and their ratios against the baselines, and
# CRIU's if a working `criu` is on PATH (otherwise the figures issue 3
# quotes for CRIU 4.2, for reference only: not measured here).
#
# Environment (defaults in brackets):
#   BENCH_KEYS        keys [1000000]
#   BENCH_VALUE_SIZE  value size in bytes [1024]
#   BENCH_CYCLES      after the figures: that many more dump/restore cycles
#                     under the same load, each checked, and the medians of
#                     frozen_us and restore-to-PONG [0]
#   BENCH_AB_BUILDDIR with BENCH_CYCLES: a second build (before/after a
#                     change); the cycles alternate between BUILDDIR (A,
#                     odd cycles) and it (B, even), medians for each and B/A
#   BENCH_LOG_DIR     if set: keep -v4 logs of cs-dump and cs-restore there
#                     (dump.log, restore.log), to see where the time goes
#   TMPDIR            where the RDB and the images go [/tmp]; needs about
#                     2.5 x KEYS x VALUE_SIZE free
#
# Exit status: 0 if every step succeeded and the data came back identical,
# 1 otherwise. Only processes this script started are stopped, and its
# temporary directory is removed on exit.
set -euo pipefail

KEYS=${BENCH_KEYS:-1000000}
VALUE_SIZE=${BENCH_VALUE_SIZE:-1024}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$here/../lib/common.sh"
builddir=${1:-${CS_BUILD_DIR:-$root/build}}


need_counts KEYS
if ! [[ "$VALUE_SIZE" =~ ^[1-9][0-9]*$ ]] || ((VALUE_SIZE > 60000)); then
	die "BENCH_VALUE_SIZE must be 1..60000 (got '$VALUE_SIZE')"
fi
use_build "$builddir" cs-dump/cs-dump cs-restore/cs-restore
need_root "cs-dump and cs-restore need ptrace and CAP_SYS_ADMIN"
need_tools redis-server redis-cli redis-benchmark ss du setsid awk base64

tmp=$(mktemp -d "${TMPDIR:-/tmp}/checksync-bench-redis.XXXXXX")
server_pid=""
cold_pid=""
load_pid=""

stop_all() {
	stop "$load_pid" redis-benchmark
	stop "$cold_pid" redis-server "$tmp"
	stop "$server_pid" redis-server "$tmp"
}
cleanup_on_exit

# start_redis NAME PORT DIR: redis-server detached, with $tmp in its
# process title (so that `stop` recognises it); prints its PID.
start_redis() {
	local name=$1 port=$2 dir=$3
	mkdir -p "$dir"
	start_detached "$dir/launch.pid" "$dir/redis.log" \
		redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
		--daemonize no --enable-debug-command local --pidfile "$dir/redis.pid" \
		--proc-title-template "{title} {listen-addr} $tmp/$name"
}

# pong PORT: one PING on a new connection; true on +PONG within 5 s (a
# server still loading answers -LOADING).
pong() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'PING\r\n' >&3 || exit 1
		read -r -t 5 line <&3 || exit 1
		[ "${line%$'\r'}" = +PONG ]
	) 2>/dev/null
}

# first_pong PORT T0_US DEADLINE_S: ms from T0_US to the first PONG.
first_pong() {
	local t1
	until pong "$1"; do
		(($(now_us) - $2 < $3 * 1000000)) || return 1
		sleep 0.001
	done
	t1=$(now_us)
	awk -v d=$((t1 - $2)) 'BEGIN { printf "%.1f", d / 1000 }'
}

rc() { redis-cli -p "$port" "$@" </dev/null; }
info_field() { rc info "$1" | tr -d '\r' | awk -F: -v k="$2" '$1 == k { print $2 }'; }

say "checksync redis benchmark: $KEYS keys x $VALUE_SIZE B, redis $(redis-server --version | awk '{print $3}' | sed 's/^v=//')"
say "machine: $(uname -r), $(nproc) CPUs, $(awk '/^MemTotal:/{printf "%d MiB", $2/1024}' /proc/meminfo) RAM; files in $tmp ($(df -PT "$tmp" | awk 'NR==2{print $2}'))"
say "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine skew the times)"

# 1. load
port=$(pick_port) || die "no free port"
server_pid=$(start_redis main "$port" "$tmp/main") || die "redis-server did not start"
t0=$(now_us)
first_pong "$port" "$t0" 10 >/dev/null || die "redis-server did not answer: $(tail -n 3 "$tmp/main/redis.log")"
[ "$(cat "$tmp/main/redis.pid")" = "$server_pid" ] || die "redis-server's PID file does not name $server_pid"
say "loading..."
t0=$(now_us)
{ base64 -w "$VALUE_SIZE" /dev/urandom || true; } | head -n "$KEYS" |
	awk '{ printf "SET key:%012d %s\r\n", NR - 1, $0 }' |
	redis-cli -p "$port" --pipe >"$tmp/load.out" 2>&1 || die "redis-cli --pipe failed: $(tail -n 3 "$tmp/load.out")"
grep -q 'errors: 0,' "$tmp/load.out" || die "loading failed: $(tail -n 3 "$tmp/load.out")"
load_ms=$((($(now_us) - t0) / 1000))
[ "$(rc dbsize)" = "$KEYS" ] || die "DBSIZE is $(rc dbsize), want $KEYS"
digest=$(rc debug digest)
used=$(info_field memory used_memory)
say "loaded in $load_ms ms; used_memory $(mib "$used") MiB; digest $digest"

# 2. baseline: BGSAVE
t0=$(now_us)
rc bgsave >/dev/null
sleep 0.01
while [ "$(info_field persistence rdb_bgsave_in_progress)" != 0 ]; do
	sleep 0.01
done
bgsave_ms=$((($(now_us) - t0) / 1000))
[ "$(info_field persistence rdb_last_bgsave_status)" = ok ] || die "BGSAVE failed"
rdb_bytes=$(stat -c %s "$tmp/main/dump.rdb")
fork_us=$(info_field stats latest_fork_usec)

# 3. baseline: a cold start that loads the RDB
cport=$(pick_port) || die "no free port"
mkdir -p "$tmp/cold"
mv "$tmp/main/dump.rdb" "$tmp/cold/dump.rdb"
t0=$(now_us)
cold_pid=$(start_redis cold "$cport" "$tmp/cold") || die "the cold redis-server did not start"
cold_ms=$(first_pong "$cport" "$t0" 300) || die "the cold redis-server did not answer in 300 s"
[ "$(redis-cli -p "$cport" debug digest </dev/null)" = "$digest" ] || die "the RDB did not load the same data"
stop "$cold_pid" redis-server "$tmp"
cold_pid=""
rm -f "$tmp/cold/dump.rdb"

# 4. load, memory, dump
load_pid=$(start_detached "$tmp/bench.pid" "$tmp/bench.out" \
	redis-benchmark -p "$port" -c 4 -n 1000000000 -r "$KEYS" -t get -q) || die "redis-benchmark did not start"
sleep 1
c0=$(info_field stats total_commands_processed)
sleep 1
load_ops=$(($(info_field stats total_commands_processed) - c0))
rss_kb=$(status_kb "$server_pid" VmRSS)
anon_kb=$(status_kb "$server_pid" RssAnon)
t0=$(now_us)
"$CS_DUMP" -t "$server_pid" -D "$tmp/img" --tcp-close --display-stats \
	${BENCH_LOG_DIR:+-v4 -o "$BENCH_LOG_DIR/dump.log"} >"$tmp/dump.out" 2>&1 ||
	die "cs-dump failed: $(tail -n 3 "$tmp/dump.out")"
dumpwall_us=$(($(now_us) - t0))
stats=$(grep -m1 'freeze_us=' "$tmp/dump.out") || die "cs-dump printed no stats line"
stop "$load_pid" redis-benchmark
load_pid=""
wait_gone "$server_pid" 10 || die "PID $server_pid still exists after the dump"
img_bytes=$(du -sb "$tmp/img" | cut -f1)

# 5. restore
t0=$(now_us)
"$CS_RESTORE" -D "$tmp/img" -d ${BENCH_LOG_DIR:+-v4 -o "$BENCH_LOG_DIR/restore.log"} >"$tmp/restore.out" 2>&1 || die "cs-restore failed: $(tail -n 3 "$tmp/restore.out")"
restore_ms=$(awk -v d=$(($(now_us) - t0)) 'BEGIN { printf "%.1f", d / 1000 }')
answer_ms=$(first_pong "$port" "$t0" 30) || die "the restored redis-server did not answer in 30 s"
is_ours "$server_pid" redis-server "$tmp" || die "no redis-server with PID $server_pid after the restore"
[ "$(rc dbsize)" = "$KEYS" ] || die "DBSIZE after the restore is $(rc dbsize), want $KEYS"
[ "$(rc debug digest)" = "$digest" ] || die "DEBUG DIGEST after the restore differs"

f() { field "$1" "$stats"; }
say ""
say "redis-server, $KEYS keys x $VALUE_SIZE B, under redis-benchmark GET ($((load_ops)) commands/s before the dump)"
printf '  %-50s %12s\n' "RSS before the dump (VmRSS)" "$(awk -v k="$rss_kb" 'BEGIN{printf "%.1f MiB", k/1024}')"
printf '  %-50s %12s\n' "anon RSS (RssAnon)" "$(awk -v k="$anon_kb" 'BEGIN{printf "%.1f MiB", k/1024}')"
printf '  %-50s %12s\n' "image bytes (du -sb)" "$(mib "$img_bytes") MiB"
printf '  %-50s %12s\n' "pages written (raw)" "$(mib "$(f bytes_raw)") MiB"
printf '  %-50s %12s\n' "RDB file (BGSAVE, baseline)" "$(mib "$rdb_bytes") MiB"
printf '  %-50s %12s\n' "cs-dump wall time" "$(us2ms "$dumpwall_us") ms"
printf '  %-50s %12s\n' "cs-dump's own time (dump_us)" "$(us2ms "$(f dump_us)") ms"
printf '  %-50s %12s\n' "  of which copying pages (memdump_us)" "$(us2ms "$(f memdump_us)") ms"
printf '  %-50s %12s\n' "freeze (freeze_us)" "$(us2ms "$(f freeze_us)") ms"
printf '  %-50s %12s\n' "frozen (frozen_us)" "$(us2ms "$(f frozen_us)") ms"
printf '  %-50s %12s\n' "BGSAVE (baseline)" "$bgsave_ms ms"
printf '  %-50s %12s\n' "  of which redis is blocked in fork()" "$(us2ms "$fork_us") ms"
printf '  %-50s %12s\n' "cs-restore -d returns" "$restore_ms ms"
printf '  %-50s %12s\n' "restore to first PONG" "$answer_ms ms"
printf '  %-50s %12s\n' "cold start with the RDB to first PONG (baseline)" "$cold_ms ms"
printf '  %-50s %12s\n' "data after the restore" "DBSIZE and DEBUG DIGEST identical"
say "ratios"
printf '  %-50s %12s\n' "image / RSS" "$(ratio "$img_bytes" $((rss_kb * 1024)))"
printf '  %-50s %12s\n' "image / RDB" "$(ratio "$img_bytes" "$rdb_bytes")"
printf '  %-50s %12s\n' "dump_us / BGSAVE" "$(ratio "$(f dump_us)" $((bgsave_ms * 1000)))"
printf '  %-50s %12s\n' "frozen / BGSAVE's fork()" "$(ratio "$(f frozen_us)" "$fork_us")"
printf '  %-50s %12s\n' "restore-to-PONG / cold-start-to-PONG" "$(ratio "$answer_ms" "$cold_ms")"

# 6. more cycles (BENCH_CYCLES), alternating two builds with BENCH_AB_BUILDDIR
CYCLES=${BENCH_CYCLES:-0}
[[ "$CYCLES" =~ ^[0-9]+$ ]] || die "BENCH_CYCLES must be a number (got '$CYCLES')"
AB=${BENCH_AB_BUILDDIR:-}
[ -z "$AB" ] || AB=$(cd "$AB" && pwd) || die "BENCH_AB_BUILDDIR $BENCH_AB_BUILDDIR not found"
fa=() fb=() aa=() ab=()
for ((cyc = 1; cyc <= CYCLES; cyc++)); do
	bd=$builddir
	[ -z "$AB" ] || ((cyc % 2)) || bd=$AB
	load_pid=$(start_detached "$tmp/bench.pid" "$tmp/bench.out" \
		redis-benchmark -p "$port" -c 4 -n 1000000000 -r "$KEYS" -t get -q) || die "redis-benchmark did not start"
	sleep 1
	rm -rf "$tmp/img"
	"$bd/cs-dump/cs-dump" -t "$server_pid" -D "$tmp/img" --tcp-close --display-stats \
		${BENCH_LOG_DIR:+-v4 -o "$BENCH_LOG_DIR/dump-$cyc.log"} >"$tmp/dump.out" 2>&1 ||
		die "cs-dump failed: $(tail -n 3 "$tmp/dump.out")"
	stats=$(grep -m1 'freeze_us=' "$tmp/dump.out") || die "cs-dump printed no stats line"
	stop "$load_pid" redis-benchmark
	load_pid=""
	wait_gone "$server_pid" 10 || die "PID $server_pid still exists after the dump"
	t0=$(now_us)
	"$bd/cs-restore/cs-restore" -D "$tmp/img" -d ${BENCH_LOG_DIR:+-v4 -o "$BENCH_LOG_DIR/restore-$cyc.log"} \
		>"$tmp/restore.out" 2>&1 || die "cs-restore failed: $(tail -n 3 "$tmp/restore.out")"
	a=$(first_pong "$port" "$t0" 30) || die "the restored redis-server did not answer in 30 s"
	[ "$(rc debug digest)" = "$digest" ] || die "DEBUG DIGEST after the restore of cycle $cyc differs"
	fz=$(us2ms "$(field frozen_us "$stats")")
	if [ -n "$AB" ] && ! ((cyc % 2)); then fb+=("$fz") ab+=("$a"); else fa+=("$fz") aa+=("$a"); fi
	say "cycle $cyc${AB:+ ($( ((cyc % 2)) && echo A || echo B))}: frozen $fz ms, restore to first PONG $a ms"
done
if ((CYCLES)); then
	say "${AB:+A: $builddir, }medians of the cycles"
	printf '  %-50s %12s\n' "frozen (frozen_us)${AB:+, A}" "$(median "${fa[@]}") ms"
	printf '  %-50s %12s\n' "restore to first PONG${AB:+, A}" "$(median "${aa[@]}") ms"
	if [ -n "$AB" ] && ((CYCLES > 1)); then
		say "B: $AB"
		printf '  %-50s %12s\n' "frozen (frozen_us), B" "$(median "${fb[@]}") ms"
		printf '  %-50s %12s\n' "restore to first PONG, B" "$(median "${ab[@]}") ms"
		printf '  %-50s %12s\n' "frozen B/A" "$(ratio "$(median "${fb[@]}")" "$(median "${fa[@]}")")"
		printf '  %-50s %12s\n' "restore to first PONG B/A" "$(ratio "$(median "${ab[@]}")" "$(median "${aa[@]}")")"
	fi
fi
say "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if command -v criu >/dev/null 2>&1 && criu check >/dev/null 2>&1; then
	say "criu: $(criu --version | head -n 1) works here, but this script does not run it yet"
else
	say "criu: not available here (skipped). For reference, issue 3 quotes CRIU 4.2 on redis: 36 ms"
	say "frozen and 84 ms to the first answer after a restore (data set size not stated there)."
fi
