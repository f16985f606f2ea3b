#!/bin/bash
# checksync demo: checkpoint a loaded Go key/value server and restore it.
#
#   contrib/demo.sh [BUILDDIR]        # BUILDDIR default: $CS_BUILD_DIR or <repo>/build
#
# Run as root after contrib/build.sh. It starts kvserver with 100000 keys of
# 512 bytes on a free loopback port, puts it under load with kvload (4
# connections), dumps it with `cs-dump --tcp-close` while the load runs
# (the server is killed), restores it with `cs-restore -d` (same PID and
# TIDs), then shows every key verified, the load generator reconnected and
# the server taking new writes and still collecting garbage.
#
# Exit status: 0 if every step succeeded, 1 otherwise. Everything it starts
# is stopped and its temporary directory removed on exit.
set -euo pipefail

KEYS=100000
VALUE_SIZE=512
CONNS=4
NEW_KEYS=1000

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$here/lib/common.sh"
builddir=${1:-${CS_BUILD_DIR:-$root/build}}

nstep=0
step() {
	nstep=$((nstep + 1))
	printf '\n=== %d. %s ===\n' "$nstep" "$*"
}
say() { printf '    %s\n' "$*"; }
die() {
	printf '\ndemo: FAILED: %s\n' "$*" >&2
	exit 1
}
ms_since() { echo $(( ($(now_us) - $1) / 1000 )); }

use_build "$builddir" cs-dump/cs-dump cs-restore/cs-restore images/cs-show
CS_SHOW=$builddir/images/cs-show
need_root "cs-dump and cs-restore need ptrace and CAP_SYS_ADMIN"
need_tools ss jq du setsid

tmp=$(mktemp -d /tmp/checksync-demo.XXXXXX)
ckpt=$tmp/ckpt
server_pid=""
load_pid=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop "$load_pid" kvload
	stop "$server_pid" kvserver
	rm -rf "$tmp"
	if [ "$rc" -eq 0 ]; then
		printf '\ndemo: OK\n'
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# indent CMD...: run CMD with its output indented; CMD's exit status.
indent() {
	"$@" 2>&1 | sed 's/^/    /'
	return "${PIPESTATUS[0]}"
}

# -------------------------------------------------------------------------
step "Build the Go test programs (kvserver, kvclient, kvload)"
gobin=$builddir/test/go-bin
"$root/test/go/build.sh" "$gobin" || die "building the Go test programs failed"
KVSERVER=$gobin/kvserver
KVCLIENT=$gobin/kvclient
KVLOAD=$gobin/kvload

# -------------------------------------------------------------------------
step "Start kvserver with $KEYS keys x $VALUE_SIZE B"
port=$(pick_port) || die "no free port found in 127.0.0.1:17000-17999"
addr=127.0.0.1:$port
cd "$tmp"
start_detached "$tmp/server.pid" "$tmp/server.log" \
	"$KVSERVER" -addr "$addr" -preload "$KEYS" -value-size "$VALUE_SIZE" -ready "$tmp/server.ready" >/dev/null ||
	die "kvserver did not start"
server_pid=$(cat "$tmp/server.pid")
t0=$(now_us)
while [ ! -s "$tmp/server.ready" ]; do
	if ! [ -e "/proc/$server_pid" ]; then
		cat "$tmp/server.log" >&2
		die "kvserver exited during start-up"
	fi
	[ "$(ms_since "$t0")" -lt 60000 ] || die "kvserver not ready after 60 s"
	sleep 0.1
done
[ "$(cat "$tmp/server.ready")" = "$server_pid" ] || die "kvserver's ready file names PID $(cat "$tmp/server.ready"), expected $server_pid"
say "kvserver PID $server_pid listening on $addr (preloaded in $(ms_since "$t0") ms, parent PID $(status_kb "$server_pid" PPid))"

