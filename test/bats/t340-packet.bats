#!/usr/bin/env bats
# t340-packet.bats - packet sockets (packet(7)). test/c/packet runs in a
# network namespace this test creates, with a veth pair pk0/pk1 there
# (cs-dump and cs-restore run in it too, under `nsenter --net`), and holds
# a SOCK_RAW ETH_P_ALL socket bound to pk0 with a locked classic BPF
# filter, a multicast membership added twice, promiscuous and allmulti
# memberships and a round robin fanout group it shares with a second such
# socket; an unbound SOCK_DGRAM socket with PACKET_* options; a SOCK_RAW
# ETH_P_IP one with PACKET_VNET_HDR; a SOCK_DGRAM one in a fanout group
# whose id the kernel chose. After the restore it checks each value
# (getsockname, getsockopt, SO_GET_FILTER, PACKET_FANOUT, the interface's
# multicast list and counters), and that the two sockets of the group
# share frames sent on pk1 and get none that their filter drops.
# The restore into a second namespace whose pk0 has another ifindex binds
# by name.
#
# Packets not read yet are dropped by cs-dump with a warning (as frames
# lost on the wire), killed or -R. Refused by cs-dump, one line naming the
# fd, the target left running: a memory-mapped ring (PACKET_RX_RING; its
# mapping, named by mm, when the fd was closed); an
# eBPF filter; a PACKET_FANOUT_CBPF group; a SOCK_PACKET socket; a socket
# bound to an interface that is gone; a socket of another network namespace. Refused by cs-restore's check
# phase: no interface of the saved name; no CAP_NET_RAW.

load helpers

PACKET=$CS_BUILDDIR/test/c/packet

setup() {
	cs_setup
	NS=cs-t340-$$-$RANDOM
}

teardown() {
	kill_recorded
	drop_netns "$NS" "$NS-b"
	cs_teardown
}

require_packet() {
	require_cs
	[ -x "$PACKET" ] || skip "$PACKET is not built (make test/c/packet)"
}

# veth_pair NS [EXTRA]: pk0/pk1 up in NS, after EXTRA other veth pairs (so
# that pk0's ifindex differs from another namespace's; the dummy module may
# be missing)
veth_pair() {
	local i
	# no IPv6 there: its MLD and router solicitations would take turns in
	# the round robin fanout group the test counts frames of
	nsenter --net="/run/netns/$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 \
		net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
	for ((i = 0; i < ${2:-0}; i++)); do
		ip -n "$1" link add "xv$i" type veth peer name "xv$i-p" || return 1
	done
	ip -n "$1" link add pk0 type veth peer name pk1 || return 1
	ip -n "$1" link set pk0 up && ip -n "$1" link set pk1 up && ip -n "$1" link set lo up
}

# wrap TOOL NS: $T/TOOL-NS runs cs-TOOL in network namespace NS (exec: same PID)
wrap() {
	printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s %s "$@"\n' "$2" "$CS_BUILDDIR/cs-$1/cs-$1" >"$T/cs-$1-$2"
	chmod +x "$T/cs-$1-$2"
}

# make_ns: the test's network namespace with its veth pair; cs-dump,
# cs-restore and the test programs (START_WRAP) in it
make_ns() {
	command -v nsenter >/dev/null || skip "nsenter (util-linux) is not installed"
	ip netns add "$NS" || skip "cannot create network namespaces here"
	veth_pair "$NS" || skip "cannot create a veth pair here"
	wrap dump "$NS"
	wrap restore "$NS"
	CS_DUMP=$T/cs-dump-$NS
	CS_RESTORE=$T/cs-restore-$NS
	START_WRAP="nsenter --net=/run/netns/$NS"
}

# pk_refused WORDS...: refused (helpers.bash); the target still sleeps, untraced
pk_refused() {
	refused "$@" || return 1
	[ "$(proc_state "$PID")" = S ] || { echo "process $PID: state $(proc_state "$PID")" >&2; return 1; }
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$PID/status")" = 0 ] || { echo "$PID is traced" >&2; return 1; }
}

# restore_refused CMD... WORDS are in RWORDS: CMD (a cs-restore) exits 1 with
# one line naming every word, and PID does not exist
restore_refused() {
	local st=0 w
	(close_fds; exec "$@" -D "$T/img") </dev/null >"$T/out" 2>"$T/err" || st=$?
	cat "$T/err" >>"$T/restore.out"
	[ "$st" = 1 ] || { echo "cs-restore: status $st, want 1: $(cat "$T/err")" >&2; return 1; }
	[ "$(wc -l <"$T/err")" = 1 ] || { echo "want one line on stderr:" >&2; cat "$T/err" >&2; return 1; }
	for w in "${RWORDS[@]}"; do
		grep -qF -- "$w" "$T/err" || { echo "\"$w\" not in: $(cat "$T/err")" >&2; return 1; }
	done
	[ ! -e "/proc/$PID" ] || { echo "PID $PID exists after a refused restore" >&2; return 1; }
}

@test "packet: control, the checks pass without a dump" {
	[ -x "$PACKET" ] || skip "$PACKET is not built"
	make_ns
	control packet netns "$NS" pk0 pk1
}

