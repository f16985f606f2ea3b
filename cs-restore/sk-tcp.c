/*
 * Established TCP connections (cs-restore --tcp-established): a new socket
 * is put in repair mode (TCP_REPAIR, CAP_NET_ADMIN) and made into the saved
 * connection without a packet. The order is the one measured in
 * KERNEL-FACTS.md ("TCP"):
 *
 *   buffers large enough for the queues (SO_SNDBUFFORCE/SO_RCVBUFFORCE)
 *   TCP_REPAIR on; TCP_QUEUE_SEQ of both queues (where their saved bytes start)
 *   bind, connect (in repair mode: no SYN, straight to ESTABLISHED)
 *   TCP_REPAIR_OPTIONS (MSS, window scale, SACK, timestamps), TCP_TIMESTAMP
 *   the receive queue, then the sent part of the send queue, in repair mode
 *   TCP_REPAIR_WINDOW
 *   -- the stub stops here (tcp_est_make); cs-restore does the rest once
 *      everything else is restored (tcp_est_finish), through a
 *      pidfd_getfd copy: a restore that fails before kills the stub with
 *      its sockets still in repair mode, which vanish without a packet, so
 *      the peer is none the wiser and the restore can be tried again --
 *   TCP_REPAIR off (one window probe tells the peer)
 *   options; the never-sent bytes sent normally
 *
 * Bytes put in the send queue in repair mode count as sent and not yet
 * acknowledged: the kernel retransmits them if the peer does not
 * acknowledge them. The never-sent ones must go through the normal path.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/capability.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#define LOG_PREFIX "tcp: "
#include "log.h"
#include "util.h"
#include "sk-opts.h"
#include "sk-xopts.h"
#include "sockets.h"

#ifndef TCP_NOTSENT_LOWAT
#define TCP_NOTSENT_LOWAT 25
#endif

/* IPv4, or IPv4 through an IPv6 socket (a v4-mapped peer) */
#define IN_SET_IPV4(s) ((s)->family == AF_INET || ((s)->dst_addr.len == 16 && !memcmp((s)->dst_addr.data, v4mapped, 12)))
static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int is_tcp_est(const FdEntry *e)
{
	return e->type == FD_INET && e->sk && e->sk->tcp && !(e->has_peer_fd || e->has_from_pid);
}

/* "fd N (TCP connection A -> B)" for messages. */
static void describe(const FdEntry *e, char *buf, size_t len)
{
	const InetSkEntry *s = e->sk;
	char a[INET6_ADDRSTRLEN] = "?", b[INET6_ADDRSTRLEN] = "?";
	int v6 = s->family == AF_INET6;

	if (s->src_addr.len == (v6 ? 16u : 4u))
		inet_ntop(s->family, s->src_addr.data, a, sizeof(a));
	if (s->dst_addr.len == (v6 ? 16u : 4u))
		inet_ntop(s->family, s->dst_addr.data, b, sizeof(b));
	snprintf(buf, len, "fd %u (TCP connection %s%s%s:%u -> %s%s%s:%u)", e->fd, v6 ? "[" : "", a, v6 ? "]" : "",
		 s->src_port, v6 ? "[" : "", b, v6 ? "]" : "", s->dst_port);
}

void tcp_describe(const FdEntry *e, char *buf, size_t len)
{
	describe(e, buf, len);
}

static int set_int(int sk, int level, int name, int v)
{
	return setsockopt(sk, level, name, &v, sizeof(v));
}

/* A socket in repair mode, bound and connected to e's addresses: the
 * connection, not yet filled. Returns the fd or -1 with errno, *step naming
 * what failed. */
