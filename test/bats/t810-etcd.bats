#!/usr/bin/env bats
# t810-etcd.bats - etcd from Debian (etcd-server 3.4, a stripped Go 1.19
# program linked with glibc): 20000 keys put through etcdctl, dumped while
# a client writes over etcd's HTTP gateway (which hands every request to
# etcd's own gRPC server over a loopback connection to itself), restored,
# and checked: every key, `etcdctl endpoint hashkv` at the revisions
# recorded before the dump, every acknowledged write, then new writes.
#
# etcd holds OFD write locks on its two WAL files and an flock on its
# bbolt database, which it maps MAP_SHARED, and keeps its WAL directory
# open: the dump needs --file-locks, --tcp-established for the loopback
# connection and the clients' (--tcp-close drops a client connection that
# is closing) and --runtime=auto (stripped: every page is saved, with one
# warning).
#
# Each test starts its own etcd on free ports with its data in $T,
# detached (setsid, fds above 2 closed) with $T in its argv[0], so that
# teardown recognises it; the package's own service is never touched. The
# load client is this test's child, stopped by PID. Skipped when the
# packages are missing (contrib/install-deps.sh installs them).

load helpers

LOAD_PIDS=''
NKEYS=20000

teardown() {
	local p
	for p in $LOAD_PIDS; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	cs_teardown
}

require_etcd() {
	local b
	require_cs
	for b in etcd etcdctl; do
		command -v "$b" >/dev/null ||
			skip "$b is not installed (Debian packages etcd-server and etcd-client; contrib/install-deps.sh)"
	done
	[ -x "$GO_BIN/etcdload" ] || skip "etcdload is not built in $GO_BIN (run test/go/build.sh $GO_BIN)"
}

# ectl ARGS: etcdctl on this test's etcd, stdin from /dev/null
ectl() {
	ectl_in "$@" </dev/null
}

ectl_in() {
	ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$CPORT" --dial-timeout 5s --command-timeout 10s "$@"
}

eload() {
	"$GO_BIN/etcdload" -addr "127.0.0.1:$CPORT" "$@" </dev/null
}

# start_etcd: a single-member cluster on two free ports, data in $T/etcd;
# sets CPORT, PID, PROG_EXE.
start_etcd() {
	local i qport
	CPORT=$(free_port) || return 1
	qport=$(free_port) || return 1
	[ "$qport" != "$CPORT" ] || qport=$(free_port) || return 1
	(close_fds; setsid bash -c 'echo $$ >"$0.pid"; exec -a "$0" etcd "$@"' "$T/etcd" \
		--name default --data-dir "$T/etcd" \
		--listen-client-urls "http://127.0.0.1:$CPORT" --advertise-client-urls "http://127.0.0.1:$CPORT" \
		--listen-peer-urls "http://127.0.0.1:$qport" --initial-advertise-peer-urls "http://127.0.0.1:$qport" \
		--initial-cluster "default=http://127.0.0.1:$qport" --max-txn-ops 1000 \
		</dev/null >>"$T/prog-etcd.out" 2>&1 &)
	for ((i = 0; i < 2 * READY_TIMEOUT; i++)); do
		[ -s "$T/etcd.pid" ] && ectl endpoint health >/dev/null 2>&1 && break
		sleep 0.1
	done
	ectl endpoint health >/dev/null 2>&1 ||
		{ echo "etcd did not answer in 20 s: $(tail -n 20 "$T/prog-etcd.out")" >&2; return 1; }
	PID=$(cat "$T/etcd.pid")
	record_pid "$PID"
	is_ours "$PID" || { echo "etcd PID $PID does not look like ours" >&2; return 1; }
	PROG_EXE=$(readlink "/proc/$PID/exe")
}

# etcd_load: key-00000..key-19999 in 20 transactions of 1000 puts
# (etcdctl txn reads the compares, the success ops and the failure ops,
# separated by empty lines); $T/etcd.want is what `etcdctl get --prefix
# key-` must print (key, value, key, value...).
etcd_load() {
	local b
	awk -v n=$NKEYS -v want="$T/etcd.want" -v dir="$T" 'BEGIN {
		fill = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
		fill = fill fill fill
		for (i = 0; i < n; i++) {
			f = sprintf("%s/etcd-load-%02d.txn", dir, int(i / 1000))
			if (i % 1000 == 0)
				print "" > f
			v = "v-" i "-" ((i * 7919 + 13) % 1000003) "-" substr(fill, 1 + i % 50, i % 120)
			printf "put key-%05d %s\n", i, v > f
			if (i % 1000 == 999) {
				printf "\n\n" > f
				close(f)
			}
			printf "key-%05d\n%s\n", i, v > want
		}
	}'
	for b in "$T"/etcd-load-*.txn; do
		ectl_in txn <"$b" >"$T/txn.out" 2>&1 || { echo "etcdctl txn <$b: $(cat "$T/txn.out")" >&2; return 1; }
		[ "$(head -n 1 "$T/txn.out")" = SUCCESS ] || { echo "etcdctl txn <$b: $(head -n 3 "$T/txn.out")" >&2; return 1; }
	done
	etcd_check
}