@test "packet: negative control, each check catches a change" {
	[ -x "$PACKET" ] || skip "$PACKET is not built"
	make_ns
	expect_detects_all packet "addr opts dgram-opts filter fanout mcast promisc recv copy-thresh" netns "$NS" pk0 pk1
}

@test "packet: round trip killed: address, options, filter, memberships, fanout; a frame comes in after the restore" {
	require_packet
	make_ns
	start_prog packet netns "$NS" pk0 pk1
	dump_killed
	expect_features "$T/img" +packet
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "packet: round trip with -R, then restored after the original is gone" {
	require_packet
	make_ns
	start_prog packet netns "$NS" pk0 pk1
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "packet: restored in another network namespace where pk0 has another ifindex: bound by name" {
	require_packet
	local a b
	make_ns
	ip netns add "$NS-b" || skip "cannot create network namespaces here"
	veth_pair "$NS-b" 2
	wrap restore "$NS-b"
	a=$(ip -n "$NS" -o link show pk0 | cut -d: -f1)
	b=$(ip -n "$NS-b" -o link show pk0 | cut -d: -f1)
	[ "$a" != "$b" ] || { echo "pk0 has ifindex $a in both namespaces" >&2; return 1; }
	start_prog packet netns "$NS" pk0 pk1
	dump_killed
	CS_RESTORE=$T/cs-restore-$NS-b restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "packet: packets not read yet are dropped with a warning (-R: left to the process, a warning); the socket receives after the restore" {
	require_packet
	make_ns
	start_prog packet unread "$NS" pk0 pk1
	dump_killed
	grep -q "fd 3 (packet socket, SOCK_RAW, protocol 0x88b6 on pk0).*bytes of packets not read yet are dropped" \
		"$T/dump.out" || { echo "no warning in: $(cat "$T/dump.out")" >&2; return 1; }
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
	# -R: a warning; the running process keeps its frame (no check of it here)
	start_prog packet unread "$NS" pk0 pk1
	rm -rf "$T/img"
	dump_running
	grep -q "fd 3 (packet socket.*bytes of packets not read yet are left to the running process" "$T/dump.out" ||
		{ echo "no warning in: $(cat "$T/dump.out")" >&2; return 1; }
}

@test "packet: refused: a memory-mapped ring (PACKET_RX_RING), with and without -R" {
	require_packet
	make_ns
	start_prog packet ring pk0
	pk_refused "fd 3" "packet socket" "memory-mapped ring"
	DUMP_OPTS=(-R)
	pk_refused "fd 3" "packet socket" "memory-mapped ring"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "packet: refused: a ring still mapped after its socket's fd was closed (the mapping is named)" {
	require_packet
	make_ns
	start_prog packet ring-nofd pk0
	pk_refused "maps socket:[" "not supported"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "packet: refused: an eBPF filter (SO_ATTACH_BPF)" {
	require_packet
	local st=0
	make_ns
	start_prog packet ebpf pk0 || st=$?
	[ $st != 77 ] || skip "bpf(2) cannot load a socket filter here"
	[ $st = 0 ]
	pk_refused "fd 3" "packet socket, SOCK_RAW, protocol 0x88b6 on pk0" "eBPF socket filter"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "packet: refused: a fanout group steered by a BPF program (PACKET_FANOUT_CBPF)" {
	require_packet
	make_ns
	start_prog packet cbpf-fanout pk0
	pk_refused "fd 3" "packet socket" "fanout group 4321" "PACKET_FANOUT_CBPF"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "packet: refused: an obsolete SOCK_PACKET socket" {
	require_packet
	make_ns
	start_prog packet sockpacket
	pk_refused "fd 3" "packet socket" "SOCK_PACKET"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "packet: refused: a socket bound to an interface that is gone" {
	require_packet
	make_ns
	start_prog packet bound pk0
	ip -n "$NS" link del pk0
	pk_refused "fd 3" "packet socket, SOCK_DGRAM, protocol 0x88b6" "bound to an interface that is gone"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "packet: refused: a socket made in another network namespace" {
	require_packet
	make_ns
	ip netns add "$NS-b" || skip "cannot create network namespaces here"
	start_prog packet foreign "$NS-b"
	pk_refused "fd 5" "packet socket" "not found by sock_diag in this network namespace"
	wake_and_wait "$PID"
	assert_prog_ok
}

@test "packet: refused at restore: no interface of the saved name; restored once it is back" {
	require_packet
	make_ns
	start_prog packet netns "$NS" pk0 pk1
	dump_killed
	ip -n "$NS" link del pk0
	RWORDS=("fd 3" "packet socket" "no interface named pk0")
	restore_refused "$CS_RESTORE"
	veth_pair "$NS"
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "packet: refused at restore: no CAP_NET_RAW" {
	require_packet
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	make_ns
	start_prog packet netns "$NS" pk0 pk1
	dump_killed
	# cs-restore without CAP_NET_RAW (out of its bounding set: root's
	# permitted set after the exec)
	RWORDS=("fd 3" "packet socket" "CAP_NET_RAW")
	restore_refused nsenter --net="/run/netns/$NS" setpriv --bounding-set -net_raw \
		"$CS_BUILDDIR/cs-restore/cs-restore"
	restore_wait
	wake_and_wait "$RPID"
	assert_prog_ok
}
