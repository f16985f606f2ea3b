#!/bin/bash
# checksync benchmark: what periodic checkpoints cost a loaded server
# (issue 5, "Performance goals").
#
#   contrib/bench/ha-throughput.sh [BUILDDIR]   # BUILDDIR default: $CS_BUILD_DIR or <repo>/build
#
# Run as root after contrib/build.sh. One kvserver (200000 keys x 512 B)
# runs for the whole session under a closed-loop kvload (16 connections,
# 90% GET, the SETs overwrite random keys). The session is BENCH_ROUNDS
# rounds; a round is one run of BENCH_SECS seconds in each mode, the order
# of the modes rotating from round to round:
#
#   none     no checkpoint: the baseline of the round
#   ckpt1    a checkpoint every second: cs-dump -R --tcp-established
#            --track-mem, a full one that starts a chain, then incremental
#            ones with --prev-images-dir ../PREVIOUS, each into its own
#            directory, a new chain every BENCH_FULL_SECS seconds, the newest
#            BENCH_KEEP chains kept and older ones deleted as the series goes
#            (what contrib/checksync-checkpoint -K -N does)
#   ckpt10   the same, 10 checkpoints a second
#   save     go-cache's own SaveFile every second (kvserver's SAVE command):
#            the application-level baseline
#
# and, when a working `criu` is on PATH, `criu dump -R` every second. Per
# run: kvload's ops/s, and that divided by the round's none run. Per
# checkpoint: --display-stats (frozen_us, bytes), cs-dump's CPU time
# (user + system, /usr/bin/time) and wall time, and the size of its
# directory. The summary gives the medians of the ratios with their spread,
# frozen_us of incremental checkpoints (median, p99, max) and of full ones
# apart, CPU seconds and bytes per checkpoint. See contrib/bench/README.md.
#
# Environment (defaults in brackets):
#   BENCH_ROUNDS      rounds (each mode once per round) [5]
#   BENCH_SECS        seconds per run [20]
#   BENCH_MODES       modes, in the order of the first round ["none ckpt1 ckpt10 save"]
#   BENCH_KEYS        preloaded keys [200000]
#   BENCH_VALUE_SIZE  value size in bytes [512]
#   BENCH_CONNS       kvload connections [16]
#   BENCH_GET_FRAC    kvload fraction of GETs [0.9]
#   BENCH_FULL_SECS   a new chain (full checkpoint) every this many seconds [10]
#   BENCH_KEEP        chains kept on disk [2]
#   BENCH_TCP         established or close: cs-dump --tcp-established or --tcp-close [established]
#   BENCH_DUMP_ARGS   more cs-dump options (e.g. --runtime=none) []
#   TMPDIR            where checkpoints are written [/tmp]
#
# Exit status: 0 if every run and every checkpoint succeeded and the server
# passed kvclient -check at the end (whether or not the targets are met), 1
# otherwise. Only processes this script started are stopped, and its
# temporary directory is removed on exit.
set -euo pipefail

ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECS:-20}
MODES=${BENCH_MODES:-none ckpt1 ckpt10 save}
KEYS=${BENCH_KEYS:-200000}
VALUE_SIZE=${BENCH_VALUE_SIZE:-512}
CONNS=${BENCH_CONNS:-16}
GET_FRAC=${BENCH_GET_FRAC:-0.9}
FULL_SECS=${BENCH_FULL_SECS:-10}
KEEP=${BENCH_KEEP:-2}
TCP=${BENCH_TCP:-established}
read -r -a DUMP_ARGS <<<"${BENCH_DUMP_ARGS:-}"

# Targets of issue 5.
TARGET_LOSS=0.05	# throughput lost at one checkpoint a second
TARGET_P99_US=10000	# p99 of frozen_us of incremental checkpoints

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$here/../lib/common.sh"
builddir=${1:-${CS_BUILD_DIR:-$root/build}}


need_counts ROUNDS SECS KEYS CONNS FULL_SECS KEEP
case $TCP in
established | close) ;;
*) die "BENCH_TCP must be established or close (got '$TCP')" ;;
esac
for m in $MODES; do
	case $m in
	none | ckpt1 | ckpt10 | save) ;;
	*) die "unknown mode '$m' in BENCH_MODES (none, ckpt1, ckpt10, save)" ;;
	esac
