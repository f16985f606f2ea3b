/*
 * The network lock (--network-lock): nftables rules that drop every packet
 * of the TCP connections being checkpointed or restored, both directions,
 * matched by their 4-tuple, in a table of our own.
 *
 * Why: once cs-dump has killed the target, its connections are gone from
 * the kernel (closed silently in repair mode) until cs-restore makes them
 * again. A packet from the peer in between finds no socket, and the kernel
 * answers it with a RST (tcp_v4_send_reset, net/ipv4/tcp_ipv4.c): the peer's
 * connection dies. Dropped instead, the packet is sent again by the peer's
 * retransmission timer, and the restored socket takes it.
 *
 * One table per command run, family inet (IPv4 and IPv6 in one table,
 * nft(8) "ADDRESS FAMILIES"), named "checksync-<d|r><pid>-<8 hex digits>",
 * with two base chains hooked at input and output at priority raw (-300,
 * before conntrack). nftables drops a packet when any base chain on the
 * hook drops it, so other tables' accept verdicts do not undo ours.
 * Needs CAP_NET_ADMIN (nf_tables netlink). Sources: nft(8),
 * libnftables(3), libnftables-json(5).
 */
#ifndef CS_NETLOCK_H
#define CS_NETLOCK_H

#include <stddef.h>
#include <stdint.h>

#define NETLOCK_PREFIX "checksync-"
#define NETLOCK_NAME_MAX 48

struct netlock;

/*
 * netlock_parse_mode - the argument of --network-lock: "nftables" sets *on
 * to 1, "skip" to 0. Anything else: one line "TOOL: invalid --network-lock
 * ..." on stderr and -1. ("iptables", CRIU's default, is not offered.)
 */
int netlock_parse_mode(const char *tool, const char *arg, int *on);

/*
 * netlock_create - make a new, empty lock table. kind: 'd' (cs-dump) or
 * 'r' (cs-restore), part of the name with our PID and a random suffix
 * (getrandom(2)), so that two runs never share a table.
 * Returns the lock, or NULL after one error line naming the cause
 * (nftables not usable: no CAP_NET_ADMIN, no nf_tables in the kernel).
 */
struct netlock *netlock_create(char kind);

/* netlock_name - the table's name (NUL-terminated, at most NETLOCK_NAME_MAX). */
const char *netlock_name(const struct netlock *nl);

/* netlock_count - how many connections the lock holds so far. */
size_t netlock_count(const struct netlock *nl);

/*
 * netlock_add - drop the packets of one TCP connection, both ways.
 * family: AF_INET (addresses of 4 bytes) or AF_INET6 (16 bytes; a
 * v4-mapped address ::ffff:a.b.c.d is matched as the IPv4 packets it
 * stands for). lport/rport: local and remote port, host byte order.
 * what: names the connection in the error message. Both rules go in
 * one nftables transaction. Returns 0, or -1 after an error line.
 */
int netlock_add(struct netlock *nl, int family, const uint8_t *laddr, uint16_t lport, const uint8_t *raddr,
		uint16_t rport, const char *what);

/*
 * netlock_remove - delete the table and free nl (NULL: nothing). Returns 0,
 * or -1 after a warning line (the table is left; its name is in the line).
 */
int netlock_remove(struct netlock *nl);

/*
 * netlock_remove_with - delete the table of nl and table inet OTHER (a name
 * netlock_name_ok accepts) in one nftables transaction, and free nl: one
 * commit, so one wait for the hooks to go (two separate deletes took 12 +
 * 16 ms here, one transaction 19 ms). Returns 0 when both are gone; -1,
 * with nothing changed and nl kept, when the transaction failed (OTHER is
 * not there, or another error: only a debug line).
 */
int netlock_remove_with(struct netlock *nl, const char *other);

/* netlock_forget - free nl, leaving its table in place (cs-dump's kill mode). */
void netlock_forget(struct netlock *nl);

/* netlock_name_ok - is name one that netlock_create makes? 1 or 0. Checked
 * before a name read from an image is used. */
int netlock_name_ok(const char *name);

/*
 * netlock_remove_named - delete table inet NAME if it exists here (the
 * dump's lock, named in the images, when restoring on the host that
 * dumped). Refuses (-1, a warning) a name netlock_name_ok rejects.
 * Returns 1 when it was there and is removed, 0 when there was none,
 * -1 on error (a warning: the restore itself has succeeded by then).
 */
int netlock_remove_named(const char *name);
#endif
