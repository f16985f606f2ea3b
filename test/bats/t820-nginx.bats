#!/usr/bin/env bats
# t820-nginx.bats - nginx from Debian (nginx-light 1.22): a master process
# and two worker processes, run in the foreground (daemon off), serving
# static files from $T over 127.0.0.1.
#
# What nginx has that the other real programs do not: a process tree whose
# root runs as root and whose workers run as nobody; one listening socket
# shared by the three processes, in each worker's epoll set with
# EPOLLEXCLUSIVE; a socketpair channel from the master to each worker (the
# master holds both ends of every pair, O_ASYNC on its own; each worker
# holds its end of its pair and the master's end of the other worker's,
# inherited at fork or passed over the channel with SCM_RIGHTS); anonymous
# shared memory (MAP_SHARED of /dev/zero: the connection and request
# counters); an eventfd in each worker's epoll set (edge-triggered); a
# master asleep in sigsuspend() with its real mask set aside, whose SIGHUP
# (nginx -s reload) starts new workers and retires the old ones. With
# `listen ... reuseport` (one test), a listener per worker on the same
# port (SO_REUSEPORT), each in one worker's epoll set; with `aio threads`
# (another), a pool of 32 threads in each worker.
#
# Each test starts its own nginx, as root, on a free port with its
# configuration, logs, pid file, temp paths and files in $T (made
# world-searchable: the workers run as nobody), detached (setsid, fds
# above 2 closed); the master's command line names $T, so teardown
# recognises it. Workers are recorded by PID and start time when they are
# seen, and killed by teardown only while they are still those processes.
# The package's own service is never touched. The kept connections are
# those of test/c/httpka, a client that is not dumped.
#
# The error log is at level notice: at info nginx logs each client that
# closes a keep-alive connection, at any time, which moves the log's file
# position between two looks at the fds; and after a restore (as after any
# ptrace stop) that epoll_wait() was interrupted (EINTR), which it retries.
#
# Skipped when nginx is not installed (contrib/install-deps.sh installs
# nginx-light, and curl).

load helpers

teardown() {
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -z "${BATS_TEST_SKIPPED:-}" ] && [ -s "${T:-}/nginx/error.log" ]; then
		echo "----- nginx/error.log (last 100 lines) -----"
		tail -n 100 "$T/nginx/error.log"
	fi
	kill_workers
	cs_teardown
}

require_nginx() {
	require_cs
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
	[ -x "$NGINX" ] || skip "nginx is not installed (Debian package nginx-light; contrib/install-deps.sh)"
	command -v curl >/dev/null || skip "curl is not installed (contrib/install-deps.sh)"
}

# ---------------------------------------------------------------------------
# the server

# The files served: three small ones of known content, an empty one, and
# a large one (24 MiB, sent with sendfile) made from a seed; $T/want/ holds
# what each must read back as.
FILES="index.html small.txt page.txt empty.txt large.bin"

