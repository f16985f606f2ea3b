/*
 * UDP sockets: bound at their address and port, their queued datagrams sent
 * to them again, then connected. A datagram is sent again from its saved
 * source address and port through a raw socket of protocol UDP (raw(7),
 * CAP_NET_RAW) that writes the UDP header itself, so the program's
 * recvfrom() sees the sender it saw before; IP_FREEBIND lets that source be
 * an address this host no longer has. The datagrams go to the socket's
 * bound address (the loopback address when it is bound to the wildcard).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#define LOG_PREFIX "sockets: "
#include "log.h"
#include "util.h"
#include "sk-opts.h"
#include "sk-xopts.h"
#include "sk-rawopts.h"
#include "sockets.h"

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif
#ifndef SO_PEEK_OFF
#define SO_PEEK_OFF 42
#endif

/* IPPROTO_UDP, or IPPROTO_UDPLITE for a UDP-Lite socket (udplite(7)) */
static int udp_proto(const InetSkEntry *s)
{
	return s->proto == IPPROTO_UDPLITE ? IPPROTO_UDPLITE : IPPROTO_UDP;
}

/*
 * The UDP-Lite checksum of an IPv4 datagram pkt (len bytes, header
 * included) from src to dst with coverage 0 (the whole datagram): RFC 3828
 * 3.1, the Internet checksum over the pseudo-header (length: the whole
 * datagram's) and the covered bytes; never 0 (an UDP-Lite receiver drops
 * a zero checksum). A raw IPv4 socket computes none; IPv6's does
 * (IPV6_CHECKSUM).
 */
