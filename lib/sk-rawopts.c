/* Raw, ping and UDP-Lite sockets: see sk-rawopts.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/icmp.h>
#include <linux/filter.h>
#include <sys/socket.h>

#define LOG_PREFIX "sk-rawopts: "
#include "log.h"
#include "util.h"
#include "sk-rawopts.h"

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif
#ifndef SOL_UDPLITE
#define SOL_UDPLITE 136
#endif
#ifndef UDPLITE_SEND_CSCOV
#define UDPLITE_SEND_CSCOV 10
#endif
#ifndef UDPLITE_RECV_CSCOV
#define UDPLITE_RECV_CSCOV 11
#endif
#ifndef ICMPV6_FILTER
#define ICMPV6_FILTER 1
#endif
#define ICMP6_FILTER_LEN 32	/* struct icmp6_filter: 8 x u32 */
#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif
#define BPF_MAXINSNS_ 4096	/* net/core/filter.c: the most a classic program has */

/* The classic BPF filter of sk and SO_LOCK_FILTER into s. 0 or -1 (logged). */
static int filter_save(int sk, InetSkEntry *s, const char *what)
{
	socklen_t n = 0, l;
	int v = 0;

	/* optlen 0 asks for the number of instructions */
	if (getsockopt(sk, SOL_SOCKET, SO_GET_FILTER, NULL, &n))
		return pr_perror("%s: cannot read its socket filter (SO_GET_FILTER)", what);
	if (n > BPF_MAXINSNS_)
		return pr_err("%s: socket filter of %u instructions", what, (unsigned)n);
	if (n) {
		struct sock_filter *f = xmalloc(n * sizeof(*f));

		if (!f)
			return -1;
		l = n;
		if (getsockopt(sk, SOL_SOCKET, SO_GET_FILTER, f, &l) || l != n) {
			free(f);
			return pr_perror("%s: cannot read its socket filter of %u instructions", what, (unsigned)n);
		}
		s->has_sk_filter = 1;
		s->sk_filter.data = (uint8_t *)f;
		s->sk_filter.len = n * sizeof(*f);
	}
	l = sizeof(v);
	if (getsockopt(sk, SOL_SOCKET, SO_LOCK_FILTER, &v, &l) == 0 && v) {
		s->has_sk_filter_locked = 1;
		s->sk_filter_locked = 1;
	}
	return 0;
}

int sk_rawkind(int family, int type, int proto)
{
	if (family != AF_INET && family != AF_INET6)
		return SK_NOT_RAW;
	if (type == SOCK_RAW)
		return SK_RAW;
	if (type != SOCK_DGRAM)
		return SK_NOT_RAW;
	if ((family == AF_INET && proto == IPPROTO_ICMP) || (family == AF_INET6 && proto == IPPROTO_ICMPV6))
		return SK_PING;
	if (proto == IPPROTO_UDPLITE)
		return SK_UDPLITE;
	return SK_NOT_RAW;
}

const char *sk_raw_describe(unsigned fd, const InetSkEntry *s, char *buf, size_t len)
{
	const char *fam = s->family == AF_INET ? "IPv4" : "IPv6";

	switch (sk_rawkind(s->family, s->type, s->proto)) {
	case SK_PING:
		snprintf(buf, len, "fd %u (ping socket over %s, id %u)", fd, fam, s->src_port);
		break;
	case SK_UDPLITE:
		snprintf(buf, len, "fd %u (UDP-Lite socket over %s, port %u)", fd, fam, s->src_port);
		break;
	default:
		snprintf(buf, len, "fd %u (raw socket over %s, protocol %u)", fd, fam, s->proto);
	}
	return buf;
}

static int getint(int sk, int level, int name, int *v)
{
	socklen_t l = sizeof(*v);

	*v = 0;
	return getsockopt(sk, level, name, v, &l);
}

