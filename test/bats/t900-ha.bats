#!/usr/bin/env bats
# t900-ha.bats - high availability end to end (checksync-ha(7)): two network
# namespaces stand for two hosts, "primary" and "standby", joined by a veth
# pair, each with its own address; the service address (VIP) sits on the
# primary. The Go key/value server listens on the VIP in the primary; a
# checkpoint loop there (as the systemd timer would run it) takes a
# checkpoint every second and ships it into the standby's directory; a client
# in the standby keeps writing batches of keys through the VIP and records
# when each batch was acknowledged. The server is killed (kill -9);
# checksync-failover, watching from the standby, moves the VIP over, restores
# the newest whole shipped checkpoint there and reports the failover time.
# Every batch acknowledged before the last shipped checkpoint started must be
# back, value by value, and new writes must work.
#
# cs-dump and cs-restore refuse a process in another network or mount
# namespace than their own, and `ip netns exec` makes a new mount namespace:
# everything runs under `nsenter --net=/run/netns/NAME`, which changes only
# the network namespace.
#
# Everything the test creates (namespaces, veth pair, processes, files) is
# removed in teardown, also when it fails.

load helpers

CKPT=$CS_SRCDIR/contrib/checksync-checkpoint
FAILOVER=$CS_SRCDIR/contrib/checksync-failover

NET=10.231.0
VIP=$NET.100
PORT=7070
BATCH=100	# keys per write batch

setup() {
	cs_setup
	NSP=cs-primary-$$
	NSS=cs-standby-$$
	VP=csp$$	# interface names: at most 15 characters
	VS=css$$
	: >"$T/bg"
}

teardown() {
	local pid f ns i
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -z "${BATS_TEST_SKIPPED:-}" ]; then
		for f in ckpt.log failover.log failover.err failed; do
			[ -s "$T/$f" ] || continue
			echo "----- $f (last 50 lines) -----"
			tail -n 50 "$T/$f"
		done
	fi
	# the loops first, so that they start nothing new (they finish the run
	# in progress); only PIDs we started that still run our scripts
	touch "$T/stop" 2>/dev/null
	if [ -f "$T/bg" ]; then
		while read -r pid; do
			[ -n "$pid" ] && is_ours "$pid" && kill -TERM "$pid" 2>/dev/null
		done <"$T/bg"
		while read -r pid; do
			[ -n "$pid" ] && wait "$pid" 2>/dev/null
		done <"$T/bg"
	fi
	# whatever still runs in the two namespaces was started by this test
	# (they are its own): a cs-restore cut short, a kvclient, the server
	for ns in "$NSP" "$NSS"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
	done
	for ((i = 0; i < 50; i++)); do
		[ -z "$(ip netns pids "$NSP" 2>/dev/null)$(ip netns pids "$NSS" 2>/dev/null)" ] && break
		sleep 0.1
	done
	cs_teardown
	ip netns del "$NSP" 2>/dev/null
	ip netns del "$NSS" 2>/dev/null
	return 0
}

in_primary() {
	nsenter --net="/run/netns/$NSP" "$@"
}

in_standby() {
	nsenter --net="/run/netns/$NSS" "$@"
}

make_hosts() {
	command -v ip >/dev/null || skip "ip (iproute2) is not installed"
	command -v nsenter >/dev/null || skip "nsenter (util-linux) is not installed"
	ip netns add "$NSP" || skip "cannot create network namespaces here"
	ip netns add "$NSS" || return 1
	ip link add "$VP" netns "$NSP" type veth peer name "$VS" netns "$NSS"
	ip -n "$NSP" addr add "$NET.1/24" dev "$VP"
	ip -n "$NSS" addr add "$NET.2/24" dev "$VS"
	ip -n "$NSP" addr add "$VIP/32" dev "$VP"
	ip -n "$NSP" link set lo up
	ip -n "$NSS" link set lo up
	ip -n "$NSP" link set "$VP" up
	ip -n "$NSS" link set "$VS" up
}

# count_files DIR PATTERN
count_files() {
	find "$1" -maxdepth 1 -name "$2" 2>/dev/null | wc -l
}

