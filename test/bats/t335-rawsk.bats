#!/usr/bin/env bats
# t335-rawsk.bats - raw sockets (raw(7)), ping sockets (icmp(7)) and
# UDP-Lite (udplite(7)). test/c/rawsk runs in a network namespace this
# test creates, with lo up and net.ipv4.ping_group_range "0 0" there (the
# host's "1 0" allows nobody ping sockets); cs-dump and cs-restore run
# there too (nsenter --net). It holds ping sockets over IPv4 (bound to id
# 4242) and IPv6 (id 4243, connected), a raw ICMP socket with ICMP_FILTER
# and a locked classic BPF filter, connected, a raw IPPROTO_RAW socket, a
# raw VRRP socket with IP_HDRINCL bound to an address and to lo, a raw
# IPv6 socket with IPV6_CHECKSUM and IPV6_HDRINCL, a raw ICMPv6 socket
# with ICMPV6_FILTER, and a connected UDP-Lite socket
# with both coverage options and a datagram queued. After the restore it
# checks each value, and pings 127.0.0.1 and ::1 through the ping sockets
# (the replies carry the ids; the raw sockets see the replies, filtered).
#
# Refused by cs-dump, naming the fd: a ping socket with an echo reply not
# read (no SO_PEEK_OFF on raw or ping sockets), unless -R (a warning).
# Refused by cs-restore's check phase, naming the fd: a raw socket without
# CAP_NET_RAW; a ping socket when no group of cs-restore is in
# ping_group_range; a ping id another socket has; queued UDP-Lite
# datagrams (sent again through a raw socket) without CAP_NET_RAW.

load helpers

RAWSK=$CS_BUILDDIR/test/c/rawsk

setup() {
	cs_setup
	NS=cs-t335-$$-$RANDOM
}

teardown() {
	kill_recorded
	drop_netns "$NS"
	cs_teardown
}

# make_ns: the namespace, lo up, ping sockets for group 0; cs-dump and
# cs-restore in it through wrappers that exec them (cs-restore keeps its
# PID for restore_wait), test programs through START_WRAP
make_ns() {
	command -v nsenter >/dev/null || skip "nsenter (util-linux) is not installed"
	[ -x "$RAWSK" ] || skip "$RAWSK is not built (make test/c/rawsk)"
	ip netns add "$NS" || skip "cannot create network namespaces here"
	ip -n "$NS" link set lo up
	ping_range "0 0"
	printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s %s "$@"\n' "$NS" "$CS_BUILDDIR/cs-dump/cs-dump" >"$T/cs-dump"
	printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s %s "$@"\n' "$NS" "$CS_BUILDDIR/cs-restore/cs-restore" \
		>"$T/cs-restore"
	chmod +x "$T/cs-dump" "$T/cs-restore"
	CS_DUMP=$T/cs-dump
	CS_RESTORE=$T/cs-restore
	START_WRAP="nsenter --net=/run/netns/$NS"
}

ping_range() {
	nsenter --net="/run/netns/$NS" sh -c "echo '$1' >/proc/sys/net/ipv4/ping_group_range"
}

# restore_refused WORDS... (RESTORE_WRAP: words before cs-restore): one line
# holding every WORD, status 1, no process
restore_refused() {
	local st=0 w
	# shellcheck disable=SC2086 # RESTORE_WRAP is words
	(close_fds; exec nsenter --net="/run/netns/$NS" ${RESTORE_WRAP:-} "$CS_BUILDDIR/cs-restore/cs-restore" \
		-D "$T/img") </dev/null >"$T/out" 2>"$T/err" || st=$?
	cat "$T/err" >>"$T/restore.out"
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line on stderr:" >&2; cat "$T/err" >&2; return 1; }
	for w in "$@"; do
		grep -qF -- "$w" "$T/err" || { echo "\"$w\" not in: $(cat "$T/err")" >&2; return 1; }
	done
}

@test "rawsk: control, the checks pass without a dump" {
	make_ns
	control rawsk netns "$NS"
}

@test "rawsk: negative control, each check catches a change" {
	make_ns
	expect_detects_all rawsk "pingid peer filter hdrincl checksum icmp6filter cscov recverr device queue bpf bpflock hdrincl6" netns "$NS"
}

@test "rawsk: round trip killed: ping ids, raw filters and options, UDP-Lite coverage and queue; pings answered" {
	require_cs
	make_ns
	start_prog rawsk netns "$NS"
	dump_killed
	expect_features "$T/img" +raw-sockets
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "rawsk: refused at restore: the ping id taken by another socket; restored once it is free" {
	require_cs
	local holder
	make_ns
	start_prog rawsk netns "$NS"
	dump_killed
	# a ping socket of another process at id 4242
	(close_fds; exec nsenter --net="/run/netns/$NS" "$RAWSK" "$T/holder.ready" hold "$NS" 4242) \
		</dev/null >"$T/prog-holder.out" 2>&1 &
	holder=$!
	record_pid "$holder"
	wait_file "$T/holder.ready" || { echo "holder not ready: $(cat "$T/prog-holder.out")" >&2; return 1; }
	restore_refused "fd 3" "ping socket over IPv4, id 4242" "ICMP id 4242 is taken"
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
	# the holder goes: the restore works
	kill -USR2 "$holder"
	wait "$holder"
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "rawsk: round trip with -R, then restored after the original is gone" {
	require_cs
	make_ns
	start_prog rawsk netns "$NS"
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
	# the original wrote to its output file, which the restored one has open
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "rawsk: refused at restore: a raw socket without CAP_NET_RAW; a ping socket outside ping_group_range" {
	require_cs
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	make_ns
	start_prog rawsk netns "$NS"
	dump_killed
	RESTORE_WRAP="setpriv --bounding-set -net_raw" restore_refused "fd 5" "raw socket over IPv4, protocol 1" \
		"CAP_NET_RAW"
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
	ping_range "1 0"
	restore_refused "fd 3" "ping socket over IPv4, id 4242" "net.ipv4.ping_group_range (1 0)"
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
	ping_range "0 0"
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "rawsk: refused at restore: UDP-Lite datagrams queued, to send again without CAP_NET_RAW; then restored" {
	require_cs
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	make_ns
	start_prog rawsk lite "$NS"
	dump_killed
	RESTORE_WRAP="setpriv --bounding-set -net_raw" restore_refused "fd 10" "UDP-Lite socket, port 7001" \
		"2 queued datagram(s)" "CAP_NET_RAW"
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "rawsk: refused: a ping socket with an echo reply not read (killed); with -R a warning" {
	require_cs
	make_ns
	start_prog rawsk unread "$NS"
	refused "fd 3" "ping socket over IPv4" "not read yet" "bytes queued"
	[ "$(proc_state "$PID")" = S ] || { echo "process $PID: state $(proc_state "$PID")" >&2; return 1; }
	dump_running --runtime=none
	grep -q "fd 3 (ping socket over IPv4.*left to the running process" "$T/dump.out" "$T/dump.log" ||
		{ echo "no warning in: $(cat "$T/dump.out")" >&2; return 1; }
	wake_and_wait "$PID"
	assert_prog_ok
}