make_files() {
	local d=$T/nginx/html i
	mkdir -p "$d" "$T/want"
	echo "checksync t820 index" >"$d/index.html"
	for ((i = 0; i < 200; i++)); do echo "line $i of small.txt"; done >"$d/small.txt"
	awk 'BEGIN { for (i = 0; i < 5000; i++) printf "%06d %s\n", i, substr("abcdefghijklmnopqrstuvwxyz", 1 + i % 26) }' >"$d/page.txt"
	: >"$d/empty.txt"
	# 24 MiB, every 16-byte block different: a misplaced page shows
	awk 'BEGIN { for (i = 0; i < 1572864; i++) printf "%015d\n", i * 7919 % 100000007 }' >"$d/large.bin"
	cp -p "$d"/* "$T/want/"
}

# start_nginx: master + 2 workers on a free port; sets NPORT, PID (the
# master), WORKERS (their PIDs, sorted), PROG_EXE.
start_nginx() {
	local i n=$T/nginx
	NPORT=$(free_port) || return 1
	chmod 755 "$T"
	mkdir -p "$n/tmp"
	make_files
	cat >"$n/nginx.conf" <<-EOF
		daemon off;
		master_process on;
		worker_processes 2;
		pid $n/nginx.pid;
		error_log $n/error.log notice;
		events {
			worker_connections 64;
		}
		http {
			access_log $n/access.log;
			client_body_temp_path $n/tmp/body;
			proxy_temp_path $n/tmp/proxy;
			fastcgi_temp_path $n/tmp/fastcgi;
			uwsgi_temp_path $n/tmp/uwsgi;
			scgi_temp_path $n/tmp/scgi;
			default_type application/octet-stream;
			types {
				text/html html;
				text/plain txt;
			}
			sendfile on;${NGX_HTTP_EXTRA:+
			$NGX_HTTP_EXTRA}
			keepalive_timeout 300s;
			keepalive_requests 100000;
			server {
				listen 127.0.0.1:$NPORT${NGX_LISTEN_OPTS:+ $NGX_LISTEN_OPTS};
				root $n/html;
				location = /status {
					stub_status;
					access_log off;
				}
			}
		}
	EOF
	(close_fds; setsid "$NGINX" -p "$n" -c "$n/nginx.conf" </dev/null >>"$T/prog-nginx.out" 2>&1 &)
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$n/nginx.pid" ] && curl -sf -o /dev/null "http://127.0.0.1:$NPORT/" && break
		sleep 0.1
	done
	[ -s "$n/nginx.pid" ] || { echo "nginx wrote no pid file in 10 s: $(cat "$T/prog-nginx.out" "$n/error.log" 2>/dev/null)" >&2; return 1; }
	PID=$(cat "$n/nginx.pid")
	record_pid "$PID"
	is_ours "$PID" || { echo "nginx PID $PID does not look like ours" >&2; return 1; }
	PROG_EXE=$(readlink "/proc/$PID/exe")
	wait_workers
	curl -sf -o /dev/null "http://127.0.0.1:$NPORT/" || { echo "nginx does not answer on port $NPORT" >&2; return 1; }
}

ngx() {
	"$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" "$@"
}

# children PID: its child processes, sorted
children() {
	local t
	for t in /proc/"$1"/task/*/children; do
		cat "$t" 2>/dev/null
	done | tr ' ' '\n' | grep . | sort -n | tr '\n' ' '
}

# wait_workers [OLD]: wait (10 s) until the master has exactly 2 children,
# none of them in OLD, each a worker process asleep; sets WORKERS and
# records them.
wait_workers() {
	local i w ok old=" ${1:-} "
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		WORKERS=$(children "$PID")
		ok=1
		set -- $WORKERS
		[ $# = 2 ] || ok=0
		for w in $WORKERS; do
			case $old in *" $w "*) ok=0 ;; esac
			case $(tr '\0' ' ' <"/proc/$w/cmdline" 2>/dev/null) in
			"nginx: worker process"*) ;;
			*) ok=0 ;;
			esac
		done
		[ $ok = 1 ] && break
		sleep 0.1
	done
	[ $ok = 1 ] || { echo "nginx $PID has children [$WORKERS], want 2 new worker processes (old: [${old:1:-1}])" >&2; return 1; }
	for w in $WORKERS; do
		record_worker "$w"
		wait_settled "$w"
	done
	wait_settled "$PID"
}

# Workers' command lines do not name $T: each is recorded with its start
# time, and killed only while it is still that process.
record_worker() {
	echo "$1 $(proc_start "$1")" >>"$T/workers"
}

# record_workers: record_worker for each of $WORKERS (after a restore)
record_workers() {
	local w
	for w in $WORKERS; do
		record_worker "$w"
	done
}

# The master first: it would start a new worker for each one killed. It
# is stopped, its children of that moment recorded, then killed.
kill_workers() {
	local pid start w
	[ -n "${T:-}" ] && [ -f "$T/workers" ] || return 0
	if [ -n "${PID:-}" ] && is_ours "$PID"; then
		kill -STOP "$PID" 2>/dev/null || true
		for w in $(children "$PID"); do
			record_worker "$w"
		done
		kill -KILL "$PID" 2>/dev/null || true
	fi
	while read -r pid start; do
		[ -n "$start" ] && [ "$(proc_start "$pid")" = "$start" ] || continue
		kill -KILL "$pid" 2>/dev/null || true
	done <"$T/workers"
}