static uint16_t udplite4_csum(const uint8_t *src, const uint8_t *dst, const uint8_t *pkt, size_t len)
{
	uint32_t sum = 0;

	for (int i = 0; i < 4; i += 2)
		sum += (src[i] << 8 | src[i + 1]) + (dst[i] << 8 | dst[i + 1]);
	sum += IPPROTO_UDPLITE + (uint32_t)len;
	for (size_t i = 0; i < len; i += 2)
		sum += pkt[i] << 8 | (i + 1 < len ? pkt[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	return htons(sum ? sum : 0xffff);
}

/* A UDP socket of e with its reuse options, bound when it was. -1 (errno) on failure. */
static int udp_bound(const InetSkEntry *s)
{
	struct sockaddr_storage a;
	socklen_t al;
	int sk = socket(s->family, SOCK_DGRAM | SOCK_CLOEXEC, udp_proto(s)), e;
	char oe[200];

	if (sk < 0)
		return -1;
	sk_setint(sk, SOL_SOCKET, SO_REUSEADDR, s->reuseaddr);
	sk_setint(sk, SOL_SOCKET, SO_REUSEPORT, s->reuseport);
	if (s->family == AF_INET6)
		sk_setint(sk, IPPROTO_IPV6, IPV6_V6ONLY, s->v6only);
	if (sk_xopts_apply(sk, s, 1, oe, sizeof(oe))) {
		e = errno;
		close(sk);
		errno = e;
		return -1;
	}
	if (!s->src_port)
		return sk;
	if (inet_sockaddr(s->family, &s->src_addr, s->src_port, &a, &al) == 0 &&
	    bind(sk, (struct sockaddr *)&a, al) == 0)
		return sk;
	e = errno ? errno : EINVAL;
	close(sk);
	errno = e;
	return -1;
}

int check_udp(const FdEntry *e)
{
	const InetSkEntry *s = e->sk;
	char addr[INET6_ADDRSTRLEN] = "?";
	int sk;

	if ((e->has_peer_fd || e->has_from_pid) || !s->src_port)
		return 0;
	sk = udp_bound(s);
	if (sk < 0) {
		inet_ntop(s->family, s->src_addr.data, addr, sizeof(addr));
		return pr_perror("fd %u: cannot bind UDP socket to %s port %u again", e->fd, addr, s->src_port);
	}
	close(sk);
	/* the queued datagrams go again through a raw socket (replay) */
	if (s->n_queue) {
		sk = socket(s->family, SOCK_RAW | SOCK_CLOEXEC, udp_proto(s));
		if (sk < 0)
			return pr_perror("fd %u (%s socket, port %u): its %zu queued datagram(s) are sent again through "
					 "a raw socket, which needs CAP_NET_RAW", e->fd,
					 udp_proto(s) == IPPROTO_UDP ? "UDP" : "UDP-Lite", s->src_port, s->n_queue);
		close(sk);
	}
	return 0;
}

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Send datagram m to the socket bound at s's address, from m's source. */
static int replay(const InetSkEntry *s, const SkQueueMsg *m, char *err, size_t len)
{
	struct sockaddr_storage src, dst;
	socklen_t sl = 0, dl = 0;
	uint8_t to[16], from[16];
	int fam, raw, ret = -1;
	struct udphdr *h;
	char *pkt;

	if (!m->has_src || !m->has_src_port || (m->src.len != 4 && m->src.len != 16) || m->data.len > 65507) {
		snprintf(err, len, "malformed queued datagram in files.img");
		return -1;
	}
	memcpy(from, m->src.data, m->src.len);
	memcpy(to, s->src_addr.data, s->src_addr.len);
	fam = m->src.len == 4 ? AF_INET : AF_INET6;
	if (fam == AF_INET6 && !memcmp(from, v4mapped, 12)) {
		/* an IPv4 sender seen by a dual-stack IPv6 socket */
		fam = AF_INET;
		memmove(from, from + 12, 4);
		if (!memcmp(to, v4mapped, 12))
			memmove(to, to + 12, 4);
		else
			memset(to, 0, 4);
	}
	if (fam == AF_INET) {
		ProtobufCBinaryData f = { 4, from }, t = { 4, to };
		static const uint8_t any[4], lo[4] = { 127, 0, 0, 1 };

		if (!memcmp(to, any, 4))
			memcpy(to, lo, 4);
		inet_sockaddr(AF_INET, &f, 0, &src, &sl);
		inet_sockaddr(AF_INET, &t, 0, &dst, &dl);
	} else {
		ProtobufCBinaryData f = { 16, from }, t = { 16, to };

		if (!memcmp(to, &in6addr_any, 16))
			memcpy(to, &in6addr_loopback, 16);
		inet_sockaddr(AF_INET6, &f, 0, &src, &sl);
		inet_sockaddr(AF_INET6, &t, 0, &dst, &dl);
	}
	pkt = xmalloc(sizeof(*h) + m->data.len);
	if (!pkt) {
		snprintf(err, len, "out of memory");
		return -1;
	}
	h = (struct udphdr *)pkt;
	h->source = htons(m->src_port);
	h->dest = htons(s->src_port);
	/* UDP-Lite: the length field is the checksum coverage, 0 all of it */
	h->len = udp_proto(s) == IPPROTO_UDP ? htons(sizeof(*h) + m->data.len) : 0;
	h->check = 0;	/* IPv4: none; IPv6: filled by the kernel (IPV6_CHECKSUM) */
	memcpy(pkt + sizeof(*h), m->data.data, m->data.len);
	if (fam == AF_INET && udp_proto(s) == IPPROTO_UDPLITE)
		h->check = udplite4_csum(from, to, (const uint8_t *)pkt, sizeof(*h) + m->data.len);
	raw = socket(fam, SOCK_RAW | SOCK_CLOEXEC, udp_proto(s));
	if (raw < 0) {
		snprintf(err, len, "cannot create a raw socket to queue a datagram again: %m");
		goto out;
	}
	if (fam == AF_INET)
		sk_setint(raw, IPPROTO_IP, IP_FREEBIND, 1);
	else {
		sk_setint(raw, IPPROTO_IPV6, IPV6_FREEBIND, 1);
		sk_setint(raw, IPPROTO_IPV6, IPV6_CHECKSUM, offsetof(struct udphdr, check));
	}
	if (bind(raw, (struct sockaddr *)&src, sl)) {
		snprintf(err, len, "cannot send a queued datagram again from its source address: %m");
		goto out;
	}
	if (sendto(raw, pkt, sizeof(*h) + m->data.len, 0, (struct sockaddr *)&dst, dl) !=
	    (ssize_t)(sizeof(*h) + m->data.len)) {
		snprintf(err, len, "cannot send a queued datagram again: %m");
		goto out;
	}
	ret = 0;
out:
	if (raw >= 0)
		close(raw);
	free(pkt);
	return ret;
}

/* How many datagrams sk has queued (peeked along with SO_PEEK_OFF, then off again). */
static size_t queued(int sk)
{
	int off = 0, none = -1;
	size_t n = 0;
	char b;

	for (;;) {
		ssize_t r;

		setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
		r = recv(sk, &b, 1, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
		if (r < 0)
			break;
		n++;
		off += r;
	}
	setsockopt(sk, SOL_SOCKET, SO_PEEK_OFF, &none, sizeof(none));
	return n;
}

int udp_make(const FdEntry *e, char *err, size_t len)
{
	const InetSkEntry *s = e->sk;
	struct sockaddr_storage a;
	socklen_t al;
	char oe[200];
	int sk = udp_bound(s);

	if (sk < 0) {
		snprintf(err, len, "fd %u: cannot bind UDP socket to port %u: %m", e->fd, s->src_port);
		return -1;
	}
	if (sk_xopts_apply(sk, s, 0, oe, sizeof(oe)) || sk_rawopts_apply(sk, s, oe, sizeof(oe)) ||
	    sk_opts_apply(sk, s->opts, oe, sizeof(oe))) {
		snprintf(err, len, "fd %u (UDP socket): %s", e->fd, oe);
		goto fail;
	}
	for (size_t i = 0; i < s->n_queue; i++)
		if (replay(s, s->queue[i], oe, sizeof(oe))) {
			snprintf(err, len, "fd %u (UDP socket, port %u): %s", e->fd, s->src_port, oe);
			goto fail;
		}
	/* loopback delivery runs in softirq context, normally before sendto returns */
	for (int t = 0; s->n_queue && queued(sk) < s->n_queue; t++) {
		if (t == 100) {
			snprintf(err, len, "fd %u (UDP socket, port %u): %zu of %zu datagrams queued again arrived",
				 e->fd, s->src_port, queued(sk), s->n_queue);
			goto fail;
		}
		poll(NULL, 0, 10);
	}
	if (s->dst_port && inet_sockaddr(s->family, &s->dst_addr, s->dst_port, &a, &al) == 0 &&
	    connect(sk, (struct sockaddr *)&a, al)) {
		snprintf(err, len, "fd %u: cannot connect UDP socket to port %u: %m", e->fd, s->dst_port);
		goto fail;
	}
	if (sk_opts_peek_off(sk, s->opts, oe, sizeof(oe))) {
		snprintf(err, len, "fd %u (UDP socket): %s", e->fd, oe);
		goto fail;
	}
	return sk;
fail:
	close(sk);
	return -1;
}
