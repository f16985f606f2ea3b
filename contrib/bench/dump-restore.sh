#!/bin/bash
# checksync benchmark: dump and restore a loaded Go key/value server.
#
#   contrib/bench/dump-restore.sh [BUILDDIR]   # BUILDDIR default: $CS_BUILD_DIR or <repo>/build
#
# Run as root after contrib/build.sh. Each run starts kvserver with 200000
# keys of 512 bytes (timing its cold start to the first answered request),
# puts it under load with kvload (4 connections, 90% GET) for 2 s, reads its
# RSS, dumps it with `cs-dump --tcp-close --display-stats` while the load
# runs, measures the image directory, restores it with `cs-restore -d`,
# times the first answered request, checks every key with kvclient, and
# stops everything. A table of the runs and a summary with medians and
# ratios follow. If a working `criu` is on PATH (`criu check` succeeds) the
# same runs are made with CRIU for comparison. See contrib/bench/README.md
# for what each figure means.
#
# Environment (defaults in brackets):
#   BENCH_RUNS        number of runs [5]
#   BENCH_KEYS        preloaded keys [200000]
#   BENCH_VALUE_SIZE  value size in bytes [512]
#   BENCH_CONNS       kvload connections [4]
#   BENCH_GET_FRAC    kvload fraction of GETs [0.9]
#   BENCH_LOAD_SECS   seconds of load before the dump [2]
#   TMPDIR            where image directories are written [/tmp]
#
# Exit status: 0 if every run succeeded, 1 otherwise (failed runs are
# reported and left out of the medians). Only processes this script started
# are stopped, and its temporary directory is removed on exit.
set -euo pipefail

RUNS=${BENCH_RUNS:-5}
KEYS=${BENCH_KEYS:-200000}
VALUE_SIZE=${BENCH_VALUE_SIZE:-512}
CONNS=${BENCH_CONNS:-4}
GET_FRAC=${BENCH_GET_FRAC:-0.9}
LOAD_SECS=${BENCH_LOAD_SECS:-2}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$here/../lib/common.sh"
builddir=${1:-${CS_BUILD_DIR:-$root/build}}


need_counts RUNS KEYS
use_build "$builddir" cs-dump/cs-dump cs-restore/cs-restore
need_root "cs-dump and cs-restore need ptrace and CAP_SYS_ADMIN"
need_tools ss du setsid awk

tmp=$(mktemp -d "${TMPDIR:-/tmp}/checksync-bench.XXXXXX")
# PIDs this script started and still owns, with the program each runs.
server_pid=""
load_pid=""

stop_all() {
	stop "$load_pid" kvload
	load_pid=""
	stop "$server_pid" kvserver
	server_pid=""
}

cleanup_on_exit

# first_answer PORT T0_US DEADLINE_MS: poll with PING until the server
# answers; prints the ms from T0_US to the first PONG.
first_answer() {
	local port=$1 t0=$2 deadline=$3
	while ! ping_once "$port" 30; do
		(($(now_us) - t0 < deadline * 1000)) || return 1
	done
	local t1
	t1=$(now_us)
	echo $(((t1 - t0) / 1000))
}

# -------------------------------------------------------------------------
say "checksync dump/restore benchmark: kvserver $KEYS keys x $VALUE_SIZE B, kvload $CONNS conns, ${GET_FRAC} GET, ${LOAD_SECS} s of load, $RUNS runs"
say "machine: $(uname -r), $(nproc) CPUs, $(awk '/^MemTotal:/{printf "%d MiB", $2/1024}' /proc/meminfo) RAM; images in $tmp ($(df -PT "$tmp" | awk 'NR==2{print $2}'))"

build_kv

criu_ok=""
if command -v criu >/dev/null 2>&1; then
	if criu check >"$tmp/criu-check.log" 2>&1; then
		criu_ok=1
		say "criu: $(criu --version 2>/dev/null | head -n 1) (criu check OK)"
	fi
fi

# Per-run results, indexed "TOOL,RUN,FIELD".
declare -A R
fail_reason=""

# run_one TOOL N: one measured run with TOOL (cs or criu). Fills R[TOOL,N,*];
# on failure sets fail_reason and returns 1. Always stops its processes.
run_one() {
	local tool=$1 n=$2 rc=0
	fail_reason=""
	run_body "$tool" "$n" || rc=1
	stop_all
	rm -rf "$tmp/ckpt-$tool-$n"
	return "$rc"
}