static int repair_connect(const InetSkEntry *s, const TcpConnEntry *t, const char **step)
{
	struct sockaddr_storage src, dst;
	socklen_t sl, dl;
	char oerr[200];
	int sk, err;

	*step = "malformed entry in files.img";
	if (inet_sockaddr(s->family, &s->src_addr, s->src_port, &src, &sl) ||
	    inet_sockaddr(s->family, &s->dst_addr, s->dst_port, &dst, &dl)) {
		errno = EINVAL;
		return -1;
	}
	*step = "cannot create a socket";
	sk = socket(s->family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (sk < 0)
		return -1;
	*step = "cannot set IPV6_V6ONLY or SO_REUSEPORT";
	if ((s->family == AF_INET6 && set_int(sk, IPPROTO_IPV6, IPV6_V6ONLY, s->has_v6only && s->v6only)) ||
	    (s->has_reuseport && s->reuseport && set_int(sk, SOL_SOCKET, SO_REUSEPORT, 1)))
		goto fail;
	*step = "cannot set SO_BINDTODEVICE, IP_TRANSPARENT or IP_BIND_ADDRESS_NO_PORT";
	if (sk_xopts_apply(sk, s, 1, oerr, sizeof(oerr)))
		goto fail;
	*step = "cannot enter repair mode (TCP_REPAIR)";
	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON))
		goto fail;
	if (t) {
		*step = "cannot set the queues' sequence numbers (TCP_QUEUE_SEQ)";
		if (set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) ||
		    set_int(sk, IPPROTO_TCP, TCP_QUEUE_SEQ, (int)(t->snd_seq - (uint32_t)t->sndq.len)) ||
		    set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) ||
		    set_int(sk, IPPROTO_TCP, TCP_QUEUE_SEQ, (int)(t->rcv_seq - (uint32_t)t->rcvq.len)))
			goto fail;
	}
	*step = "cannot bind to its local address";
	if (bind(sk, (struct sockaddr *)&src, sl))
		goto fail;
	*step = "cannot connect in repair mode";
	if (connect(sk, (struct sockaddr *)&dst, dl))
		goto fail;
	return sk;
fail:
	err = errno;
	close(sk);	/* in repair mode: no packet */
	errno = err;
	return -1;
}

int check_tcp_est(const struct rst_ctx *c, const FdEntry *e)
{
	const InetSkEntry *s = e->sk;
	const TcpConnEntry *t = s->tcp;
	const char *step;
	char what[200];
	int sk;

	describe(e, what, sizeof(what));
	if (!c->tcp_established)
		return pr_err("%s is an established connection kept by cs-dump --tcp-established: "
			      "restore it with --tcp-established", what);
	if (s->type != SOCK_STREAM || t->unsent > t->sndq.len || t->sndq.len > INT32_MAX || t->rcvq.len > INT32_MAX)
		return pr_err("%s: malformed entry in files.img", what);
	if (!cap_effective(CAP_NET_ADMIN))
		return pr_err("%s: restoring a TCP connection needs CAP_NET_ADMIN (TCP_REPAIR)", what);
	if (check_tcp_half(e, what))	/* sk-tcp-fin.c */
		return -1;
	/* a trial connection, closed in repair mode (no packet): the
	 * addresses can be bound and the connection does not exist */
	sk = repair_connect(s, NULL, &step);
	if (sk < 0) {
		if (errno == EADDRNOTAVAIL || errno == EADDRINUSE)
			return pr_perror("%s cannot be made again: %s (the connection exists: is the dumped process "
					 "still running?)", what, step);
		return pr_perror("%s cannot be made again: %s", what, step);
	}
	close(sk);
	return 0;
}

/* Write len bytes of buf in repair mode into the queue selected before. */
static int fill(int sk, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t r = send(sk, buf, len > (1 << 20) ? (1 << 20) : len, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		buf += r;
		len -= r;
	}
	return 0;
}

/* Send the never-sent bytes the normal way; wait (up to 5 s) if the
 * buffer is full for a moment. */
static int send_unsent(int sk, const uint8_t *buf, size_t len)
{
	int waited = 0;

	while (len) {
		ssize_t r = send(sk, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN && waited < 5000) {
			struct pollfd p = { sk, POLLOUT, 0 };

			poll(&p, 1, 10);
			waited += 10;
			continue;
		}
		if (r < 0)
			return -1;
		buf += r;
		len -= r;
	}
	return 0;
}

