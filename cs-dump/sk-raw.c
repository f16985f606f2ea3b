/*
 * Raw sockets (raw(7)), ping sockets (icmp(7): SOCK_DGRAM of IPPROTO_ICMP
 * or IPPROTO_ICMPV6, allowed to the groups of net.ipv4.ping_group_range)
 * and UDP-Lite (udplite(7)) over IPv4 and IPv6.
 *
 * UDP-Lite is UDP with a checksum coverage: dump_udp saves it, queued
 * datagrams included, and the coverage options are added here.
 *
 * A raw or ping socket connected with port 0, as they are, has no peer for
 * getpeername(2) (ENOTCONN: inet_getname wants a destination port), and
 * ping sockets are in no sock_diag table (6.18, measured: an inet_diag
 * dump for IPPROTO_ICMP answers nothing while a ping socket exists; raw
 * sockets would need raw_diag's INET_DIAG_REQ_PROTOCOL). Both are in the
 * target's
 * /proc/PID/net/{raw,raw6,icmp,icmp6} (net/ipv4/raw.c raw_sock_seq_show,
 * net/ipv4/ping.c ping_v4_format_sock), one line per socket with the local
 * and remote address and port, the state and the inode: one parser serves
 * both kinds. A ping socket's local "port" is its ICMP echo id.
 *
 * Their receive queues cannot be copied: neither kind supports SO_PEEK_OFF
 * (EOPNOTSUPP, measured on 6.18), so only the first datagram could be
 * peeked. Unread datagrams are refused in kill mode, naming the fd and the
 * bytes queued (rx_queue of the same line); with -R they stay the running
 * process's (a warning: not in the image).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define LOG_PREFIX "sockets: "
#include "log.h"
#include "util.h"
#include "sk-opts.h"
#include "sk-xopts.h"
#include "sk-rawopts.h"
#include "sockets.h"

struct procsk {
	uint8_t dst[16];
	unsigned dport, state;
	unsigned long rxq;
};

/* The line of the socket with inode ino in /proc/PID/net/TABLE. 0, 1 not found, -1 (logged). */
static int proc_sock(pid_t pid, const char *table, int v6, uint64_t ino, struct procsk *p)
{
	char path[64], line[512];
	int found = 1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, table);
	f = fopen(path, "re");
	if (!f)
		return pr_perror("cannot read %s", path);
	while (found == 1 && fgets(line, sizeof(line), f)) {
		char rem[40];
		unsigned long long i;
		unsigned long txq;
		int n;

		if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%*x %39[0-9A-Fa-f]:%x %x %lx:%lx %*x:%*x %*x %*u %*d %llu%n",
			   rem, &p->dport, &p->state, &txq, &p->rxq, &i, &n) != 6 || i != ino)
			continue;
		if (strlen(rem) != (v6 ? 32u : 8u)) {
			found = -1;
			break;
		}
		/* each 32-bit word printed with %08X of its in-memory value */
		for (int w = 0; w < (v6 ? 4 : 1); w++) {
			char word[9];
			uint32_t x;

			memcpy(word, rem + 8 * w, 8);
			word[8] = 0;
			x = strtoul(word, NULL, 16);
			memcpy(p->dst + 4 * w, &x, 4);
		}
		found = 0;
	}
	fclose(f);
	if (found < 0)
		return pr_err("malformed line in %s", path);
	return found;
}

static int sockopt_int(int sk, int level, int name)
{
	int v = 0;
	socklen_t l = sizeof(v);

	getsockopt(sk, level, name, &v, &l);
	return v;
}

static int set_addr(ProtobufCBinaryData *b, const void *p, size_t l)
{
	b->data = xmalloc(l);
	if (!b->data)
		return -1;
	memcpy(b->data, p, l);
	b->len = l;
	return 0;
}

int dump_raw(struct dump_ctx *c, int fd, FdEntry *e, int sk, int family)
{
	InetSkEntry *s = e->sk;
	int kind = sk_rawkind(family, s->type, s->proto), v6 = family == AF_INET6, r;
	struct sockaddr_storage a;
	socklen_t al = sizeof(a);
	struct procsk p;
	char what[128];

	if (kind == SK_UDPLITE) {
		if (dump_udp(c, fd, e, sk, family))
			return -1;
		sk_raw_describe(fd, s, what, sizeof(what));
		return sk_rawopts_save(sk, s, what);
	}
	if (getsockname(sk, (struct sockaddr *)&a, &al))
		return pr_perror("fd %d (%s socket): cannot read its address", fd, kind == SK_PING ? "ping" : "raw");
	if (v6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a;

		r = set_addr(&s->src_addr, &in6->sin6_addr, 16);
		s->src_port = ntohs(in6->sin6_port);
	} else {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&a;

		r = set_addr(&s->src_addr, &in->sin_addr, 4);
		s->src_port = ntohs(in->sin_port);
	}
	if (r)
		return -1;
	/* a raw socket's "port" is its protocol (inet_create): nothing to bind */
	if (kind == SK_RAW)
		s->src_port = 0;
	sk_raw_describe(fd, s, what, sizeof(what));
	r = proc_sock(c->pid, kind == SK_PING ? (v6 ? "icmp6" : "icmp") : (v6 ? "raw6" : "raw"), v6, e->ino, &p);
	if (r < 0)
		return -1;
	if (r)
		return pr_err("%s: not found in /proc/%d/net/%s%s (a socket of another network namespace?)", what,
			      c->pid, kind == SK_PING ? "icmp" : "raw", v6 ? "6" : "");
	s->state = p.state;
	if (p.state == 1) {	/* TCP_ESTABLISHED: connect(2)ed */
		if (set_addr(&s->dst_addr, p.dst, v6 ? 16 : 4))
			return -1;
		s->dst_port = p.dport;
	}
	s->has_reuseaddr = s->has_reuseport = 1;
	s->reuseaddr = sockopt_int(sk, SOL_SOCKET, SO_REUSEADDR);
	s->reuseport = sockopt_int(sk, SOL_SOCKET, SO_REUSEPORT);
	if (v6) {
		s->has_v6only = 1;
		s->v6only = sockopt_int(sk, IPPROTO_IPV6, IPV6_V6ONLY);
	}
	if (udp_check_mcast(sk, c->pid, family, what))
		return -1;
	s->opts = sk_opts_save(sk, 1);
	if (!s->opts || sk_xopts_save(sk, s, what) || sk_rawopts_save(sk, s, what))
		return -1;
	if (p.rxq) {
		if (!c->leave_running)
			return pr_err("%s has datagrams not read yet (%lu bytes queued), which cannot be saved: "
				      "a raw or ping socket's queue cannot be copied (no SO_PEEK_OFF)", what, p.rxq);
		pr_warn("%s: datagrams not read yet (%lu bytes queued) are left to the running process, not in "
			"the image", what, p.rxq);
	}
	pr_debug("%s: state %u, %zu-byte address", what, s->state, s->src_addr.len);
	return 0;
}
