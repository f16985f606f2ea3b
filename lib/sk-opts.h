/* Simple socket options shared by unix and inet sockets (socket(7)). */
#ifndef CS_SK_OPTS_H
#define CS_SK_OPTS_H

#include <stddef.h>
#include "fdinfo.pb-c.h"

/* Socket constants newer than Debian 12's headers (linux 6.1), or only in
 * the kernel's: the values of include/uapi (asm-generic/socket.h,
 * linux/netlink.h, linux/if_packet.h, linux/socket.h). */
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_VNET_HDR_SZ
#define PACKET_VNET_HDR_SZ 24	/* Linux 6.2 */
#endif
#ifndef SO_LOCK_FILTER
#define SO_LOCK_FILTER 44
#endif
#ifndef SO_GET_FILTER
#define SO_GET_FILTER SO_ATTACH_FILTER
#endif

/*
 * sk_opts_save - read the options of sk_opts_entry (fdinfo.proto) from
 * socket sk with getsockopt(2); broadcast only for inet sockets (inet != 0),
 * passcred and passsec only for the others.
 * Returns a new entry (free with sk_opts_entry__free_unpacked(o, NULL)) or
 * NULL (error logged: out of memory or getsockopt failed).
 */
SkOptsEntry *sk_opts_save(int sk, int inet);

/*
 * sk_opts_apply - set on sk every option of o that differs from what sk has
 * now (a new socket keeps the kernel's defaults, and its buffer sizes stay
 * unlocked). Buffer sizes are set with SO_SNDBUFFORCE/SO_RCVBUFFORCE
 * (CAP_NET_ADMIN) to half the saved value, which the kernel doubles back
 * (socket(7)); without CAP_NET_ADMIN with SO_SNDBUF/SO_RCVBUF, which
 * works up to net.core.wmem_max/rmem_max. SO_PEEK_OFF is left alone: see sk_opts_peek_off. Returns 0,
 * or -1 with a message in err (for the restore stub, which has no log).
 */
int sk_opts_apply(int sk, const SkOptsEntry *o, char *err, size_t len);

/*
 * sk_opts_filter_refuse - refuse socket sk (what names it: "fd N (...)")
 * when it has a socket filter of its own (SO_ATTACH_FILTER or
 * SO_ATTACH_BPF: SO_GET_FILTER gives a non-zero length, socket(7)) or a
 * locked one (SO_LOCK_FILTER): nothing in the images carries it, and the
 * restored socket would take every message the filter dropped (libudev's
 * uevent monitor filters by subsystem so). Returns 0, or -1 with one line
 * logged naming what. Kernel: net/core/sock.c SO_GET_FILTER, sk_get_filter.
 */
int sk_opts_filter_refuse(int sk, const char *what);

/* sk_opts_peek_off - set SO_PEEK_OFF as saved (last: sending data into the
 * socket's queue does not move it, reading does). 0, or -1 with err. */
int sk_opts_peek_off(int sk, const SkOptsEntry *o, char *err, size_t len);

#endif