done
[[ " $MODES " == *" none "* ]] || die "BENCH_MODES must include none (the baseline)"
use_build "$builddir" cs-dump/cs-dump
need_root "cs-dump needs ptrace, and CAP_NET_ADMIN for --tcp-established"
for t in ss du setsid awk /usr/bin/time; do
	command -v "$t" >/dev/null || die "'$t' not found: run contrib/install-deps.sh (/usr/bin/time: package time)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/checksync-ha.XXXXXX")
export CS_RUN_DIR=$tmp/run	# the holder's socket: ours, not /run/checksync
mkdir -p "$CS_RUN_DIR"
server_pid=""
load_pid=""
driver_pid=""

stop_all() {
	if [ -n "$driver_pid" ]; then
		: >"$tmp/stop"
		wait "$driver_pid" 2>/dev/null || true
		driver_pid=""
	fi
	stop_child "$load_pid"
	load_pid=""
	stop "$server_pid" kvserver "$tmp"
	server_pid=""
}

cleanup_on_exit

# A sleep that forks nothing (bash's read -t on a fifo nobody writes).
exec {sleep_fd}<> <(:)
nap() { read -r -t "$1" -u "$sleep_fd" _ || true; }

# -------------------------------------------------------------------------
# The mode drivers. Each runs in the background until $tmp/stop exists and
# appends one line per event to its log.

# ckpt_loop RATE LOG: RATE checkpoints a second, as a series of chains.
# LOG lines: "seq kind status frozen_us bytes_written dir_bytes user_s sys_s wall_s"
ckpt_loop() {
	local rate=$1 log=$2
	local period_us=$((1000000 / rate)) chain=$((FULL_SECS * rate))
	local dir=$tmp/ckpt i=0 prev="" next t st stats kind line first_of_chain=0
	local -a args tm
	rm -rf "$dir"
	mkdir -p "$dir"
	next=$(now_us)
	while [ ! -e "$tmp/stop" ]; do
		args=(-R -t "$server_pid" -D "$dir/$i" "--tcp-$TCP" --display-stats --track-mem)
		if [ -n "$prev" ] && ((i - first_of_chain < chain)); then
			args+=(--prev-images-dir "../$prev")
		else
			first_of_chain=$i
		fi
		st=0
		/usr/bin/time -f '%U %S %e' -o "$tmp/time.out" \
			"$CS_DUMP" "${args[@]}" "${DUMP_ARGS[@]}" </dev/null >/dev/null 2>"$tmp/dump.err" || st=$?
		read -r -a tm <"$tmp/time.out" 2>/dev/null || tm=()
		# /usr/bin/time writes "Command exited with non-zero status N" first on failure
		[ "${#tm[@]}" -eq 3 ] || read -r -a tm < <(tail -n 1 "$tmp/time.out" 2>/dev/null; echo - - -)
		stats=$(grep -m1 'freeze_us=' "$tmp/dump.err" || true)
		if [ "$st" != 0 ] || [ -z "$stats" ] || [ ! -d "$dir/$i" ]; then
			echo "$i - failed - - - ${tm[0]} ${tm[1]} ${tm[2]} $(grep -v freeze_us= "$tmp/dump.err" | tail -n 1 | tr ' ' '_')" >>"$log"
			rm -rf "${dir:?}/$i"
			prev=""	# the next one is full, as checksync-checkpoint does after a failure
		else
			kind=$(field checkpoint "$stats")
			[ "$kind" = full ] && first_of_chain=$i
			line="$i $kind ok $(field frozen_us "$stats") $(field bytes_written "$stats") $(du -sb "$dir/$i" | cut -f1)"
			echo "$line ${tm[0]} ${tm[1]} ${tm[2]}" >>"$log"
			prev=$i
			# keep the newest KEEP chains: a full checkpoint starts one
			if [ "$first_of_chain" = "$i" ]; then
				for t in "$dir"/*; do
					t=${t##*/}
					[[ $t =~ ^[0-9]+$ ]] && ((t < i - (KEEP - 1) * chain)) && rm -rf "${dir:?}/$t"
				done
			fi
		fi
		i=$((i + 1))
		next=$((next + period_us))
		t=$(now_us)
		if ((next > t)); then
			nap "$(awk -v u=$((next - t)) 'BEGIN { printf "%.6f", u / 1e6 }')"
		else
			next=$t	# behind: no catching up with a burst
		fi
	done
	rm -rf "$dir"
}

