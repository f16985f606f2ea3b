/*
 * More options of inet sockets (ip(7), ipv6(7), socket(7), tcp(7)) that
 * ordinary servers set: IP_TOS, IP_PKTINFO, IPV6_RECVPKTINFO,
 * SO_BINDTODEVICE, TCP_DEFER_ACCEPT, TCP_FASTOPEN, ... (the inet_sk_entry
 * fields 160..199 of images/fdinfo.proto). An option is saved only when it
 * differs from what a new socket of the same family and type has, so that
 * the restoring host's own defaults stay defaults.
 */
#ifndef CS_SK_XOPTS_H
#define CS_SK_XOPTS_H

#include <stddef.h>
#include "fdinfo.pb-c.h"

/*
 * sk_xopts_save - read the options of socket sk (the dump's pidfd_getfd
 * copy) into s, whose family, type, backlog and tcp fields are set
 * already (they say which options apply: multicast ones to UDP,
 * TCP_DEFER_ACCEPT, TCP_FASTOPEN and SO_INCOMING_CPU to listeners, none
 * to an unconnected TCP socket; raw, ping and UDP-Lite sockets count as
 * UDP). Each is compared with a new socket(s->family, s->type, 0), or
 * with s->proto for a raw or ping socket (a ping socket cs-dump may not
 * make, outside net.ipv4.ping_group_range: a UDP socket stands in); one
 * that either socket cannot report
 * (ENOPROTOOPT: not in this kernel) is left out. SO_BINDTODEVICE is saved
 * by the interface's name whenever set. A listener's s->opts loses its
 * buffer sizes when they are a new socket's (the host's defaults: set
 * again, they would be locked for every connection it accepts). what
 * names the socket in errors.
 * Returns 0, or -1 (logged: no new socket, out of memory).
 */
int sk_xopts_save(int sk, InetSkEntry *s, const char *what);

/*
 * sk_xopts_apply - set on sk (a new socket made for s) the options saved
 * in s that differ from what sk has: pre_bind != 0 those that must come
 * before bind(2) (SO_BINDTODEVICE, IP_TRANSPARENT, IP_BIND_ADDRESS_NO_PORT),
 * otherwise the others. IP_TOS also sets SO_PRIORITY (ip(7)): call this
 * before sk_opts_apply. Returns 0, or -1 with "cannot set NAME to V: ..."
 * in err (for the restore stub, which has no log).
 */
int sk_xopts_apply(int sk, const InetSkEntry *s, int pre_bind, char *err, size_t len);

/*
 * sk_xopts_check - check phase of cs-restore: the interface named by
 * SO_BINDTODEVICE exists here (if_nametoindex(3)). Returns 0, or -1 with
 * the reason (naming the interface and the option) in err.
 */
int sk_xopts_check(const InetSkEntry *s, char *err, size_t len);

#endif