/* The options a program sets, once out of repair mode (which resets SO_REUSEADDR). */
static int set_options(int sk, const InetSkEntry *s, const TcpConnEntry *t, char *err, size_t len)
{
	struct linger lg = { t->linger, t->linger_s };
	char cc[32] = "";
	socklen_t l = sizeof(cc) - 1;

	/* IP_TOS first: it sets SO_PRIORITY too (ip(7)) */
	if (sk_xopts_apply(sk, s, 0, err, len) || sk_opts_apply(sk, s->opts, err, len))
		return -1;
#define OPT(cond, level, name, val) \
	if ((cond) && set_int(sk, level, name, val)) { \
		snprintf(err, len, "cannot set " #name " to %d: %m", (int)(val)); \
		return -1; \
	}
	OPT(1, SOL_SOCKET, SO_REUSEADDR, s->has_reuseaddr && s->reuseaddr);
	OPT(s->has_nodelay, IPPROTO_TCP, TCP_NODELAY, s->nodelay);
	OPT(t->has_cork && t->cork, IPPROTO_TCP, TCP_CORK, 1);
	OPT(t->has_keepidle, IPPROTO_TCP, TCP_KEEPIDLE, t->keepidle);
	OPT(t->has_keepintvl, IPPROTO_TCP, TCP_KEEPINTVL, t->keepintvl);
	OPT(t->has_keepcnt, IPPROTO_TCP, TCP_KEEPCNT, t->keepcnt);
	OPT(s->has_keepalive, SOL_SOCKET, SO_KEEPALIVE, s->keepalive);
	OPT(t->has_user_timeout && t->user_timeout, IPPROTO_TCP, TCP_USER_TIMEOUT, t->user_timeout);
	OPT(t->has_notsent_lowat && t->notsent_lowat, IPPROTO_TCP, TCP_NOTSENT_LOWAT, t->notsent_lowat);
	OPT(t->has_oobinline && t->oobinline, SOL_SOCKET, SO_OOBINLINE, 1);
#undef OPT
	if (t->has_linger && t->linger && setsockopt(sk, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))) {
		snprintf(err, len, "cannot set SO_LINGER: %m");
		return -1;
	}
	if (t->congestion && *t->congestion && getsockopt(sk, IPPROTO_TCP, TCP_CONGESTION, cc, &l) == 0 &&
	    strcmp(cc, t->congestion) &&
	    setsockopt(sk, IPPROTO_TCP, TCP_CONGESTION, t->congestion, strlen(t->congestion))) {
		snprintf(err, len, "cannot set TCP_CONGESTION to %s: %m", t->congestion);
		return -1;
	}
	return 0;
}

/*
 * The MSS in use (mss_cache) was computed at the connect, from the route's
 * MTU, the default clamp (536 bytes; IPv6: 1220) and no window; setting the
 * clamp with TCP_REPAIR_OPTIONS does not compute it again
 * (net/ipv4/tcp_output.c tcp_connect_init, tcp_sync_mss), and the
 * connection would go on in small segments. Setting the (empty) IP options
 * does, with the clamp and window of the moment (net/ipv4/ip_sockglue.c
 * IP_OPTIONS: icsk_sync_mss); measured to work on IPv6 sockets too here.
 * A failure matters only for IPv4. Returns 0 or -1 (errno).
 */
static int sync_mss(const InetSkEntry *s, int sk)
{
	if (setsockopt(sk, IPPROTO_IP, IP_OPTIONS, NULL, 0) && IN_SET_IPV4(s))
		return -1;
	return 0;
}