# pace: for the loops below, one round a second: advance the caller's next
# (us since the epoch) by a second and sleep until then; when that moment
# has passed already, next is now instead.
pace() {
	local t
	next=$((next + 1000000))
	t=$(now_us)
	if ((next > t)); then
		nap "$(awk -v u=$((next - t)) 'BEGIN { printf "%.6f", u / 1e6 }')"
	else
		next=$t
	fi
}

# save_loop LOG: SAVE every second on one connection. LOG: "n us bytes" or "n failed why".
save_loop() {
	local log=$1 n=0 next reply
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" || { echo "0 failed connect" >>"$log"; return; }
	next=$(now_us)
	while [ ! -e "$tmp/stop" ]; do
		printf 'SAVE %s\n' "$tmp/save.gob" >&"$fd"
		if read -r reply <&"$fd" && [[ $reply == OK* ]]; then
			echo "$n $(field us "$reply") $(field bytes "$reply")" >>"$log"
		else
			echo "$n failed ${reply// /_}" >>"$log"
		fi
		n=$((n + 1))
		pace
	done
	exec {fd}>&-
	rm -f "$tmp/save.gob"
}

# criu_loop LOG: criu dump -R every second (only when criu works here).
criu_loop() {
	local log=$1 n=0 next st
	next=$(now_us)
	while [ ! -e "$tmp/stop" ]; do
		rm -rf "$tmp/criu"
		mkdir -p "$tmp/criu"
		st=0
		/usr/bin/time -f '%U %S %e' -o "$tmp/time.out" criu dump -R -t "$server_pid" -D "$tmp/criu" \
			"--tcp-$TCP" --display-stats -o dump.log </dev/null >"$tmp/criu.out" 2>&1 || st=$?
		echo "$n $st $(awk '/^Frozen time:/{print $3; exit}' "$tmp/criu.out") $(tail -n 1 "$tmp/time.out")" >>"$log"
		n=$((n + 1))
		pace
	done
	rm -rf "$tmp/criu"
}

# run_one ROUND MODE: one run; R[ROUND,MODE] = ops/s.
declare -A R
nfail=0
run_one() {
	local r=$1 m=$2 log=$tmp/$1-$2.log ops
	rm -f "$tmp/stop" "$log"
	: >"$log"
	"$KVLOAD" -addr "$addr" -keys "$KEYS" -value-size "$VALUE_SIZE" -conns "$CONNS" -get-frac "$GET_FRAC" \
		-overwrite -duration "${SECS}s" -timeout 10s -interval "${SECS}s" -report "$tmp/load.report" \
		</dev/null >"$tmp/load.out" 2>&1 &
	load_pid=$!
	case $m in
	ckpt1) ckpt_loop 1 "$log" & driver_pid=$! ;;
	ckpt10) ckpt_loop 10 "$log" & driver_pid=$! ;;
	save) save_loop "$log" & driver_pid=$! ;;
	criu) criu_loop "$log" & driver_pid=$! ;;
	esac
	local st=0
	wait "$load_pid" || st=$?
	load_pid=""
	: >"$tmp/stop"
	if [ -n "$driver_pid" ]; then
		wait "$driver_pid" || true
		driver_pid=""
	fi
	ops=$(field 'ops/s' "$(cat "$tmp/load.report" 2>/dev/null)")
	if [ "$st" != 0 ] || [ -z "$ops" ]; then
		say "   round $r $m: kvload failed (status $st): $(tail -n 2 "$tmp/load.out" | tr '\n' ' ')"
		nfail=$((nfail + 1))
		return 1
	fi
	R[$r,$m]=$ops
	R[$r,$m,line]=$(cat "$tmp/load.report")
	return 0
}