# name_us NAME: the checkpoint name (UTC time, 20261129T124820.713865Z) in
# microseconds since the epoch
name_us() {
	local n=$1
	date -u -d "${n:0:4}-${n:4:2}-${n:6:2} ${n:9:2}:${n:11:2}:${n:13:2}" +%s | tr -d '\n'
	echo "${n:16:6}"
}

@test "ha: checkpoints every second shipped to a standby netns; the failover there restores every acknowledged write" {
	require_cs
	require_go
	make_hosts
	local i st cut restored kind line answer_ms down_ms kvc_s="$GO_BIN/kvclient -addr $VIP:$PORT"

	# the server, in the primary, on the VIP; our child (nsenter execs it),
	# so that the kill below can reap it at once and free its PID
	(close_fds; exec nsenter --net="/run/netns/$NSP" "$GO_BIN/kvserver" -addr "$VIP:$PORT" -ready "$T/ready" \
		-preload 20000) </dev/null >>"$T/prog-kvserver.out" 2>&1 &
	PID=$!
	record_pid "$PID"
	for ((i = 0; i < 300; i++)); do
		[ -s "$T/ready" ] && break
		kill -0 "$PID" 2>/dev/null || { echo "kvserver exited" >&2; return 1; }
		sleep 0.1
	done
	[ "$(cat "$T/ready")" = "$PID" ] || { echo "ready file: $(cat "$T/ready"), started $PID" >&2; return 1; }
	in_standby $kvc_s -timeout 5s -stats >/dev/null

	# the checkpoint loop in the primary: one run a second, as the timer would
	cat >"$T/ckpt-loop.sh" <<EOF
trap 'stop=1' TERM	# after the run in progress
stop=
while [ -z "\$stop" ]; do
	"$CKPT" -t $PID -D "$T/primary" -K 5 -N 3 -l "$T/ckpt.log" --cs-dump "$CS_DUMP" \\
		--ship-cmd 'mkdir -p {dst} && cp -a {src}/. {dst}/' --ship-to "$T/standby" -- --tcp-close 2>/dev/null
	sleep 1
done
EOF
	(close_fds; exec nsenter --net="/run/netns/$NSP" bash "$T/ckpt-loop.sh") </dev/null >/dev/null 2>&1 &
	echo $! >>"$T/bg"

	# the client, in the standby: batches of keys, each recorded with the time
	# it was acknowledged (after kvclient returned: later than the server's
	# answer, so a conservative time)
	cat >"$T/writer.sh" <<EOF
trap 'stop=1' TERM	# after the batch in progress
i=0 stop=
while [ ! -e "$T/stop" ] && [ -z "\$stop" ]; do
	if $kvc_s -timeout 1s -conns 1 -set-prefix w\$i -set-count $BATCH >/dev/null 2>&1; then
		echo "w\$i \${EPOCHREALTIME//[!0-9]/}" >>"$T/acked"
	else
		echo "w\$i failed \${EPOCHREALTIME//[!0-9]/}" >>"$T/failed"
	fi
	i=\$((i + 1))
	sleep 0.05
done
EOF
	(close_fds; exec nsenter --net="/run/netns/$NSS" bash "$T/writer.sh") </dev/null >/dev/null 2>&1 &
	echo $! >>"$T/bg"

	# wait for the first shipped checkpoint before arming the failover
	for ((i = 0; i < 300; i++)); do
		[ "$(count_files "$T/standby" '*.shipped')" -ge 1 ] && break
		sleep 0.1
	done
	[ "$(count_files "$T/standby" '*.shipped')" -ge 1 ] || { cat "$T/ckpt.log" >&2; return 1; }

	# the failover, in the standby: the health check is a TCP connection to
	# the VIP (the kernel answers it even while a checkpoint freezes the
	# server), the probe after the restore a real request. It takes the VIP
	# from the primary (the dead host would not answer for it) and brings it
	# up here.
	(close_fds; exec nsenter --net="/run/netns/$NSS" "$FAILOVER" -D "$T/standby" \
		-c "exec 3<>/dev/tcp/$VIP/$PORT" -i 0.2 -f 3 --check-timeout 1 \
		--probe-cmd "$kvc_s -timeout 1s -stats" \
		--pre-restore "ip -n $NSP addr del $VIP/32 dev $VP; ip addr add $VIP/32 dev $VS" \
		--cs-restore "$CS_RESTORE" --restore-log "$T/restore.log" -l "$T/failover.log" \
		-- --file-validation=none) </dev/null >/dev/null 2>"$T/failover.err" &
	FPID=$!
	echo $FPID >>"$T/bg"

	# a few seconds of writes and checkpoints, then the primary's server dies
	for ((i = 0; i < 100; i++)); do
		[ "$(count_files "$T/standby" '*.shipped')" -ge 4 ] && break
		sleep 0.1
	done
	[ "$(count_files "$T/standby" '*.shipped')" -ge 3 ] || { cat "$T/ckpt.log" >&2; return 1; }
	[ -s "$T/acked" ] || { echo "no write was acknowledged" >&2; cat "$T/failed" >&2; return 1; }
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null || true

	# the failover detects it, restores, and exits
	for ((i = 0; i < 300; i++)); do
		kill -0 "$FPID" 2>/dev/null || break
		sleep 0.1
	done
	st=0
	wait "$FPID" || st=$?
	if [ $st != 0 ]; then
		echo "checksync-failover exited with status $st: $(cat "$T/failover.err")" >&2
		cat "$T/failover.log" >&2
		return 1
	fi
	line=$(grep 'status=ok' "$T/failover.log")
	restored=$(tr ' ' '\n' <<<"$line" | sed -n 's/^dir=//p')
	answer_ms=$(tr ' ' '\n' <<<"$line" | sed -n 's/^answer_ms=//p')
	down_ms=$(tr ' ' '\n' <<<"$line" | sed -n 's/^down_ms=//p')
	kind=$(tr ' ' '\n' <<<"$line" | sed -n 's/^kind=//p')
	[ -n "$restored" ] && [ -n "$answer_ms" ]

	# the restored server is $PID again, in the standby's network namespace
	[ -e "/proc/$PID" ]
	[ "$(stat -L -c %i "/proc/$PID/ns/net")" = "$(stat -L -c %i "/run/netns/$NSS")" ]
	[ "$(in_standby $kvc_s -timeout 5s -stats | tr ' ' '\n' | sed -n 's/^pid=//p')" = "$PID" ]

	touch "$T/stop" 2>/dev/null
	sleep 1.5	# the writer's last batch ends (kvclient -timeout 1s)

	# every batch acknowledged before the restored checkpoint began is there
	cut=$(name_us "${restored##*/}")
	local before=0 after=0 name t missing=
	while read -r name t; do
		if [ "$t" -lt "$cut" ]; then
			before=$((before + 1))
			in_standby $kvc_s -timeout 5s -conns 1 -expect-prefix "$name" -expect-count $BATCH \
				>"$T/check.out" 2>&1 || missing="$missing $name"
		else
			after=$((after + 1))
		fi
	done <"$T/acked"
	if [ -n "$missing" ]; then
		echo "batches acknowledged before $restored are missing or wrong:$missing" >&2
		cat "$T/check.out" >&2
		return 1
	fi
	[ $before -ge 3 ] || { echo "only $before batches before the cut-off: nothing tested" >&2; return 1; }
	# the preloaded keys too
	in_standby $kvc_s -timeout 5s -check 20000 >"$T/check.out" 2>&1 || { cat "$T/check.out" >&2; return 1; }
	# and the server takes new writes
	in_standby $kvc_s -timeout 5s -set-prefix after -set-count 1000 >"$T/check.out" 2>&1 ||
		{ cat "$T/check.out" >&2; return 1; }
	# the writes acknowledged by the restored server (after the failover) stay
	for name in $(awk -v f="$(date -d "$(sed -n 's/^answered //p' "$T/standby/.failover")" +%s%6N)" \
		'$2 > f + 1000000 { print $1 }' "$T/acked"); do
		in_standby $kvc_s -timeout 5s -conns 1 -expect-prefix "$name" -expect-count $BATCH >/dev/null
	done
	echo "# failover: answer_ms=$answer_ms (detection to first answer), down_ms=$down_ms; restored ${restored##*/} ($kind);" \
		"$before batches checked, $after acknowledged after its start" >&3
}
