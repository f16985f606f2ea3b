#!/usr/bin/env bats
# t800-real.bats - real programs from Debian: redis-server and memcached,
# loaded with data over their own protocols, dumped while clients hammer
# them (their connections dropped with --tcp-close), restored, and checked
# item by item; then they must serve new clients and take new writes.
#
# Each test starts its own instance, as root, on a free port with its data
# in $T, detached (setsid, fds above 2 closed) with $T in its argv[0] so
# that teardown recognises it; the packages' own services are never
# touched. The load clients are this test's children, stopped by PID.
# Skipped when the package is not installed (contrib/install-deps.sh
# installs them).

load helpers

BENCH_PIDS=''

teardown() {
	local p
	for p in $BENCH_PIDS; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	cs_teardown
}

# ---------------------------------------------------------------------------
# redis

require_redis() {
	local b
	require_cs
	for b in redis-server redis-cli redis-benchmark; do
		command -v "$b" >/dev/null ||
			skip "$b is not installed (Debian packages redis-server and redis-tools; contrib/install-deps.sh)"
	done
}

rcli() {
	redis-cli -p "$RPORT" "$@" </dev/null
}

# start_redis: redis-server on a free port and at $T/redis/redis.sock, no
# persistence, detached; sets RPORT, PID, PROG_EXE.
start_redis() {
	local i
	RPORT=$(free_port) || return 1
	mkdir -p "$T/redis"
	(close_fds; setsid bash -c 'exec -a "$0" redis-server "$@"' "$T/redis-server" \
		--port "$RPORT" --bind 127.0.0.1 --dir "$T/redis" --save "" --appendonly no --daemonize no \
		--pidfile "$T/redis/redis.pid" --unixsocket "$T/redis/redis.sock" --unixsocketperm 700 \
		--proc-title-template "{title} {listen-addr} {unixsocket}" \
		</dev/null >>"$T/prog-redis.out" 2>&1 &)
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/redis/redis.pid" ] && [ "$(rcli ping 2>/dev/null)" = PONG ] && break
		sleep 0.1
	done
	[ "$(rcli ping 2>/dev/null)" = PONG ] || { echo "redis did not answer in 10 s: $(cat "$T/prog-redis.out")" >&2; return 1; }
	PID=$(cat "$T/redis/redis.pid")
	record_pid "$PID"
	is_ours "$PID" || { echo "redis PID $PID does not look like ours" >&2; return 1; }
	PROG_EXE=$(readlink "/proc/$PID/exe")
}

# The data set, deterministic: $T/redis-load.cmds (inline commands for
# redis-cli --pipe), $T/redis-check.cmds and the answers they must get,
# $T/redis-check.want (redis-cli --raw, one value a line).
#   20000 strings k:N of 10 to 210 bytes, 50 hashes of 20 fields, 50 lists of
#   20 elements, 20 sets of 30 members, 20 sorted sets of 30 members, a
#   counter, a key with a TTL, and the 1000 keys redis-benchmark -r 1000
#   uses (so that the load does not change how many keys there are).
REDIS_KEYS=21142

redis_data() {
	awk -v load="$T/redis-load.cmds" -v cmds="$T/redis-check.cmds" -v want="$T/redis-check.want" 'BEGIN {
		fill = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
		fill = fill fill fill fill
		for (i = 0; i < 20000; i++) {
			v = "v-" i "-" ((i * 7919 + 13) % 1000003) "-" substr(fill, 1 + i % 50, i % 200)
			printf "SET k:%d %s\r\n", i, v > load
			if (i % 1000 == 0)
				printf "MGET" > cmds
			printf " k:%d", i > cmds
			if (i % 1000 == 999)
				printf "\n" > cmds
			print v > want
		}
		for (j = 0; j < 50; j++) {
			h = "HSET h:" j; l = "RPUSH l:" j
			for (f = 0; f < 20; f++) {
				h = h " f" f " hv-" j "-" f
				l = l " e-" j "-" f
			}
			printf "%s\r\n%s\r\n", h, l > load
			printf "HGETALL h:%d\nLRANGE l:%d 0 -1\n", j, j > cmds
			for (f = 0; f < 20; f++)
				printf "f%d\nhv-%d-%d\n", f, j, f > want
			for (f = 0; f < 20; f++)
				printf "e-%d-%d\n", j, f > want
		}
		for (j = 0; j < 20; j++) {
			s = "SADD s:" j; z = "ZADD z:" j
			for (m = 0; m < 30; m++) {
				s = s sprintf(" m-%d-%02d", j, m)
				z = z " " m * 1.5 " zm-" j "-" m
			}
			printf "%s\r\n%s\r\n", s, z > load
			printf "SORT s:%d ALPHA\nZRANGE z:%d 0 -1 WITHSCORES\n", j, j > cmds
			for (m = 0; m < 30; m++)
				printf "m-%d-%02d\n", j, m > want
			for (m = 0; m < 30; m++)
				print "zm-" j "-" m "\n" m * 1.5 > want
		}
		printf "SET cnt 0\r\nINCRBY cnt 12345\r\nSET ttl-key x EX 100000\r\n" > load
		printf "GET cnt\n" > cmds
		print "12345" > want
		for (i = 0; i < 1000; i++)
			printf "SET key:%012d bench\r\n", i > load
	}'
}