# -------------------------------------------------------------------------
# Statistics (awk for floating point; median, ratio, us2ms, mib in common.sh).
# pct P VALUES...: nearest-rank percentile.
pct() {
	local p=$1
	shift
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
		awk -v p="$p" '{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
			i = int(p / 100 * NR); if (i < p / 100 * NR) i++; if (i < 1) i = 1; print v[i] }'
}
minmax() {
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
		awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%s-%s", lo, hi; else print "-" }'
}
mean() {
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' |
		awk '{ s += $1 } END { if (NR) printf "%.3f", s / NR; else print "-" }'
}

# ckpt_col MODE KIND FIELD: FIELD (1-based column of the ckpt log) of the
# successful checkpoints of KIND (full, incremental, or all) over all rounds.
ckpt_col() {
	local m=$1 kind=$2 f=$3 r
	for ((r = 1; r <= ROUNDS; r++)); do
		[ -f "$tmp/$r-$m.log" ] || continue
		awk -v k="$kind" -v f="$f" '$3 == "ok" && (k == "all" || $2 == k) { print $f }' "$tmp/$r-$m.log"
	done
}
# cpu: user + sys per checkpoint
ckpt_cpu() {
	local m=$1 kind=$2 r
	for ((r = 1; r <= ROUNDS; r++)); do
		[ -f "$tmp/$r-$m.log" ] || continue
		awk -v k="$kind" '$3 == "ok" && (k == "all" || $2 == k) { printf "%.2f\n", $7 + $8 }' "$tmp/$r-$m.log"
	done
}