int tcp_est_make(const FdEntry *e, char *err, size_t len)
{
	const InetSkEntry *s = e->sk;
	const TcpConnEntry *t = s->tcp;
	size_t sent = t->sndq.len - t->unsent;	/* the part sent once, not yet acknowledged */
	struct tcp_repair_opt ro[4];
	struct tcp_repair_window w = { t->snd_wl1, t->snd_wnd, t->max_window, t->rcv_wnd, t->rcv_wup };
	const char *step;
	char what[200];
	int sk, n = 0, big;

	describe(e, what, sizeof(what));
	sk = repair_connect(s, t, &step);
	if (sk < 0) {
		snprintf(err, len, "%s: %s: %m", what, step);
		return -1;
	}
	/* room for both queues while they are refilled; the saved sizes come after */
	big = (int)((t->sndq.len > t->rcvq.len ? t->sndq.len : t->rcvq.len) * 2 + (1 << 20));
	if (set_int(sk, SOL_SOCKET, SO_SNDBUFFORCE, big) || set_int(sk, SOL_SOCKET, SO_RCVBUFFORCE, big)) {
		snprintf(err, len, "%s: cannot make room for its queues (SO_SNDBUFFORCE): %m", what);
		goto fail;
	}
	ro[n++] = (struct tcp_repair_opt){ TCPOPT_MAXSEG, t->mss };
	if (t->wscale)
		ro[n++] = (struct tcp_repair_opt){ TCPOPT_WINDOW, t->snd_wscale | t->rcv_wscale << 16 };
	if (t->sack)
		ro[n++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERMITTED, 0 };
	if (t->tstamp)
		ro[n++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	if (setsockopt(sk, IPPROTO_TCP, TCP_REPAIR_OPTIONS, ro, n * sizeof(ro[0]))) {
		snprintf(err, len, "%s: cannot set its MSS, window scale, SACK and timestamps (TCP_REPAIR_OPTIONS): %m",
			 what);
		goto fail;
	}
	if (sync_mss(s, sk)) {
		snprintf(err, len, "%s: cannot compute its MSS again (IP_OPTIONS): %m", what);
		goto fail;
	}
	if (t->tstamp && set_int(sk, IPPROTO_TCP, TCP_TIMESTAMP, (int)t->timestamp)) {
		snprintf(err, len, "%s: cannot set TCP_TIMESTAMP: %m", what);
		goto fail;
	}
	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) || fill(sk, t->rcvq.data, t->rcvq.len)) {
		snprintf(err, len, "%s: cannot refill its receive queue (%zu bytes): %m", what, t->rcvq.len);
		goto fail;
	}
	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) || fill(sk, t->sndq.data, sent)) {
		snprintf(err, len, "%s: cannot refill its send queue (%zu bytes): %m", what, sent);
		goto fail;
	}
	if (setsockopt(sk, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)) ||
	    set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE)) {
		snprintf(err, len, "%s: cannot set its window (TCP_REPAIR_WINDOW): %m", what);
		goto fail;
	}
	if (sync_mss(s, sk)) {	/* again, now bounded by the saved window */
		snprintf(err, len, "%s: cannot compute its MSS again (IP_OPTIONS): %m", what);
		goto fail;
	}
	return sk;	/* still in repair mode: tcp_est_finish takes it out */
fail:
	close(sk);	/* in repair mode: no packet */
	return -1;
}

int tcp_est_finish(struct rst_ctx *c)
{
	int pidfd = -1, ret = 0;

	for (size_t i = 0; i < c->nr_fds && !ret; i++) {
		const FdEntry *e = c->fds[i];
		const TcpConnEntry *t;
		size_t sent;
		char what[200], oe[200];
		int sk;

		if (!is_tcp_est(e))
			continue;
		t = e->sk->tcp;
		sent = t->sndq.len - t->unsent;
		describe(e, what, sizeof(what));
		if (pidfd < 0 && (pidfd = syscall(SYS_pidfd_open, c->pid, 0)) < 0)
			return pr_perror("cannot open a pidfd for process %d", c->pid);
		sk = syscall(SYS_pidfd_getfd, pidfd, e->fd, 0);
		if (sk < 0) {
			ret = pr_perror("%s: cannot take a copy of it (pidfd_getfd)", what);
			break;
		}
		if (set_int(sk, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF))
			ret = pr_perror("%s: cannot leave repair mode", what);
		else if (set_options(sk, e->sk, t, oe, sizeof(oe)))
			ret = pr_err("%s: %s", what, oe);
		else if (send_unsent(sk, t->sndq.data + sent, t->unsent))
			ret = pr_perror("%s: cannot send the %u bytes it had not sent yet", what, t->unsent);
		else if (sk_opts_peek_off(sk, e->sk->opts, oe, sizeof(oe)))
			ret = pr_err("%s: %s", what, oe);
		else
			pr_info("%s restored: %zu bytes to read, %zu to acknowledge, %u sent now", what,
				t->rcvq.len, sent, t->unsent);
		close(sk);
	}
	if (pidfd >= 0)
		close(pidfd);
	return ret;
}