# etcd_check: every loaded key, value by value
etcd_check() {
	ectl get --prefix key- >"$T/etcd.got" 2>&1 || true
	if ! cmp -s "$T/etcd.want" "$T/etcd.got"; then
		echo "etcd data differs from what was loaded ($NKEYS keys):" >&2
		diff "$T/etcd.want" "$T/etcd.got" | head -n 20 >&2
		return 1
	fi
}

# revision: the store's current revision
revision() {
	ectl endpoint status -w json | jq -e '.[0].Status.header.revision'
}

# hashkv [REV]: the hash of the key-value history up to REV (0: all)
hashkv() {
	ectl endpoint hashkv --rev "${1:-0}" -w json | jq -e '.[0].HashKV.hash'
}

# detected CMD...: CMD must fail (a check that must catch a change)
detected() {
	if "$@" 2>>"$T/detected.out" >>"$T/detected.out"; then
		echo "$* passed, but the data was changed on purpose" >&2
		return 1
	fi
}

# load_start SECS: etcdload in the background, 4 connections, for SECS;
# its output ("acked C K" lines) in $T/load.out; returns once 300 more
# revisions are there.
load_start() {
	local r0 i
	r0=$(revision)
	(close_fds; exec "$GO_BIN/etcdload" -addr "127.0.0.1:$CPORT" -load "$1s" -conns 4) \
		</dev/null >"$T/load.out" 2>"$T/load.err" &
	LOAD_PID=$!
	LOAD_PIDS="$LOAD_PIDS $LOAD_PID"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		(($(revision) > r0 + 300)) && return 0
		sleep 0.1
	done
	echo "the load did not get going: $(cat "$T/load.err")" >&2
	return 1
}

# load_done: wait for the load to end; it must have had no error
load_done() {
	local st=0
	wait "$LOAD_PID" || st=$?
	LOAD_PIDS=''
	cat "$T/load.out" "$T/load.err" >>"$T/prog-etcdload.out"
	[ $st = 0 ] || { echo "etcdload -load: status $st: $(tail -n 3 "$T/load.err")" >&2; return 1; }
}

load_check() {
	local out st=0
	out=$(eload -check-acked "$T/load.out" 2>&1) || st=$?
	printf '$ etcdload -check-acked  (status %d)\n%s\n' "$st" "$out" >>"$T/prog-etcdload.out"
	[ $st = 0 ] || { echo "etcdload -check-acked: status $st: $(tail -n 12 <<<"$out")" >&2; return 1; }
}

# db_settled: etcd commits its bbolt database in the background (every
# 100 ms by default): wait until the file has not changed for 0.5 s, so
# that a -R dump is not followed by a commit of writes made before it
# (which would change the file the image relies on, and the restore would
# rightly refuse it).
db_settled() {
	local i m0 m1
	m0=$(stat -c %y "$T/etcd/member/snap/db")
	for ((i = 0; i < 20; i++)); do
		sleep 0.5
		m1=$(stat -c %y "$T/etcd/member/snap/db")
		[ "$m1" != "$m0" ] || return 0
		m0=$m1
	done
	echo "etcd's database is still changing after 10 s" >&2
	return 1
}

# The restored etcd is $PID, healthy, and takes new writes through etcdctl
# and the gateway.
etcd_serves() {
	local r
	is_ours "$PID"
	ectl endpoint health >"$T/health.out" 2>&1 || { echo "unhealthy: $(cat "$T/health.out")" >&2; return 1; }
	r=$(revision)
	[ "$(ectl put new-key new-value)" = OK ]
	[ "$(ectl get --print-value-only new-key)" = new-value ]
	(($(revision) == r + 1))
	[ "$(ectl put key-00777 changed-after-restore)" = OK ]
	[ "$(ectl get --print-value-only key-00777)" = changed-after-restore ]
	[ "$(ectl del new-key)" = 1 ]
	eload -prefix after -load 1s -conns 2 >"$T/after.out" 2>&1
	eload -prefix after -check-acked "$T/after.out" >>"$T/after.out" 2>&1
	grep -q 'puts=[1-9][0-9]* errors=0' "$T/after.out" ||
		{ echo "new writes after restore: $(cat "$T/after.out")" >&2; return 1; }
}

dump_opts=(--file-locks --tcp-established --tcp-close)
restore_opts=(--file-locks --tcp-established)