run_body() {
	local tool=$1 n=$2
	local rdir=$tmp/run-$tool-$n ckpt=$tmp/ckpt-$tool-$n
	local port addr t0 t1 ms
	mkdir -p "$rdir"

	port=$(pick_port) || { fail_reason="no free port in 127.0.0.1:17000-17999"; return 1; }
	addr=127.0.0.1:$port

	# Baseline: a plain restart to the same state, i.e. a fresh kvserver
	# that preloads every key, timed to its first answered request.
	t0=$(now_us)
	server_pid=$(start_detached "$rdir/server.pid" "$rdir/server.log" \
		"$KVSERVER" -addr "$addr" -preload "$KEYS" -value-size "$VALUE_SIZE" -ready "$rdir/server.ready") ||
		{ fail_reason="kvserver did not start"; return 1; }
	ms=$(first_answer "$port" "$t0" 60000) ||
		{ fail_reason="fresh kvserver did not answer within 60 s: $(tail -n 2 "$rdir/server.log")"; return 1; }
	R[$tool,$n,cold_ms]=$ms
	[ "$(cat "$rdir/server.ready" 2>/dev/null)" = "$server_pid" ] ||
		{ fail_reason="kvserver's ready file does not name PID $server_pid"; return 1; }

	# Load.
	load_pid=$(start_detached "$rdir/load.pid" "$rdir/load.log" \
		"$KVLOAD" -addr "$addr" -keys "$KEYS" -value-size "$VALUE_SIZE" -conns "$CONNS" \
		-get-frac "$GET_FRAC" -duration 0 -timeout 1s -interval 1s) ||
		{ fail_reason="kvload did not start"; return 1; }
	sleep "$LOAD_SECS"
	is_ours "$load_pid" kvload || { fail_reason="kvload exited: $(tail -n 2 "$rdir/load.log")"; return 1; }
	R[$tool,$n,ops]=$(field 'ops/s' "$(grep 'ops/s=' "$rdir/load.log" | tail -n 1)")

	# Memory just before the dump.
	R[$tool,$n,rss_kb]=$(status_kb "$server_pid" VmRSS)
	R[$tool,$n,anon_kb]=$(status_kb "$server_pid" RssAnon)

	# Dump (the server is killed), while the load runs.
	t0=$(now_us)
	if [ "$tool" = cs ]; then
		"$CS_DUMP" -t "$server_pid" -D "$ckpt" --tcp-close --display-stats >"$rdir/dump.out" 2>&1 ||
			{ fail_reason="cs-dump failed: $(tail -n 3 "$rdir/dump.out")"; return 1; }
	else
		criu dump -t "$server_pid" -D "$ckpt" --tcp-close --display-stats \
			-o "$rdir/criu-dump.log" >"$rdir/dump.out" 2>&1 </dev/null ||
			{ fail_reason="criu dump failed: $(tail -n 3 "$rdir/dump.out")"; return 1; }
	fi
	t1=$(now_us)
	R[$tool,$n,dump_wall_us]=$((t1 - t0))
	if [ "$tool" = cs ]; then
		local line f
		line=$(grep -m1 'freeze_us=' "$rdir/dump.out" || true)
		[ -n "$line" ] || { fail_reason="cs-dump printed no stats line"; return 1; }
		for f in freeze_us frozen_us dump_us pages_present pages_written pages_zero pages_dead bytes_written; do
			R[$tool,$n,$f]=$(field "$f" "$line")
		done
	else
		# CRIU prints "Freezing time: N us", "Frozen time: N us", ... on stdout.
		R[$tool,$n,freeze_us]=$(awk '/^Freezing time:/{print $3; exit}' "$rdir/dump.out")
		R[$tool,$n,frozen_us]=$(awk '/^Frozen time:/{print $3; exit}' "$rdir/dump.out")
		R[$tool,$n,pages_written]=$(awk '/^Memory pages written:/{print $4; exit}' "$rdir/dump.out")
		R[$tool,$n,pages_present]=$(awk '/^Memory pages scanned:/{print $4; exit}' "$rdir/dump.out")
	fi
	wait_gone "$server_pid" 10 || { fail_reason="PID $server_pid still exists after the dump"; return 1; }
	R[$tool,$n,img_bytes]=$(du -sb "$ckpt" | cut -f1)

	# Restore, timed to the first answered request from the start of the restore.
	t0=$(now_us)
	if [ "$tool" = cs ]; then
		"$CS_RESTORE" -D "$ckpt" -d >"$rdir/restore.out" 2>&1 ||
			{ fail_reason="cs-restore failed: $(tail -n 3 "$rdir/restore.out")"; return 1; }
	else
		criu restore -D "$ckpt" -d --tcp-close -o "$rdir/criu-restore.log" \
			>"$rdir/restore.out" 2>&1 </dev/null ||
			{ fail_reason="criu restore failed: $(tail -n 3 "$rdir/restore.out")"; return 1; }
	fi
	t1=$(now_us)
	R[$tool,$n,restore_ret_ms]=$(((t1 - t0) / 1000))
	ms=$(first_answer "$port" "$t0" 10000) ||
		{ fail_reason="restored server did not answer within 10 s"; return 1; }
	R[$tool,$n,first_ms]=$ms
	is_ours "$server_pid" kvserver || { fail_reason="no kvserver with PID $server_pid after restore"; return 1; }

	# Every key must be there with its value.
	if ! "$KVCLIENT" -addr "$addr" -value-size "$VALUE_SIZE" -timeout 30s -check "$KEYS" >"$rdir/check.out" 2>&1; then
		R[$tool,$n,check]=FAIL
		fail_reason="kvclient -check $KEYS failed: $(tail -n 3 "$rdir/check.out")"
		return 1
	fi
	R[$tool,$n,check]=ok
	return 0
}