redis_load() {
	local out
	redis_data
	out=$(redis-cli -p "$RPORT" --pipe <"$T/redis-load.cmds" 2>&1) || { echo "redis-cli --pipe: $out" >&2; return 1; }
	grep -q 'errors: 0,' <<<"$out" || { echo "redis-cli --pipe: $out" >&2; return 1; }
	[ "$(rcli dbsize)" = $REDIS_KEYS ] || { echo "dbsize $(rcli dbsize), want $REDIS_KEYS" >&2; return 1; }
}

# redis_check [-s SOCKET]: every loaded key, value by value, and the TTL.
redis_check() {
	local ttl
	redis-cli -p "$RPORT" "$@" --raw <"$T/redis-check.cmds" >"$T/redis-check.got" 2>&1 || true
	if ! cmp -s "$T/redis-check.want" "$T/redis-check.got"; then
		echo "redis data differs from what was loaded ($(wc -l <"$T/redis-check.want") values):" >&2
		diff "$T/redis-check.want" "$T/redis-check.got" | head -n 20 >&2
		return 1
	fi
	ttl=$(rcli ttl ttl-key)
	[[ $ttl =~ ^[0-9]+$ ]] && ((ttl > 0 && ttl <= 100000)) || { echo "ttl-key: TTL $ttl" >&2; return 1; }
}

# detected CMD...: CMD must fail (a check that must catch a change)
detected() {
	if "$@" 2>>"$T/detected.out"; then
		echo "$* passed, but the data was changed on purpose" >&2
		return 1
	fi
}

# "keys=N,expires=M" of db0 in INFO keyspace
redis_keyspace() {
	rcli info keyspace | tr -d '\r' | awk -F'[:,]' '/^db0:/ { print $2 "," $3 }'
}

redis_stat() {
	rcli info stats | tr -d '\r' | awk -F: -v k="$1" '$1 == k { print $2 }'
}

# Load from redis-benchmark over TCP (4 clients, SET and GET on the 1000
# key:* keys) and over the unix socket (2 clients, GET), until stopped;
# returns once the server has processed 2000 more commands.
redis_bench() {
	local c0 i
	c0=$(redis_stat total_commands_processed)
	(close_fds; exec timeout 60 redis-benchmark -p "$RPORT" -c 4 -n 100000000 -r 1000 -t set,get -q) \
		</dev/null >"$T/bench-tcp.out" 2>&1 &
	BENCH_PIDS="$BENCH_PIDS $!"
	(close_fds; exec timeout 60 redis-benchmark -s "$T/redis/redis.sock" -c 2 -n 100000000 -r 1000 -t get -q) \
		</dev/null >"$T/bench-unix.out" 2>&1 &
	BENCH_PIDS="$BENCH_PIDS $!"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		(($(redis_stat total_commands_processed) > c0 + 2000)) && return 0
		sleep 0.1
	done
	echo "redis-benchmark did not get going: $(tail -c 300 "$T/bench-tcp.out")" >&2
	return 1
}

stop_bench() {
	local p
	for p in $BENCH_PIDS; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	BENCH_PIDS=''
}

# The restored server answers new clients over TCP and the unix socket, is
# $PID, and takes writes.
redis_serves() {
	local ans
	[ "$(rcli ping)" = PONG ]
	[ "$(redis-cli -s "$T/redis/redis.sock" ping </dev/null)" = PONG ]
	ans=$(rcli info server | tr -d '\r' | awk -F: '$1 == "process_id" { print $2 }')
	[ "$ans" = "$PID" ] || { echo "the server on port $RPORT is PID $ans, want $PID" >&2; return 1; }
	[ "$(rcli set new-key new-value)" = OK ]
	[ "$(rcli get new-key)" = new-value ]
	[ "$(rcli incr cnt)" = 12346 ]
	[ "$(rcli hset h:0 f-new x)" = 1 ]
	[ "$(rcli del new-key)" = 1 ]
	redis-benchmark -p "$RPORT" -c 2 -n 2000 -r 1000 -t set,get,lpush,lpop -q </dev/null >"$T/bench-after.out" 2>&1
}