# tree_state: for the master and each worker, one line: PID, process
# group, session, parent, credentials, capabilities, signal dispositions
# and mask, umask, cwd, RLIMIT_NOFILE, thread IDs
tree_state() {
	local p line
	for p in $PID $WORKERS; do
		{ read -r line <"/proc/$p/stat"; } 2>/dev/null || { echo "$p gone"; continue; }
		line=${line##*) }
		# process group and session (fields 5, 6 of stat)
		echo "$p $(awk '{ print "pgrp", $3, "sid", $4 }' <<<"$line")" \
			"$(awk -F'\t' '$1 ~ /^(PPid|Uid|Gid|Groups|Umask|SigBlk|SigIgn|SigCgt|Cap...|NoNewPrivs|Seccomp):$/ {
				gsub(/\t/, ","); printf "%s ", $0 }' "/proc/$p/status")" \
			"cwd $(readlink "/proc/$p/cwd") nofile $(awk '/^Max open files/ { print $4, $5 }' "/proc/$p/limits")" \
			"threads $(task_list "$p")"
	done
}

# ---------------------------------------------------------------------------
# checks

# fd_state: every fd of the master and of each worker, by role: what it
# is, its flags and position (fdinfo), an epoll fd's targets with their
# events and data, an eventfd's count. Sockets and pipes are named by the
# order in which they first appear, and a unix socket by its peer too, so
# that the lines say which fds share an object and which sockets are
# pairs, and compare across a restore (where inode numbers change).
fd_state() {
	local p fd role=master n=0 t
	ss -xnH | awk '{ print $6, $8 }' >"$T/unix-peers"
	for p in $PID $WORKERS; do
		for fd in $(ls "/proc/$p/fd" | sort -n); do
			t=$(readlink "/proc/$p/fd/$fd") || continue
			# epoll targets sorted: the kernel lists them in the
			# order of their struct file's address
			echo "$role $fd $t $(awk '$1 == "flags:" || $1 == "pos:" { printf "%s%s ", $1, $2 }
				$1 ~ /^eventfd-count/ { printf "count:%s ", $2 }
				$1 == "tfd:" { printf "\n[tfd %s events %s data %s] ", $2, $4, $6 }' "/proc/$p/fdinfo/$fd" | sort | tr -d '\n')"
		done
		n=$((n + 1))
		role=worker$n
	done | awk -v peers="$T/unix-peers" '
		BEGIN { while ((getline l < peers) > 0) { split(l, f, " "); peer[f[1]] = f[2] } }
		{
			if (match($3, /^(socket|pipe):\[[0-9]+\]$/)) {
				ino = $3; sub(/^[a-z]+:\[/, "", ino); sub(/\]$/, "", ino)
				if (!(ino in id)) id[ino] = ++nid
				$3 = substr($3, 1, index($3, "[")) id[ino] "]"
				if (ino in peer) pend[NR] = peer[ino]
			}
			line[NR] = $0
		}
		END {
			for (i = 1; i <= NR; i++) {
				s = line[i]
				if (i in pend)
					s = s " peer " (pend[i] in id ? id[pend[i]] : "outside")
				print s
			}
		}'
}

fds_same() {
	local now
	now=$(fd_state)
	[ "$now" = "$FDS" ] && return 0
	echo "the fds differ:" >&2
	diff <(echo "$FDS") <(echo "$now") >&2
	return 1
}


# fetch_all: every file twice over one keep-alive connection,
# and the large one over three connections at once; each compared byte
# for byte with $T/want.
fetch_all() {
	local f args=() st=0 i pids=()
	rm -rf "$T/got"
	mkdir -p "$T/got"
	for f in $FILES; do
		args+=("http://127.0.0.1:$NPORT/$f" -o "$T/got/$f" "http://127.0.0.1:$NPORT/$f" -o "$T/got/$f.2")
	done
	curl -sf --max-time 20 -w '%{num_connects}\n' "${args[@]}" >"$T/curl.out" 2>&1 ||
		{ echo "curl: $(cat "$T/curl.out")" >&2; return 1; }
	# one connection made for the first file, reused for all the others
	[ "$(grep -c '^1$' "$T/curl.out")" = 1 ] || { echo "curl did not keep its connection alive: $(tr '\n' ' ' <"$T/curl.out")" >&2; return 1; }
	for i in 1 2 3; do
		curl -sf --max-time 20 -o "$T/got/large.bin.p$i" "http://127.0.0.1:$NPORT/large.bin" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || st=1
	done
	[ $st = 0 ] || { echo "curl of large.bin failed" >&2; return 1; }
	for f in $FILES; do
		same "$f" "$f" && same "$f" "$f.2" || return 1
	done
	for i in 1 2 3; do
		same large.bin "large.bin.p$i" || return 1
	done
}

