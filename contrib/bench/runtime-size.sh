#!/bin/bash
# checksync benchmark: checkpoint size with and without the Go runtime
# integration (issue 4, "Size goal").
#
#   contrib/bench/runtime-size.sh [BUILDDIR]   # BUILDDIR default: $CS_BUILD_DIR or <repo>/build
#
# Run as root after contrib/build.sh. For two Go programs, kvserver (200000
# keys x 512 B of random bytes under a write-heavy kvload that overwrites
# them) and churn (test/go/churn), it
# takes BENCH_DUMPS pairs of dumps at random moments while the program runs
# on: `cs-dump -R --tcp-close --runtime=none --display-stats` and right after
# it the same with --runtime=go (the order alternates between pairs, to
# cancel the drift of a growing heap). Each dump goes to its own directory,
# deleted as soon as its stats line is read. Per pair it prints
# pages_written(go)/pages_written(none) and bytes_written(go)/bytes_written(none),
# then a summary with the medians against the targets of issue 4 (pages
# written <= 0.80, compressed bytes <= 0.65). After the dumps the program
# must still be intact: kvclient -check on the server, a full self-check
# (SIGUSR1) of churn. See contrib/bench/README.md for what each figure means.
#
# Environment (defaults in brackets):
#   BENCH_DUMPS       pairs of dumps per program [10]
#   BENCH_KEYS        kvserver preloaded keys [200000]
#   BENCH_VALUE_SIZE  kvserver value size in bytes [512]
#   BENCH_CONNS       kvload connections [4]
#   BENCH_GET_FRAC    kvload fraction of GETs [0.1]
#   BENCH_VALUES      kvserver value kind: binary (random bytes, incompressible,
#                     as issue 4 asks) or printable (6 bits per byte) [binary]
#   BENCH_SETS        what kvload's SETs do: overwrite (a random key-<i> with a
#                     fresh copy of its value: the old copy becomes garbage) or
#                     add (new load-<conn>-<n> keys: the heap only grows) [overwrite]
#   BENCH_LOAD_SECS   seconds of load before the first pair [2]
#   BENCH_CHURN_ARGS  arguments for churn [-keys 50000]; set it to "" for
#                     churn's own defaults (200000 keys, about 1.3 GiB RSS,
#                     about 12 s per dump on 2 CPUs: 5 minutes for churn alone)
#   BENCH_PROGRAMS    which programs, in order ["kvserver churn"]
#   BENCH_GC_ALIGN    after each pair, a third dump with --runtime=go
#                     --gc-align=BENCH_GC_ALIGN (ms), compared with the pair's
#                     --runtime=none dump; 0 for none [30000]
#   TMPDIR            where image directories are written [/tmp]
#
# Exit status: 0 if every dump and every check succeeded (whether or not the
# targets are met), 1 otherwise (failed pairs are reported and left out of
# the medians). Only processes this script started are stopped, and its
# temporary directory is removed on exit.
set -euo pipefail

DUMPS=${BENCH_DUMPS:-10}
KEYS=${BENCH_KEYS:-200000}
VALUE_SIZE=${BENCH_VALUE_SIZE:-512}
CONNS=${BENCH_CONNS:-4}
GET_FRAC=${BENCH_GET_FRAC:-0.1}
LOAD_SECS=${BENCH_LOAD_SECS:-2}
CHURN_ARGS=${BENCH_CHURN_ARGS--keys 50000}
PROGRAMS=${BENCH_PROGRAMS:-kvserver churn}
VALUES=${BENCH_VALUES:-binary}
GC_ALIGN=${BENCH_GC_ALIGN:-30000}
SETS=${BENCH_SETS:-overwrite}

# Targets of issue 4: go/none at most these.
TARGET_PAGES=0.80
TARGET_BYTES=0.65
TARGET_BYTES_STRETCH=0.5	# with garbage not yet collected left out

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$here/../lib/common.sh"
builddir=${1:-${CS_BUILD_DIR:-$root/build}}