# -------------------------------------------------------------------------
# kib2mib KIB: KiB as MiB (the other formatting helpers are in common.sh).
kib2mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

fmt_row='%-4s %8s %8s %8s %8s %7s %7s %9s %8s %9s %9s %9s %9s %8s %6s\n'
print_header() {
	# shellcheck disable=SC2059 # the format is a constant
	printf "$fmt_row" run cold_ms rss_MiB anon_MiB img_MiB img/rss img/anon dumpwall_ms dump_ms freeze_ms frozen_ms restore_ms answer_ms ans/cold check
}
print_row() {
	local tool=$1 n=$2 k
	local -A v=()
	for k in cold_ms rss_kb anon_kb img_bytes dump_wall_us dump_us freeze_us frozen_us restore_ret_ms first_ms check; do
		v[$k]=${R[$tool,$n,$k]:-}
	done
	# shellcheck disable=SC2059
	printf "$fmt_row" "$n" "${v[cold_ms]:--}" \
		"$([ -n "${v[rss_kb]}" ] && kib2mib "${v[rss_kb]}" || echo -)" \
		"$([ -n "${v[anon_kb]}" ] && kib2mib "${v[anon_kb]}" || echo -)" \
		"$([ -n "${v[img_bytes]}" ] && mib "${v[img_bytes]}" || echo -)" \
		"$([ -n "${v[img_bytes]}" ] && ratio "${v[img_bytes]}" $((${v[rss_kb]:-0} * 1024)) || echo -)" \
		"$([ -n "${v[img_bytes]}" ] && ratio "${v[img_bytes]}" $((${v[anon_kb]:-0} * 1024)) || echo -)" \
		"$([ -n "${v[dump_wall_us]}" ] && us2ms "${v[dump_wall_us]}" || echo -)" \
		"$([ -n "${v[dump_us]}" ] && us2ms "${v[dump_us]}" || echo -)" \
		"$([ -n "${v[freeze_us]}" ] && us2ms "${v[freeze_us]}" || echo -)" \
		"$([ -n "${v[frozen_us]}" ] && us2ms "${v[frozen_us]}" || echo -)" \
		"${v[restore_ret_ms]:--}" "${v[first_ms]:--}" \
		"$([ -n "${v[first_ms]}" ] && ratio "${v[first_ms]}" "${v[cold_ms]:-0}" || echo -)" \
		"${v[check]:--}"
}

# run_all TOOL: BENCH_RUNS runs with TOOL; sets ok_runs to the good ones.
ok_runs=()
nfail=0
run_all() {
	local tool=$1 n
	ok_runs=()
	say ""
	if [ "$tool" = cs ]; then
		say "== checksync: cs-dump --tcp-close --display-stats / cs-restore -d =="
	else
		say "== criu: criu dump --tcp-close --display-stats / criu restore -d --tcp-close =="
	fi
	print_header
	for ((n = 1; n <= RUNS; n++)); do
		if run_one "$tool" "$n"; then
			ok_runs+=("$n")
			print_row "$tool" "$n"
		else
			nfail=$((nfail + 1))
			print_row "$tool" "$n"
			say "     run $n FAILED: $fail_reason"
		fi
	done
	if [ "$tool" = cs ] && [ "${#ok_runs[@]}" -gt 0 ]; then
		say ""
		say "cs-dump stats per run (--display-stats):"
		printf '%-4s %13s %13s %11s %10s %14s %9s\n' run pages_present pages_written pages_zero pages_dead bytes_written kvload_ops/s
		for n in "${ok_runs[@]}"; do
			printf '%-4s %13s %13s %11s %10s %14s %9s\n' "$n" "${R[cs,$n,pages_present]}" \
				"${R[cs,$n,pages_written]}" "${R[cs,$n,pages_zero]}" "${R[cs,$n,pages_dead]}" \
				"${R[cs,$n,bytes_written]}" "${R[cs,$n,ops]:--}"
		done
	fi
}

