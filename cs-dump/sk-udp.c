/*
 * UDP sockets over IPv4 and IPv6: bound address and port, the connected
 * destination, options, and the datagrams waiting in the receive queue with
 * their senders' addresses (cs-restore sends them again from those
 * addresses through a raw socket).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define LOG_PREFIX "sockets: "
#include "log.h"
#include "util.h"
#include "sk-opts.h"
#include "sk-xopts.h"
#include "sockets.h"

static int sockopt_int(int sk, int level, int name)
{
	int v = 0;
	socklen_t l = sizeof(v);

	getsockopt(sk, level, name, &v, &l);
	return v;
}

/* Address bytes and port of a sockaddr_in/in6 into data/len and *port. */
static int addr_of(const struct sockaddr_storage *a, ProtobufCBinaryData *b, uint32_t *port)
{
	const void *p;
	size_t l;

	if (a->ss_family == AF_INET) {
		p = &((const struct sockaddr_in *)a)->sin_addr;
		l = 4;
		*port = ntohs(((const struct sockaddr_in *)a)->sin_port);
	} else {
		p = &((const struct sockaddr_in6 *)a)->sin6_addr;
		l = 16;
		*port = ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
	}
	b->data = xmalloc(l);
	if (!b->data)
		return -1;
	memcpy(b->data, p, l);
	b->len = l;
	return 0;
}

int dump_udp(struct dump_ctx *c, int fd, FdEntry *e, int sk, int family)
{
	InetSkEntry *s = e->sk;
	struct sockaddr_storage a;
	socklen_t al = sizeof(a);
	char what[96];

	snprintf(what, sizeof(what), "fd %d (%s socket over %s, inode %llu)", fd,
		 s->proto == IPPROTO_UDP ? "UDP" : "UDP-Lite", family == AF_INET ? "IPv4" : "IPv6",
		 (unsigned long long)e->ino);
	if (getsockname(sk, (struct sockaddr *)&a, &al))
		return pr_perror("%s: cannot read its address", what);
	if (addr_of(&a, &s->src_addr, &s->src_port))
		return -1;
	al = sizeof(a);
	if (getpeername(sk, (struct sockaddr *)&a, &al) == 0) {
		if (addr_of(&a, &s->dst_addr, &s->dst_port))
			return -1;
		s->state = 1;	/* TCP_ESTABLISHED, as sock_diag says for a connected UDP socket */
	} else if (errno == ENOTCONN) {
		s->state = 7;	/* TCP_CLOSE */
	} else {
		return pr_perror("%s: cannot read its peer", what);
	}
	s->has_reuseaddr = s->has_reuseport = 1;
	s->reuseaddr = sockopt_int(sk, SOL_SOCKET, SO_REUSEADDR);
	s->reuseport = sockopt_int(sk, SOL_SOCKET, SO_REUSEPORT);
	if (family == AF_INET6) {
		s->has_v6only = 1;
		s->v6only = sockopt_int(sk, IPPROTO_IPV6, IPV6_V6ONLY);
	}
	if (udp_check_mcast(sk, c->pid, family, what) || sk_opts_filter_refuse(sk, what))
		return -1;
	s->opts = sk_opts_save(sk, 1);
	if (!s->opts || sk_xopts_save(sk, s, what))
		return -1;
	return sk_peek_queue(sk, 1, 1, 0, what, &s->queue, &s->n_queue);
}