[[ "$DUMPS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_DUMPS must be a positive integer (got '$DUMPS')"
[[ "$GC_ALIGN" =~ ^[0-9]+$ ]] || die "BENCH_GC_ALIGN must be a number of ms (got '$GC_ALIGN')"
[[ "$KEYS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_KEYS must be a positive integer (got '$KEYS')"
case $VALUES in
binary) kvflags=(-binary) ;;
printable) kvflags=() ;;
*) die "BENCH_VALUES must be binary or printable (got '$VALUES')" ;;
esac
case $SETS in
overwrite) loadflags=(-overwrite) ;;
add) loadflags=() ;;
*) die "BENCH_SETS must be overwrite or add (got '$SETS')" ;;
esac
for p in $PROGRAMS; do
	case $p in
	kvserver | churn) ;;
	*) die "BENCH_PROGRAMS: unknown program '$p' (kvserver, churn)" ;;
	esac
done
use_build "$builddir" cs-dump/cs-dump
"$CS_DUMP" --help 2>&1 | grep -q -- '--runtime' || die "$CS_DUMP has no --runtime option"
need_root "cs-dump needs ptrace"
need_tools ss setsid awk timeout

tmp=$(mktemp -d "${TMPDIR:-/tmp}/checksync-bench.XXXXXX")
# PIDs this script started and still owns.
server_pid=""
load_pid=""
churn_pid=""