int sk_rawopts_save(int sk, InetSkEntry *s, const char *what)
{
	int kind = sk_rawkind(s->family, s->type, s->proto), v;

	if (kind != SK_NOT_RAW && filter_save(sk, s, what))
		return -1;
	if (kind == SK_UDPLITE) {
		if (getint(sk, SOL_UDPLITE, UDPLITE_SEND_CSCOV, &v))
			return pr_perror("%s: cannot read UDPLITE_SEND_CSCOV", what);
		s->has_udplite_send_cscov = 1;
		s->udplite_send_cscov = v;
		if (getint(sk, SOL_UDPLITE, UDPLITE_RECV_CSCOV, &v))
			return pr_perror("%s: cannot read UDPLITE_RECV_CSCOV", what);
		s->has_udplite_recv_cscov = 1;
		s->udplite_recv_cscov = v;
		return 0;
	}
	if (kind != SK_RAW)
		return 0;
	if (s->family == AF_INET) {
		struct icmp_filter f;
		socklen_t l = sizeof(f);

		if (getint(sk, IPPROTO_IP, IP_HDRINCL, &v))
			return pr_perror("%s: cannot read IP_HDRINCL", what);
		s->has_ip_hdrincl = 1;
		s->ip_hdrincl = !!v;
		if (s->proto == IPPROTO_ICMP) {
			if (getsockopt(sk, SOL_RAW, ICMP_FILTER, &f, &l) || l != sizeof(f))
				return pr_perror("%s: cannot read ICMP_FILTER", what);
			s->has_icmp_filter = 1;
			s->icmp_filter = f.data;
		}
		return 0;
	}
	if (s->proto == IPPROTO_ICMPV6) {
		socklen_t l = ICMP6_FILTER_LEN;
		uint8_t *f = xmalloc(ICMP6_FILTER_LEN);

		if (!f)
			return -1;
		if (getsockopt(sk, IPPROTO_ICMPV6, ICMPV6_FILTER, f, &l) || l != ICMP6_FILTER_LEN) {
			free(f);
			return pr_perror("%s: cannot read ICMPV6_FILTER", what);
		}
		s->has_icmp6_filter = 1;
		s->icmp6_filter.data = f;
		s->icmp6_filter.len = ICMP6_FILTER_LEN;
	}
	/* since 4.5; ENOPROTOOPT before: left out */
	if (getint(sk, IPPROTO_IPV6, IPV6_HDRINCL, &v) == 0) {
		s->has_ipv6_hdrincl = 1;
		s->ipv6_hdrincl = !!v;
	}
	if (s->proto == IPPROTO_ICMPV6)
		return 0;
	if (getint(sk, IPPROTO_IPV6, IPV6_CHECKSUM, &v))
		return pr_perror("%s: cannot read IPV6_CHECKSUM", what);
	s->has_ipv6_checksum = 1;
	s->ipv6_checksum = v;
	return 0;
}

/* Set int option level/name to want unless sk has it. */
static int setint(int sk, int level, int name, const char *oname, int want, char *err, size_t len)
{
	int cur;

	if (getint(sk, level, name, &cur) == 0 && cur == want)
		return 0;
	if (setsockopt(sk, level, name, &want, sizeof(want)) == 0)
		return 0;
	snprintf(err, len, "cannot set %s to %d: %m", oname, want);
	return -1;
}

int sk_rawopts_apply(int sk, const InetSkEntry *s, char *err, size_t len)
{
	if (s->has_ip_hdrincl && setint(sk, IPPROTO_IP, IP_HDRINCL, "IP_HDRINCL", s->ip_hdrincl, err, len))
		return -1;
	if (s->has_ipv6_hdrincl &&
	    setint(sk, IPPROTO_IPV6, IPV6_HDRINCL, "IPV6_HDRINCL", s->ipv6_hdrincl, err, len))
		return -1;
	if (s->has_ipv6_checksum &&
	    setint(sk, IPPROTO_IPV6, IPV6_CHECKSUM, "IPV6_CHECKSUM", s->ipv6_checksum, err, len))
		return -1;
	if (s->has_udplite_send_cscov &&
	    setint(sk, SOL_UDPLITE, UDPLITE_SEND_CSCOV, "UDPLITE_SEND_CSCOV", s->udplite_send_cscov, err, len))
		return -1;
	if (s->has_udplite_recv_cscov &&
	    setint(sk, SOL_UDPLITE, UDPLITE_RECV_CSCOV, "UDPLITE_RECV_CSCOV", s->udplite_recv_cscov, err, len))
		return -1;
	if (s->has_icmp_filter) {
		struct icmp_filter f = { .data = s->icmp_filter };

		if (setsockopt(sk, SOL_RAW, ICMP_FILTER, &f, sizeof(f))) {
			snprintf(err, len, "cannot set ICMP_FILTER to 0x%x: %m", s->icmp_filter);
			return -1;
		}
	}
	if (s->has_icmp6_filter) {
		if (s->icmp6_filter.len != ICMP6_FILTER_LEN) {
			snprintf(err, len, "malformed ICMPV6_FILTER in files.img (%zu bytes)", s->icmp6_filter.len);
			return -1;
		}
		if (setsockopt(sk, IPPROTO_ICMPV6, ICMPV6_FILTER, s->icmp6_filter.data, ICMP6_FILTER_LEN)) {
			snprintf(err, len, "cannot set ICMPV6_FILTER: %m");
			return -1;
		}
	}
	if (s->has_sk_filter) {
		struct sock_fprog p = { .len = s->sk_filter.len / sizeof(struct sock_filter),
					.filter = (struct sock_filter *)s->sk_filter.data };

		if (!p.len || s->sk_filter.len % sizeof(struct sock_filter) || p.len > BPF_MAXINSNS_) {
			snprintf(err, len, "malformed socket filter in files.img (%zu bytes)", s->sk_filter.len);
			return -1;
		}
		if (setsockopt(sk, SOL_SOCKET, SO_ATTACH_FILTER, &p, sizeof(p))) {
			snprintf(err, len, "cannot attach its socket filter of %u instructions: %m", p.len);
			return -1;
		}
	}
	if (s->has_sk_filter_locked && s->sk_filter_locked &&
	    setint(sk, SOL_SOCKET, SO_LOCK_FILTER, "SO_LOCK_FILTER", 1, err, len))
		return -1;
	return 0;
}