@test "etcd: the checks catch a changed value, a changed history and a missing acknowledged write (negative control)" {
	require_etcd
	local h0
	start_etcd
	etcd_load
	h0=$(hashkv)
	ectl put key-00777 changed >/dev/null
	detected etcd_check
	[ "$(hashkv)" != "$h0" ]
	ectl put key-00777 "$(sed -n 1556p "$T/etcd.want")" >/dev/null
	etcd_check
	# the same value again is still a new revision: the history differs
	[ "$(hashkv)" != "$h0" ]
	ectl del key-19999 >/dev/null
	detected etcd_check
	load_start 1
	load_done
	load_check
	awk '/^acked 2 / { $3 += 2 } { print }' "$T/load.out" >"$T/load-more.out"
	local st=0
	eload -check-acked "$T/load-more.out" >"$T/neg.out" 2>&1 || st=$?
	[ $st = 1 ]
	grep -q 'load-2-[0-9]*: missing (acknowledged)' "$T/neg.out"
}

@test "etcd: dumped under a write load and killed, restored: every key, hashkv, acknowledged writes, new writes" {
	require_etcd
	local r0 h0 r1 h1 t0 t1
	start_etcd
	etcd_load
	r0=$(revision)
	h0=$(hashkv "$r0")
	load_start 8
	# the history up to a revision taken under the load cannot change
	r1=$(revision)
	h1=$(hashkv "$r1")
	kv_dump "$T/img" "${dump_opts[@]}" --display-stats
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump failed with status $DUMP_ST" >&2; return 1; }
	wait_pid_gone "$PID" 100
	# what etcd holds, and its loopback gRPC connection with both ends in it
	grep -q 'FLOCK WRITE lock' "$T/dump.log"
	(($(grep -c 'OFDLCK WRITE lock' "$T/dump.log") == 2))
	grep -q "tcp: fd .* (TCP connection 127.0.0.1:[0-9]* -> 127.0.0.1:$CPORT) kept" "$T/dump.log"
	grep -q "tcp: fd .* (TCP connection 127.0.0.1:$CPORT -> 127.0.0.1:[0-9]*) kept" "$T/dump.log"
	grep -q 'every page of .* was saved: no symbol table' "$T/dump.out"
	t0=$(date +%s%N)
	kv_restore_d "$T/img" "${restore_opts[@]}"
	ectl get key-00000 >/dev/null
	t1=$(date +%s%N)
	echo "# etcd: $(grep -o 'frozen_us=[0-9]*' "$T/dump.out"), first answer $(((t1 - t0) / 1000000)) ms after cs-restore started" >&3
	etcd_check
	[ "$(hashkv "$r0")" = "$h0" ]
	[ "$(hashkv "$r1")" = "$h1" ]
	# the load's connections were kept: it went on without an error and
	# none broke (notreused=N, connections net/http itself let go on a
	# loaded machine, are not counted: etcdload's why())
	load_done
	grep -q 'errors=0 redials=0' "$T/load.out"
	load_check
	etcd_serves
}

@test "etcd: cs-dump -R leaves it serving; the copy restored after it is killed has the same keys and hashkv" {
	require_etcd
	local r0 h0
	start_etcd
	etcd_load
	load_start 1
	load_done
	db_settled
	r0=$(revision)
	h0=$(hashkv)
	kv_dump "$T/img" -R "${dump_opts[@]}"
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump -R failed with status $DUMP_ST" >&2; return 1; }
	# the original goes on serving reads
	ectl endpoint health >/dev/null
	etcd_check
	load_check
	[ "$(hashkv)" = "$h0" ]
	[ "$(revision)" = "$r0" ]
	# and dies (a write would change the WAL and the database the image
	# relies on: see the next test)
	kill -KILL "$PID"
	wait_pid_gone "$PID" 100
	# etcd may log a line to its stdout file (fd 1, O_APPEND) after the dump,
	# which the default validation would refuse; its data files are checked
	# through the revision and hashkv below
	kv_restore_d "$T/img" "${restore_opts[@]}" --file-validation=none
	etcd_check
	load_check
	[ "$(revision)" = "$r0" ]
	[ "$(hashkv)" = "$h0" ]
	etcd_serves
}

@test "etcd: after cs-dump -R, a write by the original changes its files: the restore refuses, naming them" {
	require_etcd
	start_etcd
	etcd_load
	db_settled
	kv_dump "$T/img" -R "${dump_opts[@]}"
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump -R failed with status $DUMP_ST" >&2; return 1; }
	[ "$(ectl put written-after-dump x)" = OK ]
	# the database is written in the background, every 100 ms
	sleep 0.3
	kill -KILL "$PID"
	wait_pid_gone "$PID" 100
	run "$CS_RESTORE" -D "$T/img" -d "${restore_opts[@]}"
	[ "$status" = 1 ]
	[[ $output = *"file $T/etcd/member/"*" changed since the dump ("*"): use --file-validation="* ]] ||
		{ echo "cs-restore said: $output" >&2; return 1; }
	[ ! -e "/proc/$PID" ]
}
