/*
 * Raw sockets (raw(7)), ping sockets (icmp(7): SOCK_DGRAM of protocol
 * IPPROTO_ICMP or IPPROTO_ICMPV6) and UDP-Lite (udplite(7)) over IPv4 and
 * IPv6: which inet sockets these are, how to name them, and their own
 * options (inet_sk_entry fields 200..209 of images/fdinfo.proto), shared
 * by cs-dump and cs-restore.
 */
#ifndef CS_SK_RAWOPTS_H
#define CS_SK_RAWOPTS_H

#include <stddef.h>
#include "fdinfo.pb-c.h"

enum sk_rawkind {
	SK_NOT_RAW = 0,
	SK_RAW,		/* SOCK_RAW, any protocol */
	SK_PING,	/* SOCK_DGRAM, IPPROTO_ICMP (IPv4) or IPPROTO_ICMPV6 (IPv6) */
	SK_UDPLITE,	/* SOCK_DGRAM, IPPROTO_UDPLITE */
};

/*
 * sk_rawkind - which of these an inet socket of family (AF_INET,
 * AF_INET6), type (SO_TYPE) and proto (SO_PROTOCOL) is. Returns an enum
 * sk_rawkind, SK_NOT_RAW for anything else (TCP, UDP, ...).
 */
int sk_rawkind(int family, int type, int proto);

/*
 * sk_raw_describe - "fd N (ping socket over IPv4, id 4242)", "fd N (raw
 * socket over IPv6, protocol 58)", "fd N (UDP-Lite socket over IPv4, port
 * P)" for fd and s (family, type, proto, src_port set), into buf (len
 * bytes). Returns buf.
 */
const char *sk_raw_describe(unsigned fd, const InetSkEntry *s, char *buf, size_t len);

/*
 * sk_rawopts_save - read the options of fields 200..208 that apply to s
 * (family, type, proto set) from socket sk: IP_HDRINCL (raw IPv4),
 * ICMP_FILTER (raw IPPROTO_ICMP), IPV6_CHECKSUM (raw IPv6 but ICMPv6,
 * whose checksum the kernel always computes), ICMPV6_FILTER (raw
 * IPPROTO_ICMPV6), IPV6_HDRINCL (raw IPv6, when the kernel has it),
 * UDPLITE_SEND_CSCOV and UDPLITE_RECV_CSCOV (UDP-Lite); on all three
 * kinds, a classic BPF socket filter (SO_GET_FILTER, the program as
 * SO_ATTACH_FILTER took it) and SO_LOCK_FILTER. Each is saved whatever
 * its value. An eBPF filter (SO_ATTACH_BPF) reads back as none and is
 * not saved. what names the socket in errors.
 * Returns 0, or -1 (logged: getsockopt failed, out of memory).
 * Sources: raw(7), ip(7) IP_HDRINCL, ipv6(7)/RFC 3542 IPV6_CHECKSUM and
 * ICMP6_FILTER, udplite(7), socket(7) SO_ATTACH_FILTER and SO_LOCK_FILTER,
 * net/core/filter.c sk_get_filter (the length is in instructions),
 * linux/icmp.h.
 */
int sk_rawopts_save(int sk, InetSkEntry *s, const char *what);

/*
 * sk_rawopts_apply - set on sk (a new socket made for s) the options of
 * fields 200..208 saved in s, each only when it differs from what sk has;
 * the socket filter is attached, then locked, last.
 * Returns 0, or -1 with "cannot set NAME: ..." in err (for the restore
 * stub, which has no log).
 */
int sk_rawopts_apply(int sk, const InetSkEntry *s, char *err, size_t len);

#endif