same() {
	cmp -s "$T/want/$1" "$T/got/$2" && return 0
	echo "$2: served $(stat -c %s "$T/got/$2" 2>/dev/null || echo no) bytes that differ from $1 ($(stat -c %s "$T/want/$1") bytes): $(cmp "$T/want/$1" "$T/got/$2" 2>&1 | head -n 1)" >&2
	return 1
}

# detected CMD...: CMD must fail (a check that must catch a change)
detected() {
	if "$@" 2>>"$T/detected.out" >>"$T/detected.out"; then
		echo "$* passed, but the server was changed on purpose" >&2
		return 1
	fi
}

# the tree is the one before: master, 2 workers, users, parents
tree_same() {
	local now
	now=$(tree_state)
	[ "$now" = "$TREE" ] || { echo "the process tree differs: got [$(tr '\n' ';' <<<"$now")] want [$(tr '\n' ';' <<<"$TREE")]" >&2; return 1; }
}

# reload: nginx -s reload (SIGHUP to the master): 2 new workers, the old
# ones gone, and it serves
reload() {
	local old=$WORKERS w i
	ngx -s reload 2>>"$T/prog-nginx.out"
	wait_workers "$old"
	for w in $old; do
		wait_pid_gone "$w" 100 || return 1
	done
	fetch_all
}

# stop_nginx: SIGTERM to the master (fast shutdown: it stops its workers
# and exits); the master and every worker must be gone
stop_nginx() {
	local w
	kill -TERM "$PID"
	for w in $PID $WORKERS; do
		wait_pid_gone "$w" 100 || return 1
	done
}

dump_tree() {
	NTASKS=1
	kv_dump "$T/img" "$@"
	[ "$DUMP_ST" = 0 ] || { echo "cs-dump failed with status $DUMP_ST" >&2; return 1; }
}

# status: nginx's counters "ACCEPTS HANDLED REQUESTS" (stub_status), over
# a new connection; they live in the memory the master shares with its
# workers, counted by all of them
status() {
	curl -sf --max-time 10 "http://127.0.0.1:$NPORT/status" | awk 'NR == 3 { print $1, $2, $3 }'
}

# status_is WANT [N]: the counters are WANT, each plus N (a new
# connection and request for each: this status request counts itself)
status_is() {
	local got want
	want=$(awk -v n="${2:-0}" '{ print $1 + n, $2 + n, $3 + n }' <<<"$1")
	got=$(status)
	[ "$got" = "$want" ] || { echo "nginx's counters (accepts handled requests) are [$got], want [$want]" >&2; return 1; }
}

# shm_state: the shared mappings of the master and of each worker
# ("ADDRESS-RANGE DEV INODE"); the three must map the same object
shm_state() {
	local p m=''
	for p in $PID $WORKERS; do
		awk '$2 ~ /s$/ { print $1, $4, $5 }' "/proc/$p/maps" >"$T/shm-$p"
		[ -s "$T/shm-$p" ] || { echo "process $p has no shared mapping" >&2; return 1; }
		if [ -z "$m" ]; then
			m=$p
		elif ! cmp -s "$T/shm-$m" "$T/shm-$p"; then
			echo "process $p does not map what $m maps shared: [$(tr '\n' ';' <"$T/shm-$p")] vs [$(tr '\n' ';' <"$T/shm-$m")]" >&2
			return 1
		fi
	done
	# the addresses, for comparing with another time
	awk '{ print $1 }' "$T/shm-$m"
}

# ---------------------------------------------------------------------------
# httpka (test/c/httpka.c): one keep-alive connection, idle until SIGUSR2

KA_FILES="index.html small.txt page.txt empty.txt"