@test "redis: the checks catch a changed value, a changed list, a missing key (negative control)" {
	require_redis
	start_redis
	redis_load
	redis_check
	rcli set k:777 changed >/dev/null
	detected redis_check
	rcli set k:777 "$(sed -n 778p "$T/redis-check.want")" >/dev/null
	redis_check
	rcli lset l:7 3 changed >/dev/null
	detected redis_check
	rcli lset l:7 3 e-7-3 >/dev/null
	redis_check
	rcli del z:19 >/dev/null
	detected redis_check
}

@test "redis: dumped under load with --tcp-close, restored: every key, the keyspace, new clients and writes" {
	require_redis
	local before
	start_redis
	redis_load
	redis_check
	before=$(redis_keyspace)
	[ "$before" = "keys=$REDIS_KEYS,expires=1" ]
	redis_bench
	kv_dump "$T/img" --tcp-close
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump failed with status $DUMP_ST" >&2; return 1; }
	wait_pid_gone "$PID"
	# the load's connections were there, over TCP and over the unix socket
	grep -q 'TCP connection to .* dropped (--tcp-close)' "$T/dump.log"
	grep -q 'unix stream connection from a client outside the process' "$T/dump.log"
	stop_bench
	kv_restore_d
	[ "$(rcli ping)" = PONG ]
	redis_check
	redis_check -s "$T/redis/redis.sock"
	[ "$(redis_keyspace)" = "$before" ]
	redis_serves
}

@test "redis: cs-dump -R under load leaves it serving; the copy restored after it exits has the dumped data" {
	require_redis
	local before
	start_redis
	redis_load
	before=$(redis_keyspace)
	redis_bench
	kv_dump "$T/img" -R --tcp-close
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump -R failed with status $DUMP_ST" >&2; return 1; }
	# the original goes on: the load still runs, the data is intact
	local c0
	c0=$(redis_stat total_commands_processed)
	sleep 0.5
	(($(redis_stat total_commands_processed) > c0 + 500)) || { echo "the load stopped after cs-dump -R" >&2; return 1; }
	redis_check
	[ "$(rcli set after-dump yes)" = OK ]
	stop_bench
	[ "$(rcli get after-dump)" = yes ]
	rcli shutdown nosave >/dev/null 2>&1 || true
	wait_pid_gone "$PID" 100
	# the original logged on after the dump, to a file the image has open
	kv_restore_d "$T/img" --file-validation=none
	redis_check
	[ "$(rcli exists after-dump)" = 0 ]
	[ "$(redis_keyspace)" = "$before" ]
	redis_serves
}

# ---------------------------------------------------------------------------
# memcached

require_memcached() {
	require_cs
	command -v memcached >/dev/null ||
		skip "memcached is not installed (Debian package memcached; contrib/install-deps.sh)"
	[ -x "$GO_BIN/mcclient" ] || skip "mcclient is not built in $GO_BIN (run test/go/build.sh $GO_BIN)"
}

mc() {
	"$GO_BIN/mcclient" -addr "127.0.0.1:$MPORT" "$@" </dev/null 2>&1
}

# mc_stat NAME: one field of memcached's stats
mc_stat() {
	local w
	for w in $(mc -stats); do
		case $w in "$1"=*) echo "${w#*=}"; return 0 ;; esac
	done
	echo "no $1 in the stats" >&2
	return 1
}

# start_memcached: 4 worker threads, TCP only, on a free port; sets MPORT,
# PID, PROG_EXE.
start_memcached() {
	local i
	MPORT=$(free_port) || return 1
	(close_fds; setsid bash -c 'exec -a "$0" memcached "$@"' "$T/memcached" \
		-p "$MPORT" -l 127.0.0.1 -U 0 -t 4 -m 256 -c 1024 -u root \
		</dev/null >>"$T/prog-memcached.out" 2>&1 &)
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		PID=$(mc_stat pid 2>/dev/null) && break
		sleep 0.1
	done
	[ -n "$PID" ] || { echo "memcached did not answer in 10 s: $(cat "$T/prog-memcached.out")" >&2; return 1; }
	record_pid "$PID"
	is_ours "$PID" || { echo "memcached PID $PID does not look like ours" >&2; return 1; }
	PROG_EXE=$(readlink "/proc/$PID/exe")
}

