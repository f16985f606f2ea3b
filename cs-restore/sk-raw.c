/*
 * Raw sockets (raw(7)) and ping sockets (icmp(7)): made again with their
 * family, type and protocol, options, bound address (a ping socket: its
 * ICMP echo id, which its echo replies carry back to it) and connected
 * peer. UDP-Lite sockets go the UDP way (sk-udp.c). A raw socket needs
 * CAP_NET_RAW; a ping socket a group of the maker in
 * net.ipv4.ping_group_range (of the network namespace it is made in);
 * both are checked, and a ping id taken by another socket, in the check
 * phase by making the socket once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define LOG_PREFIX "sockets: "
#include "log.h"
#include "util.h"
#include "sk-opts.h"
#include "sk-xopts.h"
#include "sk-rawopts.h"
#include "sockets.h"

static int is_any(const ProtobufCBinaryData *a)
{
	for (size_t i = 0; i < a->len; i++)
		if (a->data[i])
			return 0;
	return 1;
}

/* net.ipv4.ping_group_range of our network namespace, for messages */
static void ping_range(char *buf, size_t len)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ping_group_range", "re");
	unsigned long lo, hi;

	if (f && fscanf(f, "%lu %lu", &lo, &hi) == 2)
		snprintf(buf, len, "%lu %lu", lo, hi);
	else
		snprintf(buf, len, "?");
	if (f)
		fclose(f);
}

int is_raw_sk(const FdEntry *e)
{
	int k;

	if (e->type != FD_INET || !e->sk || (e->sk->has_closed && e->sk->closed))
		return 0;
	k = sk_rawkind(e->sk->family, e->sk->type, e->sk->proto);
	return k == SK_RAW || k == SK_PING;
}

int raw_make(const FdEntry *e, char *err, size_t len)
{
	const InetSkEntry *s = e->sk;
	int ping = sk_rawkind(s->family, s->type, s->proto) == SK_PING, sk;
	struct sockaddr_storage a;
	socklen_t al;
	char what[128], oe[200];

	sk_raw_describe(e->fd, s, what, sizeof(what));
	sk = socket(s->family, s->type | SOCK_CLOEXEC, s->proto);
	if (sk < 0) {
		if (!ping && (errno == EPERM || errno == EACCES))
			snprintf(err, len, "%s: a raw socket needs CAP_NET_RAW, which cs-restore lacks: %m", what);
		else if (ping && errno == EACCES) {
			char r[64];

			ping_range(r, sizeof(r));
			snprintf(err, len, "%s: cannot make a ping socket: no group of cs-restore (gid %u) is in "
				 "net.ipv4.ping_group_range (%s) of this network namespace", what, (unsigned)getgid(), r);
		} else
			snprintf(err, len, "%s: cannot create the socket: %m", what);
		return -1;
	}
	sk_setint(sk, SOL_SOCKET, SO_REUSEADDR, s->reuseaddr);
	sk_setint(sk, SOL_SOCKET, SO_REUSEPORT, s->reuseport);
	if (s->family == AF_INET6 && s->has_v6only)
		sk_setint(sk, IPPROTO_IPV6, IPV6_V6ONLY, s->v6only);
	if (sk_xopts_apply(sk, s, 1, oe, sizeof(oe))) {
		snprintf(err, len, "%s: %s", what, oe);
		goto fail;
	}
	/* a ping socket never bound (id 0) gets its id at its first send; a raw
	 * socket is bound to an address only */
	if ((ping && s->src_port) || !is_any(&s->src_addr)) {
		if (inet_sockaddr(s->family, &s->src_addr, ping ? s->src_port : 0, &a, &al)) {
			snprintf(err, len, "%s: malformed address in files.img", what);
			goto fail;
		}
		if (bind(sk, (struct sockaddr *)&a, al)) {
			if (ping && errno == EADDRINUSE)
				snprintf(err, len, "%s: cannot bind to ICMP id %u again: it is taken by another ping "
					 "socket: %m", what, s->src_port);
			else
				snprintf(err, len, "%s: cannot bind it again: %m", what);
			goto fail;
		}
	}
	if (sk_xopts_apply(sk, s, 0, oe, sizeof(oe)) || sk_rawopts_apply(sk, s, oe, sizeof(oe)) ||
	    sk_opts_apply(sk, s->opts, oe, sizeof(oe))) {
		snprintf(err, len, "%s: %s", what, oe);
		goto fail;
	}
	if (s->state == 1 && s->dst_addr.len) {
		if (inet_sockaddr(s->family, &s->dst_addr, s->dst_port, &a, &al) ||
		    connect(sk, (struct sockaddr *)&a, al)) {
			snprintf(err, len, "%s: cannot connect it again: %m", what);
			goto fail;
		}
	}
	return sk;
fail:
	close(sk);
	return -1;
}

/*
 * The inode of a ping socket of our network namespace whose ICMP id is
 * id, from /proc/self/net/icmp and icmp6 (both families share one table
 * of ids, net/ipv4/ping.c ping_get_port); 0 when none; its table in *tab.
 */
static unsigned long long ping_id_holder(unsigned id, const char **tab)
{
	static const char *const tables[] = { "icmp", "icmp6" };
	unsigned long long ino = 0;

	for (size_t t = 0; t < 2 && !ino; t++) {
		char path[64], line[512];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/net/%s", tables[t]);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (!ino && fgets(line, sizeof(line), f)) {
			unsigned port;
			unsigned long long i;

			if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*s %*x %*s %*s %*s %*s %*s %llu", &port, &i) == 2 &&
			    port == id && i) {
				ino = i;
				*tab = tables[t];
			}
		}
		fclose(f);
	}
	return ino;
}

int check_raw(const FdEntry *e)
{
	const InetSkEntry *s = e->sk;
	const char *tab = "";
	unsigned long long ino;
	char msg[400];
	int sk;

	if (e->has_peer_fd || e->has_from_pid)
		return 0;
	/*
	 * A new ping socket has SO_REUSEADDR (its inetsw entry has
	 * INET_PROTOSW_REUSE), so bind(2) to an id another socket with
	 * SO_REUSEADDR holds succeeds (seen on 6.18), and the echo replies
	 * go to one of the two: look for the id ourselves.
	 */
	if (sk_rawkind(s->family, s->type, s->proto) == SK_PING && s->src_port &&
	    (ino = ping_id_holder(s->src_port, &tab)))
		return pr_err("%s: ICMP id %u is taken by another ping socket here (inode %llu in /proc/net/%s): its "
			      "echo replies could go there", sk_raw_describe(e->fd, s, msg, sizeof(msg)), s->src_port,
			      ino, tab);
	sk = raw_make(e, msg, sizeof(msg));
	if (sk < 0)
		return pr_err("%s", msg);
	close(sk);
	return 0;
}