# start_httpka [CORRUPT [+PART]]: it fetched each file once (and the
# start of PART on another connection) and waits; sets KA_PID
start_httpka() {
	local i bin=$CS_BUILDDIR/test/c/httpka
	[ -x "$bin" ] || { echo "test program $bin is not built" >&2; return 1; }
	rm -f "$T/ka.ready"
	# shellcheck disable=SC2086 # the list of files
	(close_fds; CS_TEST_CORRUPT=${1:-} exec "$bin" "$T/ka.ready" "$NPORT" "$T/want" ${2:-} $KA_FILES) \
		</dev/null >"$T/prog-httpka.out" 2>&1 &
	KA_PID=$!
	record_pid "$KA_PID"
	for ((i = 0; i < READY_TIMEOUT; i++)); do
		[ -s "$T/ka.ready" ] && break
		kill -0 "$KA_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -s "$T/ka.ready" ] || { echo "httpka is not ready: $(cat "$T/prog-httpka.out")" >&2; return 1; }
	wait_settled "$KA_PID"
}

# httpka_done WANT: SIGUSR2, wait for it; its status must be WANT (0: the
# connection and every file as before; 1: a difference it reported)
httpka_done() {
	local st=0
	kill -USR2 "$KA_PID"
	wait "$KA_PID" || st=$?
	[ "$st" = "$1" ] || { echo "httpka exited with status $st, want $1: $(tail -n 5 "$T/prog-httpka.out")" >&2; return 1; }
	[ "$1" = 0 ] || grep -q differs "$T/prog-httpka.out" || { echo "httpka: no \"differs\" line" >&2; return 1; }
}

# ---------------------------------------------------------------------------

@test "nginx: the checks catch a changed file, changed counters, a missing worker, a dropped connection (negative control)" {
	require_nginx
	local st0
	start_nginx
	TREE=$(tree_state)
	SHM=$(shm_state)
	fetch_all
	tree_same
	st0=$(status)
	status_is "$st0" 1
	detected status_is "$st0" 1
	# a byte of a small file and one deep inside the large one
	flip_byte "$T/nginx/html/page.txt" 1000
	detected fetch_all
	cp -p "$T/want/page.txt" "$T/nginx/html/"
	fetch_all
	flip_byte "$T/nginx/html/large.bin" 20000000
	detected fetch_all
	cp -p "$T/want/large.bin" "$T/nginx/html/"
	fetch_all
	# the keep-alive client catches a changed body and a new connection
	start_httpka body
	httpka_done 1
	grep -q 'after: /index.html body differs' "$T/prog-httpka.out"
	start_httpka conn
	httpka_done 1
	grep -q 'connection differs: local address' "$T/prog-httpka.out"
	# a worker killed: the master starts another one, with another PID
	# and its own channel
	FDS=$(fd_state)
	fds_same
	set -- $WORKERS
	kill -KILL "$1"
	wait_pid_gone "$1" 100
	detected tree_same
	wait_workers "$1"
	detected tree_same
	detected fds_same
	[ "$(shm_state)" = "$SHM" ]
	fetch_all
	stop_nginx
}

@test "nginx: killed by cs-dump, restored: master and workers with their PIDs, shared counters, every file, then nginx -s reload" {
	require_nginx
	local st0 w t0 t1
	start_nginx
	TREE=$(tree_state)
	SHM=$(shm_state)
	fetch_all
	st0=$(status)
	FDS=$(fd_state)
	dump_tree --display-stats
	wait_pid_gone "$PID"
	for w in $WORKERS; do
		wait_pid_gone "$w"
	done
	! curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$NPORT/" || { echo "something answers on port $NPORT after the dump" >&2; return 1; }
	t0=$(date +%s%N)
	kv_restore_d
	# /status: not in the access log, whose position fds_same checks
	curl -sf -o /dev/null "http://127.0.0.1:$NPORT/status"
	t1=$(date +%s%N)
	echo "# nginx: $(grep -o 'frozen_us=[0-9]*' "$T/dump.out"), images $(du -sk "$T/img" | cut -f1) KiB, first answer $(((t1 - t0) / 1000000)) ms after cs-restore started" >&3
	record_workers
	tree_same
	fds_same
	[ "$(shm_state)" = "$SHM" ]
	status_is "$st0" 2
	fetch_all
	tree_same
	reload
	[ "$(cat "$T/nginx/nginx.pid")" = "$PID" ]
	[ "$(shm_state)" = "$SHM" ]
	stop_nginx
}