# alive PID: exists and is not a zombie.
alive() {
	local line
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	line=${line##*) }
	[ "${line%% *}" != Z ]
}

# stop_all: stop what is still ours (its command line names $tmp).
stop_all() {
	stop "$load_pid" kvload "$tmp"
	load_pid=""
	stop "$server_pid" kvserver "$tmp"
	server_pid=""
	stop "$churn_pid" churn "$tmp"
	churn_pid=""
}

cleanup_on_exit

# wait_file FILE SECONDS: wait until FILE is not empty.
wait_file() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# -------------------------------------------------------------------------
say "checksync runtime size benchmark: --runtime=go vs --runtime=none, $DUMPS pairs of cs-dump -R per program ($PROGRAMS)"
say "machine: $(uname -r), $(nproc) CPUs, $(awk '/^MemTotal:/{printf "%d MiB", $2/1024}' /proc/meminfo) RAM; images in $tmp ($(df -PT "$tmp" | awk 'NR==2{print $2}'))"

build_kv
CHURN=$gobin/churn

# Results, indexed "PROG,PAIR,MODE,FIELD" (MODE none or go) and
# "PROG,PAIR,FIELD" for the pair.
declare -A R
# Every field of the --display-stats line that is kept.
STAT_FIELDS="freeze_us frozen_us dump_us pages_present pages_written pages_zero pages_dead bytes_written
runtime gc_phase unswept_spans classify_us pages_heap_live pages_heap_dead pages_stack_live
pages_stack_dead pages_runtime_other bytes_slots_zeroed spans_marked gc_aligned gc_align_us"
nfail=0
fail_reason=""

# dump_one PROG PAIR MODE PID: one cs-dump -R into a fresh directory, which
# is deleted right after; fills R[PROG,PAIR,MODE,*] from the stats line.
dump_one() {
	local prog=$1 n=$2 mode=$3 pid=$4
	local dir=$tmp/ckpt-$prog-$n-$mode out=$tmp/dump-$prog-$n-$mode.out
	local rc=0 line kv k t0 t1 rt=$mode
	local -a extra=()
	if [ "$mode" = aligned ]; then
		rt=go
		extra=("--gc-align=$GC_ALIGN")
	fi
	t0=$(now_us)
	timeout -k 5 $((120 + GC_ALIGN / 1000)) "$CS_DUMP" -R -t "$pid" -D "$dir" --tcp-close --runtime="$rt" \
		"${extra[@]}" --display-stats </dev/null >"$out" 2>&1 || rc=$?
	t1=$(now_us)
	rm -rf "$dir"
	if [ "$rc" -ne 0 ]; then
		fail_reason="cs-dump --runtime=$mode exited with status $rc: $(tail -n 3 "$out" | tr '\n' ' ')"
		return 1
	fi
	R[$prog,$n,$mode,wall_us]=$((t1 - t0))
	line=$(grep -m1 'pages_written=' "$out" || true)
	[ -n "$line" ] || { fail_reason="cs-dump --runtime=$mode printed no stats line"; return 1; }
	for kv in $line; do
		[[ "$kv" == *=* ]] || continue
		k=${kv%%=*}
		[[ " ${STAT_FIELDS//$'\n'/ } " == *" $k "* ]] && R[$prog,$n,$mode,$k]=${kv#*=}
	done
	if [ "${R[$prog,$n,$mode,runtime]:-}" != "$rt" ]; then
		fail_reason="cs-dump --runtime=$mode reports runtime=${R[$prog,$n,$mode,runtime]:-?}"
		return 1
	fi
	if grep -q -i 'warn' "$out"; then
		warn "$prog pair $n --runtime=$mode: $(grep -i -m1 'warn' "$out")"
	fi
	return 0
}

# run_pairs PROG PID NAME: DUMPS pairs at random moments. Sets ok_pairs.
ok_pairs=()
run_pairs() {
	local prog=$1 pid=$2 name=$3 n ms first second
	ok_pairs=()
	print_pair_header
	for ((n = 1; n <= DUMPS; n++)); do
		# a random moment: 0.2 to 1.5 s after the previous pair
		ms=$((200 + RANDOM % 1301))
		sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
		if ((n % 2)); then first=none second=go; else first=go second=none; fi
		R[$prog,$n,order]=$first-$second
		R[$prog,$n,rss_kb]=$(status_kb "$pid" VmRSS 2>/dev/null || true)
		if dump_one "$prog" "$n" "$first" "$pid" && dump_one "$prog" "$n" "$second" "$pid" &&
			{ [ "$GC_ALIGN" = 0 ] || dump_one "$prog" "$n" aligned "$pid"; }; then
			ok_pairs+=("$n")
			print_pair_row "$prog" "$n"
		else
			nfail=$((nfail + 1))
			say "     pair $n FAILED: $fail_reason"
		fi
		if ! is_ours "$pid" "$name" "$tmp" || ! alive "$pid"; then
			fail_reason="$name ($pid) is gone after pair $n"
			return 1
		fi
	done
	return 0
}

# -------------------------------------------------------------------------
# Formatting helpers (awk for floating point; mib, us2ms, ratio and median
# are in common.sh).
# minmax VALUES...: "min A, max B".
minmax() {
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
		awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "min %s, max %s", lo, hi; else print "-" }'
}
# verdict VALUE TARGET: "met" if VALUE <= TARGET.
verdict() {
	awk -v v="$1" -v t="$2" 'BEGIN { if (v == "-") print "no data"; else if (v + 0 <= t + 0) print "met"; else print "NOT met" }'
}
v() { echo "${R[$1]:--}"; }

# Per-pair ratios: go / none, and the same per present page (a heap that
# grows between the two dumps of a pair shifts the plain ratio; dividing
# each dump by its own pages_present takes that out).
pair_ratios() {
	local prog=$1 n=$2 g=$1,$2,go x=$1,$2,none
	R[$prog,$n,r_pages]=$(ratio "${R[$g,pages_written]}" "${R[$x,pages_written]}")
	R[$prog,$n,r_bytes]=$(ratio "${R[$g,bytes_written]}" "${R[$x,bytes_written]}")
	R[$prog,$n,rn_pages]=$(awk -v a="${R[$g,pages_written]}" -v b="${R[$g,pages_present]}" \
		-v c="${R[$x,pages_written]}" -v d="${R[$x,pages_present]}" \
		'BEGIN { if (b > 0 && c > 0 && d > 0) printf "%.3f", (a / b) / (c / d); else print "-" }')
	R[$prog,$n,rn_bytes]=$(awk -v a="${R[$g,bytes_written]}" -v b="${R[$g,pages_present]}" \
		-v c="${R[$x,bytes_written]}" -v d="${R[$x,pages_present]}" \
		'BEGIN { if (b > 0 && c > 0 && d > 0) printf "%.3f", (a / b) / (c / d); else print "-" }')
	R[$prog,$n,z_none]=$(ratio "${R[$x,bytes_written]}" $((${R[$x,pages_written]} * 4096)))
	if [ "$GC_ALIGN" != 0 ]; then
		local a=$1,$2,aligned
		R[$prog,$n,ra_pages]=$(ratio "${R[$a,pages_written]}" "${R[$x,pages_written]}")
		R[$prog,$n,ra_bytes]=$(ratio "${R[$a,bytes_written]}" "${R[$x,bytes_written]}")
	fi
}

fmt_pair='%-4s %-7s %8s %9s %9s %7s %9s %9s %7s %7s %7s %9s %9s %5s %7s %8s %11s %11s %7s %7s %8s\n'
print_pair_header() {
	# shellcheck disable=SC2059 # the format is a constant
	printf "$fmt_pair" pair order rss_MiB pw_none pw_go pw_g/n MiB_none MiB_go B_g/n pw_n B_n dead_go slot0_MiB gc unswept class_ms frozen_ms_n frozen_ms_g pw_a/n B_a/n wait_ms
}
print_pair_row() {
	local prog=$1 n=$2 g=$1,$2,go x=$1,$2,none
	pair_ratios "$prog" "$n"
	# shellcheck disable=SC2059
	printf "$fmt_pair" "$n" "${R[$prog,$n,order]}" \
		"$([ -n "${R[$prog,$n,rss_kb]:-}" ] && mib $((${R[$prog,$n,rss_kb]} * 1024)) || echo -)" \
		"$(v "$x,pages_written")" "$(v "$g,pages_written")" "${R[$prog,$n,r_pages]}" \
		"$(mib "${R[$x,bytes_written]}")" "$(mib "${R[$g,bytes_written]}")" "${R[$prog,$n,r_bytes]}" \
		"${R[$prog,$n,rn_pages]}" "${R[$prog,$n,rn_bytes]}" \
		"$(v "$g,pages_dead")" "$(mib "${R[$g,bytes_slots_zeroed]:-0}")" \
		"$(v "$g,gc_phase")" "$(v "$g,unswept_spans")" "$(us2ms "${R[$g,classify_us]:-0}")" \
		"$(us2ms "${R[$x,frozen_us]}")" "$(us2ms "${R[$g,frozen_us]}")" \
		"${R[$prog,$n,ra_pages]:--}" "${R[$prog,$n,ra_bytes]:--}" \
		"$([ -n "${R[$1,$2,aligned,gc_align_us]:-}" ] && us2ms "${R[$1,$2,aligned,gc_align_us]}" || echo -)"
}

# Every dump's own counters, both modes (the per-class breakdown of where
# a --runtime=go image goes).
fmt_dump='%-4s %-4s %8s %8s %6s %7s %8s %8s %7s %7s %7s %8s %11s %10s %3s %7s %8s %9s %8s\n'
print_dumps() {
	local prog=$1 n m p
	say ""
	say "$prog: the counters of every dump (--display-stats; heap/stack/other only with --runtime=go)"
	# shellcheck disable=SC2059
	printf "$fmt_dump" pair mode present written zero dead heap_live heap_dead stk_live stk_dead rt_other MiB_wr slots_zeroed dead_MiB gc unswept class_us frozen_us wall_ms
	for n in "${ok_pairs[@]}"; do
		for m in none go aligned; do
			[ "$m" = aligned ] && [ "$GC_ALIGN" = 0 ] && continue
			p=$prog,$n,$m
			# shellcheck disable=SC2059
			printf "$fmt_dump" "$n" "$m" "$(v "$p,pages_present")" "$(v "$p,pages_written")" "$(v "$p,pages_zero")" \
				"$(v "$p,pages_dead")" "$(v "$p,pages_heap_live")" "$(v "$p,pages_heap_dead")" \
				"$(v "$p,pages_stack_live")" "$(v "$p,pages_stack_dead")" "$(v "$p,pages_runtime_other")" \
				"$(mib "${R[$p,bytes_written]}")" "$(v "$p,bytes_slots_zeroed")" \
				"$(mib $((${R[$p,pages_dead]:-0} * 4096)))" \
				"$(v "$p,gc_phase")" "$(v "$p,unswept_spans")" "$(v "$p,classify_us")" "$(v "$p,frozen_us")" \
				"$(us2ms "${R[$p,wall_us]}")"
		done
	done
}

# col PROG KEY: R[PROG,N,KEY] over the good pairs (KEY may be "go,FIELD").
col() {
	local n
	for n in "${ok_pairs[@]}"; do echo "${R[$1,$n,$2]:-}"; done
}
# col_count PROG KEY: how many good pairs have a nonzero KEY.
col_count() {
	col "$1" "$2" | awk '$1 != "" && $1 != 0 { c++ } END { print c + 0 }'
}

summary() {
	local prog=$1 label=$2 m
	local -a a b
	say ""
	if [ "${#ok_pairs[@]}" -eq 0 ]; then
		say "== summary, $label: no successful pair =="
		return
	fi
	say "== summary, $label: ${#ok_pairs[@]} of $DUMPS pairs (go/none: medians of the per-pair ratios) =="
	mapfile -t a < <(col "$prog" r_pages)
	m=$(median "${a[@]}")
	printf '  %-46s %s (%s)  target <= %s: %s\n' "pages_written go/none" "$m" "$(minmax "${a[@]}")" \
		"$TARGET_PAGES" "$(verdict "$m" "$TARGET_PAGES")"
	mapfile -t a < <(col "$prog" r_bytes)
	m=$(median "${a[@]}")
	printf '  %-46s %s (%s)  target <= %s: %s\n' "bytes_written go/none (compressed)" "$m" "$(minmax "${a[@]}")" \
		"$TARGET_BYTES" "$(verdict "$m" "$TARGET_BYTES")"
	mapfile -t a < <(col "$prog" rn_pages)
	printf '  %-46s %s (%s)\n' "  same, per present page: pages" "$(median "${a[@]}")" "$(minmax "${a[@]}")"
	mapfile -t a < <(col "$prog" rn_bytes)
	printf '  %-46s %s (%s)\n' "  same, per present page: bytes" "$(median "${a[@]}")" "$(minmax "${a[@]}")"
	mapfile -t a < <(col "$prog" z_none)
	printf '  %-46s %s\n' "compression, none: bytes_written/(pw*4096)" "$(median "${a[@]}")"
	mapfile -t a < <(col "$prog" go,pages_present)
	mapfile -t b < <(col "$prog" go,pages_dead)
	printf '  %-46s %s of %s present (%s MiB)\n' "pages_dead (go)" "$(median "${b[@]}")" "$(median "${a[@]}")" \
		"$(mib "$(awk -v p="$(median "${b[@]}")" 'BEGIN { printf "%d", p * 4096 }')")"
	mapfile -t a < <(col "$prog" go,bytes_slots_zeroed)
	printf '  %-46s %s MiB\n' "bytes_slots_zeroed (go)" "$(mib "$(median "${a[@]}")")"
	local cls="" c
	for c in heap_live heap_dead stack_live stack_dead runtime_other; do
		mapfile -t a < <(col "$prog" "go,pages_$c")
		cls+="${cls:+ }$c=$(median "${a[@]}")"
	done
	printf '  %-46s %s\n' "go dumps per class (median pages)" "$cls"
	printf '  %-46s %s of %s, %s of %s\n' "go dumps in GC marking, with unswept spans" \
		"$(col_count "$prog" go,gc_phase)" "${#ok_pairs[@]}" "$(col_count "$prog" go,unswept_spans)" "${#ok_pairs[@]}"
	if [ "$GC_ALIGN" != 0 ]; then
		mapfile -t a < <(col "$prog" ra_pages)
		m=$(median "${a[@]}")
		printf '  %-46s %s (%s)  target <= %s: %s\n' "--gc-align=$GC_ALIGN: pages_written aligned/none" "$m" \
			"$(minmax "${a[@]}")" "$TARGET_PAGES" "$(verdict "$m" "$TARGET_PAGES")"
		mapfile -t a < <(col "$prog" ra_bytes)
		m=$(median "${a[@]}")
		printf '  %-46s %s (%s)  target <= %s: %s\n' "--gc-align=$GC_ALIGN: bytes_written aligned/none" "$m" \
			"$(minmax "${a[@]}")" "$TARGET_BYTES_STRETCH" "$(verdict "$m" "$TARGET_BYTES_STRETCH")"
		printf '  %-46s %s of %s (median wait %s ms)\n' "--gc-align: a GC cycle ended before the freeze" \
			"$(col_count "$prog" aligned,gc_aligned)" "${#ok_pairs[@]}" \
			"$(us2ms "$(median $(col "$prog" aligned,gc_align_us))")"
		mapfile -t a < <(col "$prog" aligned,frozen_us)
		printf '  %-46s %s ms\n' "frozen_us aligned" "$(us2ms "$(median "${a[@]}")")"
	fi
	mapfile -t a < <(col "$prog" go,classify_us)
	printf '  %-46s %s ms\n' "classify_us (go)" "$(us2ms "$(median "${a[@]}")")"
	mapfile -t a < <(col "$prog" go,frozen_us)
	mapfile -t b < <(col "$prog" none,frozen_us)
	printf '  %-46s %s ms vs %s ms (go/none %s)\n' "frozen_us go vs none" "$(us2ms "$(median "${a[@]}")")" \
		"$(us2ms "$(median "${b[@]}")")" "$(ratio "$(median "${a[@]}")" "$(median "${b[@]}")")"
	mapfile -t a < <(col "$prog" go,wall_us)
	mapfile -t b < <(col "$prog" none,wall_us)
	printf '  %-46s %s ms vs %s ms\n' "cs-dump wall time go vs none" "$(us2ms "$(median "${a[@]}")")" \
		"$(us2ms "$(median "${b[@]}")")"
}

# -------------------------------------------------------------------------
# The programs. Each returns 1 (with fail_reason) if its set-up, a dump or
# its final check failed; it leaves its processes to stop_all.

SUMMARIES=()

bench_kvserver() {
	local rdir=$tmp/kv port addr rc=0 i
	mkdir -p "$rdir"
	say ""
	say "== kvserver: $KEYS keys x $VALUE_SIZE B ($VALUES values), kvload $CONNS conns, $GET_FRAC GET, SETs $SETS, ${LOAD_SECS} s of load before the first pair =="
	port=$(pick_port) || { fail_reason="no free port in 127.0.0.1:17000-17999"; return 1; }
	addr=127.0.0.1:$port
	server_pid=$(start_detached "$rdir/server.pid" "$rdir/server.log" \
		"$KVSERVER" "${kvflags[@]}" -addr "$addr" -preload "$KEYS" -value-size "$VALUE_SIZE" -ready "$rdir/server.ready") ||
		{ fail_reason="kvserver did not start"; return 1; }
	wait_file "$rdir/server.ready" 60 ||
		{ fail_reason="kvserver not ready within 60 s: $(tail -n 2 "$rdir/server.log")"; return 1; }
	[ "$(cat "$rdir/server.ready")" = "$server_pid" ] ||
		{ fail_reason="kvserver's ready file does not name PID $server_pid"; return 1; }
	load_pid=$(start_detached "$rdir/load.pid" "$rdir/load.log" \
		"$KVLOAD" "${kvflags[@]}" "${loadflags[@]}" -addr "$addr" -keys "$KEYS" -value-size "$VALUE_SIZE" -conns "$CONNS" \
		-get-frac "$GET_FRAC" -duration 0 -timeout 5s -interval 1s -report "$rdir/load.report") ||
		{ fail_reason="kvload did not start"; return 1; }
	sleep "$LOAD_SECS"
	is_ours "$load_pid" kvload "$tmp" || { fail_reason="kvload exited: $(tail -n 2 "$rdir/load.log")"; return 1; }
	say "   kvserver PID $server_pid, RSS $(mib $(($(status_kb "$server_pid" VmRSS) * 1024))) MiB; kvload $(grep 'ops/s=' "$rdir/load.log" | tail -n 1 | sed 's/^kvload: //')"

	run_pairs kvserver "$server_pid" kvserver || rc=1
	R[kvserver,ops]=$(grep 'ops/s=' "$rdir/load.log" | tail -n 1 | sed 's/^kvload: //')
	R[kvserver,rss_end]=$(status_kb "$server_pid" VmRSS 2>/dev/null || echo 0)
	print_dumps kvserver

	# Stop the load (it exits 1 on any mismatched GET), then check every key.
	if is_ours "$load_pid" kvload "$tmp"; then
		kill -TERM "$load_pid"
		wait_gone "$load_pid" 10 || true
	fi
	load_pid=""
	R[kvserver,load]=$(cat "$rdir/load.report" 2>/dev/null || echo "kvload: no final report")
	if ! [[ "${R[kvserver,load]}" == *" mismatches=0"* ]]; then
		fail_reason="kvload saw wrong values: ${R[kvserver,load]}"
		rc=1
	fi
	if ! is_ours "$server_pid" kvserver "$tmp"; then
		R[kvserver,check]="FAILED: kvserver is gone: $(tail -n 2 "$rdir/server.log" | tr '\n' ' ')"
		fail_reason="kvserver is gone after the dumps"
		rc=1
	else
		if "$KVCLIENT" "${kvflags[@]}" -addr "$addr" -value-size "$VALUE_SIZE" -timeout 30s -check "$KEYS" >"$rdir/check.out" 2>&1; then
			R[kvserver,check]="passed"
		else
			R[kvserver,check]="FAILED: $(tail -n 2 "$rdir/check.out" | tr '\n' ' ')"
			fail_reason="kvclient -check $KEYS failed after the dumps"
			rc=1
		fi
	fi
	local -a sum
	mapfile -t sum < <(summary kvserver "kvserver $KEYS x $VALUE_SIZE B $VALUES values, write-heavy load, SETs $SETS"
		printf '  %-46s %s -> %s MiB\n' "kvserver RSS, first pair -> end" \
			"$(mib $((${R[kvserver,${ok_pairs[0]:-1},rss_kb]:-0} * 1024)))" "$(mib $((${R[kvserver,rss_end]:-0} * 1024)))"
		printf '  %-46s %s\n' "kvload (last report before the check)" "${R[kvserver,ops]:-}"
		printf '  %-46s %s\n' "kvload final" "${R[kvserver,load]:-}"
		printf '  %-46s %s\n' "kvclient -check $KEYS after the dumps" "${R[kvserver,check]:-not run}")
	SUMMARIES+=("${sum[@]}")
	stop_all
	return "$rc"
}

bench_churn() {
	local rdir=$tmp/ch rc=0 i off
	mkdir -p "$rdir"
	say ""
	say "== churn: ${CHURN_ARGS:-(churn defaults)} =="
	# shellcheck disable=SC2086 # CHURN_ARGS is a list of arguments
	churn_pid=$(start_detached "$rdir/churn.pid" "$rdir/churn.out" \
		"$CHURN" -ready "$rdir/ready" -log "$rdir/churn.log" $CHURN_ARGS) ||
		{ fail_reason="churn did not start"; return 1; }
	wait_file "$rdir/ready" 120 ||
		{ fail_reason="churn not ready within 120 s: $(tail -n 3 "$rdir/churn.out" | tr '\n' ' ')"; return 1; }
	[ "$(cat "$rdir/ready")" = "$churn_pid" ] ||
		{ fail_reason="churn's ready file does not name PID $churn_pid"; return 1; }
	sleep "$LOAD_SECS"
	say "   churn PID $churn_pid, RSS $(mib $(($(status_kb "$churn_pid" VmRSS) * 1024))) MiB; $(grep -m1 'churn: ready' "$rdir/churn.log" | sed 's/^churn: //')"

	run_pairs churn "$churn_pid" churn || rc=1
	R[churn,rss_end]=$(status_kb "$churn_pid" VmRSS 2>/dev/null || echo 0)
	print_dumps churn

	# The full self-check: every map entry, large object and stack frame.
	if is_ours "$churn_pid" churn "$tmp"; then
		off=$(stat -c %s "$rdir/churn.log")
		kill -USR1 "$churn_pid"
		R[churn,check]="no answer in 60 s"
		for ((i = 0; i < 600; i++)); do
			if grep -q 'churn: CORRUPT' "$rdir/churn.log" "$rdir/churn.out"; then
				R[churn,check]="FAILED: $(grep -h -m1 'churn: CORRUPT' "$rdir/churn.log" "$rdir/churn.out")"
				break
			fi
			if tail -c +"$((off + 1))" "$rdir/churn.log" | grep -q 'churn: check ok'; then
				R[churn,check]="passed ($(tail -c +"$((off + 1))" "$rdir/churn.log" | grep -m1 'churn: check ok' | sed 's/^churn: //'))"
				break
			fi
			alive "$churn_pid" || { R[churn,check]="FAILED: churn died: $(tail -n 2 "$rdir/churn.out" | tr '\n' ' ')"; break; }
			sleep 0.1
		done
	else
		R[churn,check]="FAILED: churn is gone: $(tail -n 2 "$rdir/churn.out" | tr '\n' ' ')"
	fi
	if [[ "${R[churn,check]}" != passed* ]]; then
		fail_reason="churn's check after the dumps: ${R[churn,check]}"
		rc=1
	fi
	local -a sum
	mapfile -t sum < <(summary churn "churn ${CHURN_ARGS:-(defaults)}"
		printf '  %-46s %s -> %s MiB\n' "churn RSS, first pair -> end" \
			"$(mib $((${R[churn,${ok_pairs[0]:-1},rss_kb]:-0} * 1024)))" "$(mib $((${R[churn,rss_end]:-0} * 1024)))"
		printf '  %-46s %s\n' "churn check (SIGUSR1) after the dumps" "${R[churn,check]}")
	SUMMARIES+=("${sum[@]}")
	stop_all
	return "$rc"
}

start_all=$(now_us)
failed_progs=()
for p in $PROGRAMS; do
	if ! "bench_$p"; then
		failed_progs+=("$p")
		say "   $p FAILED: $fail_reason"
		stop_all
	fi
done

say ""
say "================ summary (targets of issue 4: pages written <= $TARGET_PAGES, compressed bytes <= $TARGET_BYTES of --runtime=none) ================"
printf '%s\n' "${SUMMARIES[@]}"
say ""
say "total time: $((($(now_us) - start_all) / 1000000)) s"
if [ "${#failed_progs[@]}" -gt 0 ] || [ "$nfail" -gt 0 ]; then
	die "${#failed_progs[@]} program(s) failed (${failed_progs[*]:-none}), $nfail pair(s) failed"
fi