# -------------------------------------------------------------------------
step "Put it under load: kvload with $CONNS connections"
load_pid=$(start_detached "$tmp/load.pid" "$tmp/load.log" \
	"$KVLOAD" -addr "$addr" -keys "$KEYS" -value-size "$VALUE_SIZE" -conns "$CONNS" \
	-duration 0 -timeout 2s -interval 1s) || die "kvload did not start"
say "kvload PID $load_pid; waiting 2 s"
sleep 2
is_ours "$load_pid" kvload || { cat "$tmp/load.log" >&2; die "kvload exited"; }
sed 's/^/    /' "$tmp/load.log"
stats_before=$("$KVCLIENT" -addr "$addr" -timeout 5s -stats) || die "STATS before dump failed"
say "$stats_before"

# -------------------------------------------------------------------------
step "Checkpoint: cs-dump -t $server_pid -D $ckpt --tcp-close --display-stats"
rss_kb=$(status_kb "$server_pid" VmRSS)
tids_before=$(find "/proc/$server_pid/task" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tr '\n' ' ')
say "server RSS before dump: $((rss_kb / 1024)) MiB (VmRSS $rss_kb kB), threads: $tids_before"
t0=$(now_us)
if ! "$CS_DUMP" -t "$server_pid" -D "$ckpt" --tcp-close --display-stats 2>"$tmp/dump.err"; then
	sed 's/^/    /' "$tmp/dump.err" >&2
	die "cs-dump failed"
fi
dump_ms=$(ms_since "$t0")
sed 's/^/    /' "$tmp/dump.err"
statline=$(grep -m1 'freeze_us=' "$tmp/dump.err" || true)
[ -n "$statline" ] || die "cs-dump printed no stats line"
[ ! -e "/proc/$server_pid" ] || die "PID $server_pid still exists after cs-dump returned"
image_size=$(du -sh "$ckpt" | cut -f1)
image_bytes=$(du -sb "$ckpt" | cut -f1)
dump_us=$(field dump_us "$statline")
say "cs-dump wall time: $dump_ms ms, of which the dump itself (dump_us) $((dump_us / 1000)) ms;"
say "the rest is waiting for the killed PID $server_pid to be reaped by init: it is gone now"
say "image directory: $image_size ($image_bytes bytes) vs RSS $((rss_kb / 1024)) MiB"
"$CS_SHOW" "$ckpt" >"$tmp/show.json" || die "cs-show $ckpt failed"
say "cs-show stats: $(jq -c .stats "$tmp/show.json")"
frozen_us=$(jq -r '.stats.frozen_us // empty' "$tmp/show.json")
tids_image=$(jq -r '.images["pstree.img"][0].threads[]?' "$tmp/show.json" 2>/dev/null | sort -n | tr '\n' ' ' || true)

say "the server is down now; kvload keeps retrying:"
sleep 1
tail -n 1 "$tmp/load.log" | sed 's/^/    /'

# -------------------------------------------------------------------------
step "Restore: cs-restore -D $ckpt -d"
load_lines=$(wc -l <"$tmp/load.log")
t0=$(now_us)
if ! "$CS_RESTORE" -D "$ckpt" -d 2>"$tmp/restore.err"; then
	sed 's/^/    /' "$tmp/restore.err" >&2
	die "cs-restore failed"
fi
restore_ms=$(ms_since "$t0")
sed 's/^/    /' "$tmp/restore.err"
while ! ping_once "$port" 2; do
	[ "$(ms_since "$t0")" -lt 10000 ] || die "restored server did not answer PING within 10 s"
	sleep 0.005
done
first_answer_ms=$(ms_since "$t0")
say "cs-restore returned after $restore_ms ms; first PONG after $first_answer_ms ms"
is_ours "$server_pid" kvserver || die "no kvserver with PID $server_pid after restore"
stats_after=$("$KVCLIENT" -addr "$addr" -timeout 5s -stats) || die "STATS after restore failed"
say "$stats_after"
[ "$(field pid "$stats_after")" = "$server_pid" ] ||
	die "server answers with pid=$(field pid "$stats_after"), expected $server_pid"