@test "nginx: aio threads (32 threads a worker), cs-dump -R leaves it serving; the copy restored after it stops serves the same files, with the counters of the dump" {
	require_nginx
	local st0 w
	# each worker gets a pool of 32 threads that read files for it
	NGX_HTTP_EXTRA="aio threads;"
	start_nginx
	TREE=$(tree_state)
	SHM=$(shm_state)
	fetch_all
	st0=$(status)
	FDS=$(fd_state)
	dump_tree -R
	tree_same
	fds_same
	status_is "$st0" 1
	fetch_all
	ngx -s quit
	wait_pid_gone "$PID" 100
	for w in $WORKERS; do
		wait_pid_gone "$w" 100
	done
	# it removed its pid file on the way out: the one it wrote at start
	echo "$PID" >"$T/nginx/nginx.pid"
	# the original logged on after the dump, to files the image has open
	kv_restore_d "$T/img" --file-validation=none
	record_workers
	tree_same
	fds_same
	[ "$(shm_state)" = "$SHM" ]
	status_is "$st0" 1
	fetch_all
	reload
	stop_nginx
}

@test "nginx: --tcp-established: an idle keep-alive connection and a download stopped halfway go on after the restore" {
	require_nginx
	local st0 w
	start_nginx
	TREE=$(tree_state)
	fetch_all
	start_httpka "" +large.bin
	for w in $WORKERS; do
		wait_settled "$w"
	done
	st0=$(status)
	FDS=$(fd_state)
	dump_tree --tcp-established
	grep -q 'TCP' "$T/dump.log"
	kv_restore_d "$T/img" --tcp-established
	record_workers
	tree_same
	fds_same
	status_is "$st0" 1
	httpka_done 0
	fetch_all
	reload
	stop_nginx
}

@test "nginx: listen reuseport (a listener per worker), --tcp-close drops the idle keep-alive connection: the client sees it gone, new clients are served" {
	require_nginx
	local w
	NGX_LISTEN_OPTS=reuseport
	start_nginx
	TREE=$(tree_state)
	start_httpka
	for w in $WORKERS; do
		wait_settled "$w"
	done
	FDS=$(fd_state)
	# two listeners on the port, each in one worker's epoll set
	[ "$(grep -c '^master [0-9]* socket:\[[0-9]*\] pos:0 flags:04002 *$' <<<"$FDS")" = 2 ]
	dump_tree --tcp-close
	grep -q 'TCP connection to .* dropped (--tcp-close)' "$T/dump.log"
	kv_restore_d
	record_workers
	tree_same
	httpka_done 1
	grep -q 'connection differs' "$T/prog-httpka.out"
	fetch_all
	reload
	stop_nginx
}

@test "nginx: dumped under load with --tcp-close (connections and accept queue dropped), restored: the tree, every file, reload" {
	require_nginx
	local i w lp=()
	start_nginx
	TREE=$(tree_state)
	# 3 clients making a new connection per request, one slow download;
	# bounded in time, stopped by PID
	for i in 1 2 3; do
		(close_fds; exec timeout 30 bash -c 'while :; do curl -s -o /dev/null --max-time 5 "$0"; done' \
			"http://127.0.0.1:$NPORT/small.txt") </dev/null >/dev/null 2>&1 &
		lp+=($!)
	done
	(close_fds; exec timeout 30 curl -s --limit-rate 1M -o /dev/null "http://127.0.0.1:$NPORT/large.bin") \
		</dev/null >/dev/null 2>&1 &
	lp+=($!)
	sleep 1
	dump_tree --tcp-close
	grep -q 'TCP connection to .* dropped (--tcp-close)' "$T/dump.log"
	kv_restore_d
	record_workers
	tree_same
	for i in "${lp[@]}"; do
		kill "$i" 2>/dev/null || true
		wait "$i" 2>/dev/null || true
	done
	fetch_all
	reload
	stop_nginx
}
