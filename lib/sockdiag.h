/* Netlink sock_diag (inet_diag) through libnl: what getsockopt cannot tell. */
#ifndef CS_SOCKDIAG_H
#define CS_SOCKDIAG_H

#include <stdint.h>

struct sk_diag {
	uint8_t state;		/* TCP_* (include/net/tcp_states.h) */
	uint32_t rqueue;	/* listener: accept queue length; else bytes unread */
	uint32_t wqueue;	/* listener: backlog (sk_max_ack_backlog); else bytes unsent */
};

/*
 * sockdiag_inet - find the socket with inode ino among family (AF_INET or
 * AF_INET6) sockets of protocol proto (IPPROTO_TCP/UDP) with an
 * SOCK_DIAG_BY_FAMILY dump (kernel: Documentation/networking, sock_diag(7)).
 * Returns 0 and fills *out, 1 when not found, -1 on a netlink error (logged).
 */
int sockdiag_inet(int family, int proto, uint64_t ino, struct sk_diag *out);

#endif