# mc_load SECS: mcclient -load in the background, 4 connections, each
# setting its own keys in order and reading the 20000 loaded ones; its
# output (the acknowledged counts) in $T/mcload.out; returns once the
# server has taken 2000 more sets.
mc_load() {
	local s0 i
	s0=$(mc_stat cmd_set)
	(close_fds; exec "$GO_BIN/mcclient" -addr "127.0.0.1:$MPORT" -load "$1s" -conns 4 -check-range 20000) \
		</dev/null >"$T/mcload.out" 2>&1 &
	LOAD_PID=$!
	BENCH_PIDS="$BENCH_PIDS $LOAD_PID"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		(($(mc_stat cmd_set) > s0 + 2000)) && return 0
		sleep 0.1
	done
	echo "the load did not get going: $(cat "$T/mcload.out")" >&2
	return 1
}

# wait for the load to end; it must have seen no wrong value
mc_load_done() {
	local st=0
	wait "$LOAD_PID" || st=$?
	BENCH_PIDS=''
	cat "$T/mcload.out" >>"$T/prog-mcclient.out"
	[ $st = 0 ] || { echo "mcclient -load: status $st: $(tail -n 3 "$T/mcload.out")" >&2; return 1; }
}

mc_check() {
	local out st=0
	out=$(mc "$@") || st=$?
	printf '$ mcclient %s  (status %d)\n%s\n' "$*" "$st" "$out" >>"$T/prog-mcclient.out"
	[ $st = 0 ] || { echo "mcclient $*: status $st: $(tail -n 12 <<<"$out")" >&2; return 1; }
}

mc_serves() {
	[ "$(mc_stat pid)" = "$PID" ]
	mc_check -set 500 -prefix new
	mc_check -check 500 -prefix new
}

@test "memcached: the checks catch a changed item and a missing acknowledged write (negative control)" {
	require_memcached
	local st
	start_memcached
	mc_check -set 20000
	mc_check -set 1 -prefix key -value-size 99
	st=0; mc -check 20000 >"$T/neg.out" || st=$?
	[ $st = 1 ]
	grep -q 'key-0: value differs' "$T/neg.out"
	mc_check -set 20000
	mc_load 1
	mc_load_done
	awk '/^acked / { $3 += 1 } { print }' "$T/mcload.out" >"$T/mcload-more.out"
	st=0; mc -check-acked "$T/mcload-more.out" >"$T/neg.out" || st=$?
	[ $st = 1 ]
	grep -q 'missing (item differs)' "$T/neg.out"
}

@test "memcached: dumped under load with --tcp-close, restored: every item, acknowledged writes, new clients" {
	require_memcached
	local acked n
	start_memcached
	mc_check -set 20000
	mc_load 10
	kv_dump "$T/img" --tcp-close
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump failed with status $DUMP_ST" >&2; return 1; }
	wait_pid_gone "$PID"
	grep -q 'TCP connection to .* dropped (--tcp-close)' "$T/dump.log"
	kv_restore_d
	mc_check -check 20000
	mc_serves
	# the load reconnects to the restored server and goes on
	mc_load_done
	grep -q 'mismatches=0' "$T/mcload.out"
	mc_check -check-acked "$T/mcload.out"
	acked=$(awk '/^acked / { n += $3 } END { print n + 0 }' "$T/mcload.out")
	n=$(mc_stat curr_items)
	# one set per connection may have been applied but not acknowledged
	((n >= 20500 + acked && n <= 20500 + acked + 4)) ||
		{ echo "curr_items $n, want $((20500 + acked)) (+4 at most)" >&2; return 1; }
	[ "$(mc_stat evictions)" = 0 ]
}

@test "memcached: cs-dump -R under load leaves it serving; the copy restored after it exits has the dumped items" {
	require_memcached
	start_memcached
	mc_check -set 20000
	mc_load 4
	kv_dump "$T/img" -R --tcp-close
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump -R failed with status $DUMP_ST" >&2; return 1; }
	# the original goes on serving the load, which never lost a connection
	mc_load_done
	grep -q 'redials=0' "$T/mcload.out"
	mc_check -check-acked "$T/mcload.out"
	mc_check -check 20000
	mc_check -set 100 -prefix after
	kill -TERM "$PID"
	wait_pid_gone "$PID" 100
	kv_restore_d
	mc_check -check 20000
	# the items set after the dump are not in the copy
	local st=0
	mc -check 100 -prefix after >"$T/after.out" || st=$?
	[ $st = 1 ] && grep -q 'checked 100 items after-\*, 100 differ' "$T/after.out" ||
		{ echo "after-* in the restored copy: $(tail -n 2 "$T/after.out")" >&2; return 1; }
	mc_serves
}