say "same PID: $server_pid (parent PID now $(status_kb "$server_pid" PPid))"
if [ -n "$tids_image" ]; then
	for tid in $tids_image; do
		[ -e "/proc/$server_pid/task/$tid" ] || die "thread $tid of the image is missing after restore"
	done
	say "same thread IDs: $tids_image"
fi

# -------------------------------------------------------------------------
step "Verify every key: kvclient -check $KEYS"
indent "$KVCLIENT" -addr "$addr" -value-size "$VALUE_SIZE" -check "$KEYS" || die "key check failed"

# -------------------------------------------------------------------------
step "The load generator reconnected"
# Connections open at dump time were dropped silently (--tcp-close): each
# kvload connection notices at its 2 s request timeout and re-dials.
t0=$(now_us)
ok=""
while [ "$(ms_since "$t0")" -lt 15000 ]; do
	last=$(tail -n +"$((load_lines + 1))" "$tmp/load.log" | grep 'ops/s=' | tail -n 1 || true)
	rate=$(field 'ops/s' "$last")
	rec=$(field reconnects "$last")
	if [ -n "$rate" ] && [ "${rate%.*}" -gt 0 ] && [ "${rec:-0}" -ge 1 ]; then
		ok=1
		sleep 1.1 # one more full interval, to show the rate after restore
		break
	fi
	sleep 0.5
done
grep 'ops/s=' "$tmp/load.log" | tail -n 8 | sed 's/^/    /'
[ -n "$ok" ] || die "kvload did not resume after restore"
say "kvload's connections were dropped at the dump, timed out, re-dialed and are served again"

# -------------------------------------------------------------------------
step "New writes: $NEW_KEYS keys demo-*, then read back on a new connection"
indent "$KVCLIENT" -addr "$addr" -value-size "$VALUE_SIZE" -set-prefix demo -set-count "$NEW_KEYS" ||
	die "writing new keys failed"
indent "$KVCLIENT" -addr "$addr" -value-size "$VALUE_SIZE" -expect-prefix demo -expect-count "$NEW_KEYS" ||
	die "reading back the new keys failed"

# -------------------------------------------------------------------------
step "The garbage collector still works: STATS, GC, STATS"
s1=$("$KVCLIENT" -addr "$addr" -timeout 5s -stats) || die "STATS failed"
say "before: $s1"
gc=$("$KVCLIENT" -addr "$addr" -timeout 30s -gc) || die "GC failed"
say "GC:     $gc"
s2=$("$KVCLIENT" -addr "$addr" -timeout 5s -stats) || die "STATS failed"
say "after:  $s2"
gc1=$(field num_gc "$s1")
gc2=$(field num_gc "$s2")
if ! { [ -n "$gc1" ] && [ -n "$gc2" ] && [ "$gc2" -gt "$gc1" ]; }; then
	die "num_gc did not grow ($gc1 -> $gc2)"
fi
say "num_gc: $gc1 -> $gc2"

# -------------------------------------------------------------------------
step "Stop the load generator"
kill -TERM "$load_pid"
wait_gone "$load_pid" 10 || die "kvload did not stop"
load_pid=""
summary=$(grep 'kvload: total' "$tmp/load.log" || true)
say "${summary:-kvload printed no summary}"
[ -n "$summary" ] || die "kvload printed no summary"
[ "$(field mismatches "$summary")" = 0 ] || die "kvload saw wrong values"

# -------------------------------------------------------------------------
step "Summary"
say "server RSS before dump      $((rss_kb / 1024)) MiB"
say "image size                  $image_size ($image_bytes bytes)"
say "cs-dump wall time           $dump_ms ms (dump_us $((dump_us / 1000)) ms + waiting for init to reap the PID)"
say "frozen (target's loss)      ${frozen_us:-?} us"
say "cs-restore -d returned in   $restore_ms ms"
say "first answer after          $first_answer_ms ms (from the start of cs-restore)"
say "keys verified               $KEYS of $KEYS, $NEW_KEYS new keys written and read back"
say "load generator              ${summary#kvload: total }"