mode_summary() {
	local m=$1 r n=0 nf=0 rate=1 k v
	local -a a b
	[ "$m" = ckpt10 ] && rate=10
	mapfile -t a < <(for ((r = 1; r <= ROUNDS; r++)); do [ -n "${R[$r,$m,ratio]:-}" ] && echo "${R[$r,$m,ratio]}"; done)
	v=$(median "${a[@]}")
	printf '  %-44s %s (%s over %s rounds); loss %s%s\n' "$m: ops/s $m / ops/s none" "$v" "$(minmax "${a[@]}")" \
		"${#a[@]}" "$(awk -v x="$v" 'BEGIN { if (x == "-") print "-"; else printf "%.1f%%", (1 - x) * 100 }')" \
		"$([ "$m" = ckpt1 ] && awk -v x="$v" -v t="$TARGET_LOSS" 'BEGIN { if (x != "-") printf ", target <= %.0f%%: %s", t * 100, (1 - x <= t) ? "met" : "NOT met" }')"
	case $m in
	ckpt1 | ckpt10)
		for ((r = 1; r <= ROUNDS; r++)); do
			[ -f "$tmp/$r-$m.log" ] || continue
			n=$((n + $(awk '$3 == "ok"' "$tmp/$r-$m.log" | wc -l)))
			nf=$((nf + $(awk '$3 == "failed"' "$tmp/$r-$m.log" | wc -l)))
		done
		printf '  %-44s %s ok, %s failed (%s per s asked; %s per s done)\n' "  checkpoints" "$n" "$nf" "$rate" \
			"$(awk -v n="$n" -v s="$((SECS * ${#a[@]}))" 'BEGIN { if (s) printf "%.1f", n / s; else print "-" }')"
		for k in incremental full; do
			mapfile -t b < <(ckpt_col "$m" "$k" 4)
			[ "${#b[@]}" -gt 0 ] || { printf '  %-44s none\n' "  $k"; continue; }
			printf '  %-44s median %s ms, p99 %s ms, max %s ms (%s checkpoints)%s\n' "  $k: frozen_us" \
				"$(us2ms "$(median "${b[@]}")")" "$(us2ms "$(pct 99 "${b[@]}")")" "$(us2ms "$(pct 100 "${b[@]}")")" "${#b[@]}" \
				"$([ "$k" = incremental ] && awk -v x="$(pct 99 "${b[@]}")" -v t="$TARGET_P99_US" 'BEGIN { printf "; p99 target < %d ms: %s", t / 1000, (x < t) ? "met" : "NOT met" }')"
			mapfile -t b < <(ckpt_cpu "$m" "$k")
			printf '  %-44s median %s s, mean %s s\n' "  $k: cs-dump CPU (user+sys)" "$(median "${b[@]}")" "$(mean "${b[@]}")"
			mapfile -t b < <(ckpt_col "$m" "$k" 9)
			printf '  %-44s median %s s\n' "  $k: cs-dump wall time" "$(median "${b[@]}")"
			mapfile -t b < <(ckpt_col "$m" "$k" 6)
			printf '  %-44s median %s MiB (%s bytes)' "  $k: directory size (du -sb)" "$(mib "$(median "${b[@]}")")" "$(median "${b[@]}")"
			mapfile -t b < <(ckpt_col "$m" "$k" 5)
			printf ', pages.img median %s bytes\n' "$(median "${b[@]}")"
		done
		mapfile -t b < <(ckpt_cpu "$m" all)
		printf '  %-44s %s s of CPU per second of run\n' "  cs-dump CPU, all checkpoints" \
			"$(awk -v s="$(printf '%s\n' "${b[@]}" | awk '{ s += $1 } END { print s + 0 }')" -v t="$((SECS * ${#a[@]}))" \
				'BEGIN { if (t) printf "%.3f", s / t; else print "-" }')"
		;;
	save)
		mapfile -t b < <(for ((r = 1; r <= ROUNDS; r++)); do
			[ -f "$tmp/$r-save.log" ] && awk '$2 != "failed" { print $2 }' "$tmp/$r-save.log"; done)
		printf '  %-44s %s saves, median %s ms each, %s MiB\n' "  SaveFile" "${#b[@]}" "$(us2ms "$(median "${b[@]}")")" \
			"$(mib "$(for ((r = 1; r <= ROUNDS; r++)); do [ -f "$tmp/$r-save.log" ] && awk '$2 != "failed" { print $3 }' "$tmp/$r-save.log"; done | tail -n 1)")"
		;;
	esac
}

# -------------------------------------------------------------------------
say "checksync HA throughput benchmark: kvserver $KEYS keys x $VALUE_SIZE B, kvload $CONNS conns, $GET_FRAC GET (SETs overwrite), $ROUNDS rounds x ${SECS} s per mode"
say "modes: $MODES; cs-dump -R --tcp-$TCP --track-mem${DUMP_ARGS[*]:+ ${DUMP_ARGS[*]}}, a new chain every $FULL_SECS s, $KEEP chains kept"
say "machine: $(uname -r), $(nproc) CPUs, $(awk '/^MemTotal:/{printf "%d MiB", $2/1024}' /proc/meminfo) RAM, load average $(cut -d' ' -f1-3 /proc/loadavg); checkpoints in $tmp ($(df -PT "$tmp" | awk 'NR==2{print $2}'))"

build_kv

if command -v criu >/dev/null 2>&1 && criu check >"$tmp/criu-check.log" 2>&1; then
	MODES="$MODES criu"
	say "criu: $(criu --version 2>/dev/null | head -n 1) (criu check OK): criu dump -R every second added as mode criu"
else
	say "criu: $(command -v criu >/dev/null 2>&1 && echo "criu check fails here" || echo "not on PATH"): no CRIU comparison in this run"
fi

port=$(pick_port) || die "no free port in 127.0.0.1:17000-17999"
addr=127.0.0.1:$port
server_pid=$(start_detached "$tmp/server.pid" "$tmp/server.log" \
	"$KVSERVER" -addr "$addr" -preload "$KEYS" -value-size "$VALUE_SIZE" -ready "$tmp/server.ready") ||
	die "kvserver did not start"
wait_ready() {
	local i
	for ((i = 0; i < 1200; i++)); do
		[ -s "$tmp/server.ready" ] && return 0
		sleep 0.05
	done
	return 1
}
wait_ready || die "kvserver not ready within 60 s: $(tail -n 2 "$tmp/server.log")"
[ "$(cat "$tmp/server.ready")" = "$server_pid" ] || die "kvserver's ready file does not name PID $server_pid"
# warm up: the heap reaches its steady size under the overwriting load
"$KVLOAD" -addr "$addr" -keys "$KEYS" -value-size "$VALUE_SIZE" -conns "$CONNS" -get-frac "$GET_FRAC" \
	-overwrite -duration 5s -interval 5s </dev/null >"$tmp/warmup.out" 2>&1 || die "warm-up load failed: $(tail -n 2 "$tmp/warmup.out")"
say "kvserver PID $server_pid, RSS $(mib $(($(status_kb "$server_pid" VmRSS) * 1024))) MiB after 5 s of warm-up ($(field 'ops/s' "$(tail -n 1 "$tmp/warmup.out")") ops/s)"

read -r -a modes <<<"$MODES"
nm=${#modes[@]}
start_all=$(now_us)
say ""
printf '%-6s %-7s %9s %7s  %s\n' round mode ops/s ratio "checkpoints/saves (ok, failed; frozen_ms median/max)"
for ((r = 1; r <= ROUNDS; r++)); do
	for ((j = 0; j < nm; j++)); do
		m=${modes[$(((j + r - 1) % nm))]}
		run_one "$r" "$m" || continue
		R[$r,$m,ratio]=""
	done
	for m in "${modes[@]}"; do
		[ -n "${R[$r,$m]:-}" ] || continue
		[ -n "${R[$r,none]:-}" ] && R[$r,$m,ratio]=$(ratio "${R[$r,$m]}" "${R[$r,none]}")
		extra=""
		case $m in
		ckpt*)
			mapfile -t a < <(awk '$3 == "ok" { print $4 }' "$tmp/$r-$m.log")
			extra="$(awk '$3 == "ok"' "$tmp/$r-$m.log" | wc -l) ok, $(awk '$3 == "failed"' "$tmp/$r-$m.log" | wc -l) failed; frozen $(us2ms "$(median "${a[@]}")")/$(us2ms "$(pct 100 "${a[@]}")") ms"
			nf=$(awk '$3 == "failed"' "$tmp/$r-$m.log" | wc -l)
			[ "$nf" = 0 ] || { nfail=$((nfail + nf)); extra+=" (first failure: $(awk '$3 == "failed" { print $10; exit }' "$tmp/$r-$m.log" | tr '_' ' '))"; }
			;;
		save) extra="$(awk '$2 != "failed"' "$tmp/$r-save.log" | wc -l) saves" ;;
		criu) extra="$(wc -l <"$tmp/$r-criu.log") dumps" ;;
		esac
		printf '%-6s %-7s %9s %7s  %s\n' "$r" "$m" "${R[$r,$m]}" "${R[$r,$m,ratio]:--}" "$extra"
	done
done

# The server must be intact after every checkpoint.
check="passed"
if ! is_ours "$server_pid" kvserver "$tmp"; then
	check="FAILED: kvserver is gone: $(tail -n 2 "$tmp/server.log" | tr '\n' ' ')"
elif ! "$KVCLIENT" -addr "$addr" -value-size "$VALUE_SIZE" -timeout 30s -check "$KEYS" >"$tmp/check.out" 2>&1; then
	check="FAILED: $(tail -n 2 "$tmp/check.out" | tr '\n' ' ')"
fi
mism=$(for ((r = 1; r <= ROUNDS; r++)); do for m in "${modes[@]}"; do echo "${R[$r,$m,line]:-}"; done; done |
	grep -o 'mismatches=[0-9]*' | awk -F= '{ s += $2 } END { print s + 0 }')

say ""
say "================ summary: medians over the rounds (issue 5 targets: lose at most 5% at 1 checkpoint/s, incremental frozen p99 < 10 ms) ================"
mapfile -t a < <(for ((r = 1; r <= ROUNDS; r++)); do echo "${R[$r,none]:-}"; done)
printf '  %-44s %s ops/s (%s)\n' "none: throughput without checkpoints" "$(median "${a[@]}")" "$(minmax "${a[@]}")"
for m in "${modes[@]}"; do
	[ "$m" = none ] || mode_summary "$m"
done
if [[ " ${modes[*]} " != *" criu "* ]]; then
	printf '  %-44s %s\n' "criu" "not available here (not on PATH, or criu check fails): not measured"
fi
printf '  %-44s %s\n' "kvload mismatches (all runs)" "$mism"
printf '  %-44s %s\n' "kvclient -check $KEYS at the end" "$check"
say ""
say "total time: $((($(now_us) - start_all) / 1000000)) s; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
[[ $check == passed ]] || die "the server did not pass its check after the checkpoints"
[ "$mism" = 0 ] || die "kvload saw $mism wrong values"
[ "$nfail" = 0 ] || die "$nfail run(s) or checkpoint(s) failed"