# col TOOL FIELD: the values of FIELD over the good runs.
col() {
	local n
	for n in "${ok_runs[@]}"; do echo "${R[$1,$n,$2]:-}"; done
}
# col_ratio TOOL A B MULT_B: per-run A / (B * MULT_B) over the good runs.
col_ratio() {
	local n
	for n in "${ok_runs[@]}"; do
		ratio "${R[$1,$n,$2]:-0}" $((${R[$1,$n,$3]:-0} * $4))
		echo
	done
}

summary() {
	local tool=$1 label=$2
	local -a v
	if [ "${#ok_runs[@]}" -eq 0 ]; then
		say "$label: no successful run"
		return
	fi
	say ""
	say "== summary, $label: medians over ${#ok_runs[@]} of $RUNS runs =="
	mapfile -t v < <(col "$tool" rss_kb)
	printf '  %-44s %s MiB\n' "RSS before dump (VmRSS)" "$(kib2mib "$(median "${v[@]}")")"
	mapfile -t v < <(col "$tool" anon_kb)
	printf '  %-44s %s MiB\n' "anon RSS before dump (RssAnon)" "$(kib2mib "$(median "${v[@]}")")"
	mapfile -t v < <(col "$tool" img_bytes)
	printf '  %-44s %s bytes (%s MiB)\n' "image bytes (du -sb)" "$(median "${v[@]}")" "$(mib "$(median "${v[@]}")")"
	mapfile -t v < <(col_ratio "$tool" img_bytes rss_kb 1024)
	printf '  %-44s %s\n' "image bytes / RSS" "$(median "${v[@]}")"
	mapfile -t v < <(col_ratio "$tool" img_bytes anon_kb 1024)
	printf '  %-44s %s\n' "image bytes / RssAnon" "$(median "${v[@]}")"
	mapfile -t v < <(col "$tool" freeze_us)
	printf '  %-44s %s ms\n' "freeze_us (seize to all stopped)" "$(us2ms "$(median "${v[@]}")")"
	mapfile -t v < <(col "$tool" frozen_us)
	printf '  %-44s %s ms\n' "frozen_us (what the server loses)" "$(us2ms "$(median "${v[@]}")")"
	mapfile -t v < <(col "$tool" dump_wall_us)
	printf '  %-44s %s ms\n' "dump wall time" "$(us2ms "$(median "${v[@]}")")"
	if [ "$tool" = cs ]; then
		mapfile -t v < <(col "$tool" dump_us)
		printf '  %-44s %s ms\n' "dump_us (excludes waiting for init's reap)" "$(us2ms "$(median "${v[@]}")")"
	fi
	mapfile -t v < <(col "$tool" restore_ret_ms)
	printf '  %-44s %s ms\n' "restore command returned after" "$(median "${v[@]}")"
	mapfile -t v < <(col "$tool" first_ms)
	printf '  %-44s %s ms\n' "restore to first answer" "$(median "${v[@]}")"
	mapfile -t v < <(col "$tool" cold_ms)
	printf '  %-44s %s ms\n' "cold start to first answer (baseline)" "$(median "${v[@]}")"
	mapfile -t v < <(col_ratio "$tool" first_ms cold_ms 1)
	printf '  %-44s %s\n' "restore-to-answer / cold-start-to-answer" "$(median "${v[@]}")"
	printf '  %-44s %s of %s\n' "kvclient -check $KEYS passed" "${#ok_runs[@]}" "$RUNS"
}

start_all=$(now_us)
run_all cs
cs_runs=("${ok_runs[@]}")
if [ -n "$criu_ok" ]; then
	run_all criu
	criu_runs=("${ok_runs[@]}")
fi

ok_runs=("${cs_runs[@]}")
summary cs "checksync"
if [ -n "$criu_ok" ]; then
	ok_runs=("${criu_runs[@]}")
	summary criu "criu"
else
	say ""
	say "criu: not available here (skipped)"
fi
say ""
say "total time: $((($(now_us) - start_all) / 1000000)) s"
if [ "$nfail" -gt 0 ]; then
	die "$nfail run(s) failed"
fi
