/*
 * Established and half-closed TCP connections under --tcp-established
 * (half-closed: see read_queues for the FINs). Through our
 * pidfd_getfd copy the socket is put in repair mode (TCP_REPAIR, Linux
 * 3.5), which lets the queues be read without consuming them and the
 * sequence numbers, window and negotiated options be read at all:
 *
 *   TCP_REPAIR_QUEUE + TCP_QUEUE_SEQ   write_seq (send) and rcv_nxt (receive)
 *   SIOCOUTQ / SIOCOUTQNSD / SIOCINQ   bytes not acknowledged / never sent / not read
 *   recv(MSG_PEEK) in repair mode      the send queue (from snd_una) or the receive queue
 *   TCP_MAXSEG in repair mode          the MSS clamp
 *   TCP_INFO tcpi_options              SACK, timestamps, window scaling and its shifts
 *   TCP_TIMESTAMP, TCP_REPAIR_WINDOW   timestamp clock, window state
 *
 * Consistency: the target is frozen, but its sockets still take packets
 * from the network. When the process is to be killed, every connection
 * first gets a socket filter that drops all incoming packets (socket(7)
 * SO_ATTACH_FILTER: TCP runs it before any processing, net/ipv4/tcp_ipv4.c
 * tcp_filter), so nothing is acknowledged that the image does not hold; a
 * peer's dropped packets are sent again by its retransmission timer to the
 * restored socket. With -R nothing is dropped (the original goes on), and
 * the queues are read until two reads agree. Repair mode stays on until
 * the kill, so that the sockets vanish without a packet (KERNEL-FACTS.md);
 * with -R or on failure it is left without a window probe
 * (TCP_REPAIR_OFF_NO_WP, Linux 4.12), which also resets SO_REUSEADDR:
 * that is put back.
 *
 * The filter holds packets only while the socket exists. After the kill
 * the connection is gone from the kernel, and a packet from the peer
 * would be answered with a RST; under --network-lock nftables (the
 * default) each connection's packets are first dropped by a rule in our
 * own table (lib/netlock.h), kept after cs-dump exits, until cs-restore
 * has made the connection again. With -R there is no lock: a socket in
 * repair mode still takes and acknowledges incoming data (measured: a
 * peer's 1000 bytes acknowledged within 300 ms, SIOCINQ 1000), so a
 * peer never meets a missing socket, and dropping its packets would only
 * delay them by a retransmission timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define LOG_PREFIX "tcp: "
#include "log.h"
#include "util.h"
#include "sk-opts.h"
#include "sk-xopts.h"
#include "sockets.h"
#include "netlock.h"

#ifndef SO_PEEK_OFF
#define SO_PEEK_OFF 42
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef TCP_NOTSENT_LOWAT
#define TCP_NOTSENT_LOWAT 25
#endif

struct tcp_held {
	int sk;			/* our copy, in repair mode until released */
	int fd;			/* the target's fd number, for messages */
	int reuseaddr;		/* SO_REUSEADDR before repair mode */
	int filtered;		/* our drop-all filter is attached */
	uint64_t ino;		/* the socket's inode */
};

static const char *const state_names[] = {
	[1] = "ESTABLISHED", [2] = "SYN-SENT", [3] = "SYN-RECV", [4] = "FIN-WAIT-1", [5] = "FIN-WAIT-2",
	[6] = "TIME-WAIT", [7] = "CLOSE", [8] = "CLOSE-WAIT", [9] = "LAST-ACK", [10] = "LISTEN", [11] = "CLOSING",
};

const char *tcp_state_name(unsigned state)
{
	return state < ARRAY_SIZE(state_names) && state_names[state] ? state_names[state] : "unknown";
}

static int get_int(int sk, int level, int name, int *v)
{
	socklen_t l = sizeof(*v);

	*v = 0;
	return getsockopt(sk, level, name, v, &l);
}

static int set_int(int sk, int level, int name, int v)
{
	return setsockopt(sk, level, name, &v, sizeof(v));
}

/* Remove a socket filter. The value is ignored, but sock_setsockopt wants
 * an int's length for every option (EINVAL otherwise). */
static int detach_filter(int sk)
{
	return set_int(sk, SOL_SOCKET, SO_DETACH_FILTER, 0);
}

/* "addr:port" of a sockaddr_in/in6 into buf. */
static void addr_str(const struct sockaddr_storage *a, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN] = "?";

	if (a->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, s, sizeof(s));
		snprintf(buf, len, "%s:%u", s, ntohs(((const struct sockaddr_in *)a)->sin_port));
	} else {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, s, sizeof(s));
		snprintf(buf, len, "[%s]:%u", s, ntohs(((const struct sockaddr_in6 *)a)->sin6_port));
	}
}

static const uint8_t *addr_bytes(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return (const uint8_t *)&((const struct sockaddr_in *)a)->sin_addr;
	return (const uint8_t *)&((const struct sockaddr_in6 *)a)->sin6_addr;
}

static uint16_t port_of(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)a)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
}

static int copy_addr(const struct sockaddr_storage *a, ProtobufCBinaryData *b, uint32_t *port)
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
	free(b->data);
	b->data = xmalloc(l);
	if (!b->data)
		return -1;
	memcpy(b->data, p, l);
	b->len = l;
	return 0;
}

/* The queue counters, sequence numbers and state, read together (repair mode). */
struct qstate {
	uint32_t snd_seq, rcv_seq;
	int outq, unsent, inq, state;
};

int tcp_state_keepable(unsigned state)
{
	return state == TCP_ESTABLISHED || state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 ||
	       state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK || state == TCP_CLOSING;
}

static int read_qstate(int sk, struct qstate *q)
{
	socklen_t l = sizeof(q->snd_seq);
	struct tcp_info ti;
	socklen_t il = sizeof(ti);

	memset(q, 0, sizeof(*q));
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(sk, IPPROTO_TCP, TCP_INFO, &ti, &il))
		return -1;
	q->state = ti.tcpi_state;
	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) ||
	    getsockopt(sk, IPPROTO_TCP, TCP_QUEUE_SEQ, &q->snd_seq, &l) ||
	    set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) ||
	    getsockopt(sk, IPPROTO_TCP, TCP_QUEUE_SEQ, &q->rcv_seq, &l) ||
	    ioctl(sk, SIOCOUTQ, &q->outq) || ioctl(sk, SIOCOUTQNSD, &q->unsent) || ioctl(sk, SIOCINQ, &q->inq))
		return -1;
	return 0;
}

/* Peek at one queue (TCP_SEND_QUEUE or TCP_RECV_QUEUE), at most len bytes,
 * into a new buffer *out. Returns the number of bytes or -1 (errno). */
static ssize_t peek_queue(int sk, int queue, size_t len, uint8_t **out)
{
	uint8_t *buf = xmalloc(len + 1);
	ssize_t r;

	*out = buf;
	if (!buf)
		return -1;
	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue))
		return -1;
	if (!len)
		return 0;
	/* one call returns the whole queue: tcp_recvmsg goes on over every
	 * queued segment, tcp_peek_sndq copies the whole send queue */
	r = recv(sk, buf, len + 1, MSG_PEEK | MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		r = 0;
	return r;
}

/*
 * Read both queues with their counters until two reads of the counters
 * around the data agree (a peer outside the process may still send, or
 * acknowledge, while we read). Fills t; 0 or -1 (logged).
 *
 * A half-closed connection: a FIN takes one sequence number. Ours, once
 * queued by shutdown(SHUT_WR) or close, is counted in write_seq
 * (net/ipv4/tcp_output.c tcp_send_fin: write_seq++ on the tail skb, or a
 * new skb queued with end_seq = seq + 1), so in SIOCOUTQ (write_seq -
 * snd_una) until acknowledged and in SIOCOUTQNSD (write_seq - snd_nxt)
 * until sent; it carries no byte, so the peek of the send queue returns
 * one byte less. The peer's, once received, is counted in rcv_nxt
 * (tcp_data_queue advances it to end_seq) but not in SIOCINQ (tcp_inq
 * subtracts it once SOCK_DONE is set), and a peek stops before it. Which
 * FINs exist follows from the state (RFC 793; net/ipv4/tcp_input.c
 * tcp_fin, tcp_rcv_state_process): ours in FIN-WAIT-1/2, CLOSING and
 * LAST-ACK, acknowledged only in FIN-WAIT-2; the peer's in CLOSE-WAIT,
 * LAST-ACK and CLOSING. Measured here (Linux 6.18, test/c/tcphalf.c):
 * FIN-WAIT-2 outq 0 unsent 0; CLOSE-WAIT with 5000 bytes unread SIOCINQ
 * 5000 (ss(8) shows 5001: rcv_nxt - copied_seq); FIN-WAIT-1, LAST-ACK and
 * CLOSING with their FIN dropped by an nftables output rule outq 1 unsent
 * 1 peek 0 (a FIN the netfilter hook dropped counts as never sent);
 * FIN-WAIT-1 behind a closed window outq 4150777 unsent 4150777, peek
 * 4150776.
 */
static int read_queues(int sk, const char *what, TcpConnEntry *t)
{
	int peek_off = -1, ret = -1, failed = 0, our_fin, fin_acked, peer_fin, fin_q;

	/* a peek starts at SO_PEEK_OFF when the program set one (Linux 6.10 for TCP) */
	if (get_int(sk, SOL_SOCKET, SO_PEEK_OFF, &peek_off) == 0 && peek_off >= 0 &&
	    set_int(sk, SOL_SOCKET, SO_PEEK_OFF, -1))
		return pr_perror("%s: cannot clear SO_PEEK_OFF", what);
	for (int tries = 0; tries < 200 && ret && !failed; tries++) {
		struct qstate a, b;
		uint8_t *sq = NULL, *rq = NULL;
		ssize_t ns, nr;

		if (read_qstate(sk, &a)) {
			failed = pr_perror("%s: cannot read the queue state in repair mode", what);
			break;
		}
		ns = peek_queue(sk, TCP_SEND_QUEUE, a.outq, &sq);
		nr = ns < 0 ? -1 : peek_queue(sk, TCP_RECV_QUEUE, a.inq, &rq);
		if (ns < 0 || nr < 0) {
			failed = pr_perror("%s: cannot read its %s queue in repair mode", what, ns < 0 ? "send" : "receive");
			free(sq);
			free(rq);
			break;
		}
		if (read_qstate(sk, &b)) {
			failed = pr_perror("%s: cannot read the queue state in repair mode", what);
			free(sq);
			free(rq);
			break;
		}
		our_fin = a.state == TCP_FIN_WAIT1 || a.state == TCP_FIN_WAIT2 || a.state == TCP_CLOSING ||
			  a.state == TCP_LAST_ACK;
		fin_acked = a.state == TCP_FIN_WAIT2;
		peer_fin = a.state == TCP_CLOSE_WAIT || a.state == TCP_CLOSING || a.state == TCP_LAST_ACK;
		fin_q = our_fin && !fin_acked;	/* our FIN in SIOCOUTQ */
		if (!tcp_state_keepable(a.state)) {
			free(sq);
			free(rq);
			pr_err("%s went to state %s while it was read: cannot be kept", what, tcp_state_name(a.state));
			failed = 1;
			break;
		}
		if (memcmp(&a, &b, sizeof(a)) || ns != a.outq - fin_q || nr != a.inq || a.unsent > a.outq ||
		    (fin_q && !a.outq)) {
			free(sq);
			free(rq);
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
			continue;
		}
		/* the sequence numbers without the FINs, the unsent bytes without ours */
		t->snd_seq = a.snd_seq - our_fin;
		t->rcv_seq = a.rcv_seq - peer_fin;
		t->sndq.data = sq;
		t->sndq.len = ns;
		t->unsent = fin_q && a.unsent ? a.unsent - 1 : a.unsent;
		t->has_state = 1;
		t->state = a.state;
		if (our_fin || peer_fin) {
			t->has_our_fin = t->has_our_fin_acked = t->has_peer_fin = 1;
			t->our_fin = our_fin;
			t->our_fin_acked = fin_acked;
			t->peer_fin = peer_fin;
		}
		t->rcvq.data = rq;
		t->rcvq.len = nr;
		ret = 0;
		pr_debug("%s: %s, snd_seq %u rcv_seq %u, outq %d (%zd bytes), unsent %d, %zd to read%s%s%s",
			 what, tcp_state_name(a.state), a.snd_seq, a.rcv_seq, a.outq, ns, a.unsent, nr,
			 our_fin ? ", our FIN" : "", fin_acked ? " acknowledged" : our_fin && a.unsent ? " not sent" : "",
			 peer_fin ? ", the peer's FIN" : "");
	}
	if (ret && !failed)
		pr_err("%s: its queues kept changing while read (200 tries)", what);
	set_int(sk, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_NO_QUEUE);
	if (peek_off >= 0 && set_int(sk, SOL_SOCKET, SO_PEEK_OFF, peek_off))
		pr_warn("%s: cannot put SO_PEEK_OFF back to %d: %m", what, peek_off);
	return ret;
}

int dump_tcp_closed(int fd, FdEntry *e, int sk)
{
	InetSkEntry *s = e->sk;
	int inq = 0, peek_off = -1;
	uint8_t *buf;
	ssize_t r = 0;

	if (ioctl(sk, SIOCINQ, &inq))
		return pr_perror("fd %d (closed TCP connection): cannot read SIOCINQ", fd);
	buf = xmalloc(inq + 1);
	if (!buf)
		return -1;
	if (get_int(sk, SOL_SOCKET, SO_PEEK_OFF, &peek_off) == 0 && peek_off >= 0 &&
	    set_int(sk, SOL_SOCKET, SO_PEEK_OFF, -1)) {
		free(buf);
		return pr_perror("fd %d (closed TCP connection): cannot clear SO_PEEK_OFF", fd);
	}
	if (inq)
		r = recv(sk, buf, inq + 1, MSG_PEEK | MSG_DONTWAIT);
	if (peek_off >= 0 && set_int(sk, SOL_SOCKET, SO_PEEK_OFF, peek_off))
		pr_warn("fd %d: cannot put SO_PEEK_OFF back to %d: %m", fd, peek_off);
	if (r != inq) {
		free(buf);
		return pr_perror("fd %d (closed TCP connection): read %zd of its %d unread bytes", fd, r, inq);
	}
	s->has_closed = s->closed = 1;
	s->has_closed_rcvq = 1;
	s->closed_rcvq.data = buf;
	s->closed_rcvq.len = inq;
	pr_info("fd %d: TCP connection closed on both sides: saved as its %d unread bytes, then end of file", fd, inq);
	return 0;
}

/* What repair mode tells beyond the queues: MSS, options, timestamp, window. */
static int read_repair_state(int sk, const char *what, TcpConnEntry *t)
{
	struct tcp_repair_window w;
	struct tcp_info ti;
	socklen_t l;
	int v;

	if (get_int(sk, IPPROTO_TCP, TCP_MAXSEG, &v))
		return pr_perror("%s: cannot read its MSS", what);
	t->mss = v;
	memset(&ti, 0, sizeof(ti));
	l = sizeof(ti);
	if (getsockopt(sk, IPPROTO_TCP, TCP_INFO, &ti, &l))
		return pr_perror("%s: cannot read TCP_INFO", what);
	t->has_sack = t->has_tstamp = t->has_wscale = 1;
	t->sack = !!(ti.tcpi_options & TCPI_OPT_SACK);
	t->tstamp = !!(ti.tcpi_options & TCPI_OPT_TIMESTAMPS);
	t->wscale = !!(ti.tcpi_options & TCPI_OPT_WSCALE);
	if (t->wscale) {
		t->has_snd_wscale = t->has_rcv_wscale = 1;
		t->snd_wscale = ti.tcpi_snd_wscale;
		t->rcv_wscale = ti.tcpi_rcv_wscale;
	}
	l = sizeof(t->timestamp);
	if (getsockopt(sk, IPPROTO_TCP, TCP_TIMESTAMP, &t->timestamp, &l))
		return pr_perror("%s: cannot read TCP_TIMESTAMP", what);
	l = sizeof(w);
	if (getsockopt(sk, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &l))
		return pr_perror("%s: cannot read TCP_REPAIR_WINDOW", what);
	t->snd_wl1 = w.snd_wl1;
	t->snd_wnd = w.snd_wnd;
	t->max_window = w.max_window;
	t->rcv_wnd = w.rcv_wnd;
	t->rcv_wup = w.rcv_wup;
	/* the window edge as last advertised may count the peer's FIN, which
	 * the restored connection has not received yet: TCP_REPAIR_WINDOW
	 * wants rcv_wup not after rcv_nxt (net/ipv4/tcp.c tcp_repair_set_window) */
	if ((int32_t)(t->rcv_wup - t->rcv_seq) > 0)
		t->rcv_wup = t->rcv_seq;
	return 0;
}

/* The options a program sets on a connection (tcp(7), socket(7)). */
static int read_options(int sk, const char *what, TcpConnEntry *t)
{
	struct linger lg = { 0, 0 };
	char cc[32] = "";
	socklen_t l;
	int v[7];

	if (get_int(sk, IPPROTO_TCP, TCP_CORK, &v[0]) || get_int(sk, IPPROTO_TCP, TCP_KEEPIDLE, &v[1]) ||
	    get_int(sk, IPPROTO_TCP, TCP_KEEPINTVL, &v[2]) || get_int(sk, IPPROTO_TCP, TCP_KEEPCNT, &v[3]) ||
	    get_int(sk, IPPROTO_TCP, TCP_USER_TIMEOUT, &v[4]) ||
	    get_int(sk, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v[5]) || get_int(sk, SOL_SOCKET, SO_OOBINLINE, &v[6]))
		return pr_perror("%s: cannot read its options", what);
	l = sizeof(lg);
	if (getsockopt(sk, SOL_SOCKET, SO_LINGER, &lg, &l))
		return pr_perror("%s: cannot read SO_LINGER", what);
	l = sizeof(cc) - 1;
	if (getsockopt(sk, IPPROTO_TCP, TCP_CONGESTION, cc, &l))
		return pr_perror("%s: cannot read TCP_CONGESTION", what);
	cc[l < sizeof(cc) ? l : sizeof(cc) - 1] = 0;
	t->has_cork = t->has_keepidle = t->has_keepintvl = t->has_keepcnt = t->has_user_timeout = 1;
	t->has_notsent_lowat = t->has_linger = t->has_linger_s = t->has_oobinline = 1;
	t->cork = !!v[0];
	t->keepidle = v[1];
	t->keepintvl = v[2];
	t->keepcnt = v[3];
	t->user_timeout = v[4];
	t->notsent_lowat = v[5];
	t->oobinline = !!v[6];
	t->linger = !!lg.l_onoff;
	t->linger_s = lg.l_linger;
	t->congestion = xstrdup(cc);
	return t->congestion ? 0 : -1;
}

/* What repair mode cannot carry: refuse it before touching the socket. */
static int check_supported(int sk, const char *what, int drop)
{
	char ulp[32] = "";
	socklen_t l = sizeof(ulp) - 1;
	int n = 0;

	if (getsockopt(sk, IPPROTO_TCP, TCP_ULP, ulp, &l) == 0 && ulp[0])
		return pr_err("%s has upper layer protocol \"%s\" (TCP_ULP): not supported", what, ulp);
	l = 0;
	if (drop && getsockopt(sk, SOL_SOCKET, SO_GET_FILTER, NULL, &l) == 0 && l)
		return pr_err("%s has a socket filter of its own (SO_ATTACH_FILTER): not supported", what);
	if (drop && get_int(sk, SOL_SOCKET, SO_LOCK_FILTER, &n) == 0 && n)
		return pr_err("%s has its socket filter locked (SO_LOCK_FILTER): not supported", what);
	return 0;
}

static int hold(struct dump_ctx *c, int fd, uint64_t ino, int sk, int reuseaddr, int filtered)
{
	struct tcp_held *h = xrealloc(c->tcp_held, (c->nr_tcp_held + 1) * sizeof(*h));
	int *r, copy;

	if (!h)
		return -1;
	c->tcp_held = h;
	r = xrealloc(c->repair_fds, (c->nr_repair + 1) * sizeof(int));
	if (!r)
		return -1;
	c->repair_fds = r;
	copy = fcntl(sk, F_DUPFD_CLOEXEC, 0);
	if (copy < 0)
		return pr_perror("cannot keep a copy of fd %d", fd);
	/* closed by dump_ctx_free, after the kill */
	r[c->nr_repair++] = copy;
	h[c->nr_tcp_held++] = (struct tcp_held){ copy, fd, reuseaddr, filtered, ino };
	return 0;
}

int dump_tcp_est(struct dump_ctx *c, int fd, FdEntry *e, int sk, int state)
{
	static const struct sock_filter drop_all[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	const struct sock_fprog prog = { ARRAY_SIZE(drop_all), (struct sock_filter *)drop_all };
	InetSkEntry *s = e->sk;
	struct sockaddr_storage a, p;
	socklen_t al = sizeof(a), pl = sizeof(p);
	char what[200], la[64], pa[64];
	int reuseaddr = 0, drop = !c->leave_running, n;
	TcpConnEntry *t;

	if (getsockname(sk, (struct sockaddr *)&a, &al))
		return pr_perror("fd %d (TCP socket): cannot read its address", fd);
	if (getpeername(sk, (struct sockaddr *)&p, &pl)) {
		addr_str(&a, la, sizeof(la));
		if (errno == ENOTCONN)
			return pr_err("fd %d is a TCP socket at %s in state %s, not connected: cannot be kept "
				      "(--tcp-close drops it)", fd, la, tcp_state_name(state));
		return pr_perror("fd %d (TCP socket at %s): cannot read its peer", fd, la);
	}
	addr_str(&a, la, sizeof(la));
	addr_str(&p, pa, sizeof(pa));
	snprintf(what, sizeof(what), "fd %d (TCP connection %s -> %s)", fd, la, pa);
	/* another fd of the same socket (dup): that one was saved, and this
	 * one is recorded as sharing it (dump_files, kcmp) */
	for (size_t i = 0; i < c->nr_tcp_held; i++)
		if (c->tcp_held[i].ino == e->ino)
			return 0;
	if (!tcp_state_keepable(state))
		return pr_err("%s is in state %s: only ESTABLISHED and half-closed connections can be kept "
			      "(--tcp-close drops it)", what, tcp_state_name(state));
	if (check_supported(sk, what, drop))
		return -1;
	t = xzalloc(sizeof(*t));
	if (!t)
		return -1;
	tcp_conn_entry__init(t);
	s->tcp = t;
	if (copy_addr(&p, &s->dst_addr, &s->dst_port))
		return -1;
	s->opts = sk_opts_save(sk, 1);
	if (!s->opts || read_options(sk, what, t) || sk_xopts_save(sk, s, what))
		return -1;
	get_int(sk, SOL_SOCKET, SO_REUSEADDR, &reuseaddr);
	if (get_int(sk, IPPROTO_TCP, TCP_MAXSEG, &n))
		return pr_perror("%s: cannot read its MSS", what);
	t->has_mss_now = 1;
	t->mss_now = n;
	/* the lock first: once the process is killed, the connection is gone
	 * from the kernel until cs-restore makes it again (lib/netlock.h) */
	if (c->netlock && netlock_add(c->netlock, a.ss_family, addr_bytes(&a), port_of(&a), addr_bytes(&p),
				      port_of(&p), what))
		return -1;
	if (drop && setsockopt(sk, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)))
		return pr_perror("%s: cannot attach a filter to hold its incoming packets", what);
	if (set_int(sk, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON)) {
		int err = errno;

		if (drop)
			detach_filter(sk);
		errno = err;
		if (err == EPERM)
			return pr_perror("%s: cannot enter repair mode (TCP_REPAIR needs CAP_NET_ADMIN)", what);
		return pr_perror("%s: cannot enter repair mode", what);
	}
	if (hold(c, fd, e->ino, sk, reuseaddr, drop)) {
		set_int(sk, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP);
		set_int(sk, SOL_SOCKET, SO_REUSEADDR, reuseaddr);
		if (drop)
			detach_filter(sk);
		return -1;
	}
	if (read_queues(sk, what, t) || read_repair_state(sk, what, t))
		return -1;
	pr_info("%s kept: %zu bytes to acknowledge (%u never sent), %zu to read, mss %u%s%s%s, state %s",
		what, t->sndq.len, t->unsent, t->rcvq.len, t->mss, t->sack ? ", sack" : "",
		t->tstamp ? ", timestamps" : "", t->wscale ? ", window scaling" : "", tcp_state_name(t->state));
	return 0;
}

void tcp_est_leave(struct dump_ctx *c)
{
	for (size_t i = 0; i < c->nr_tcp_held; i++) {
		struct tcp_held *h = &c->tcp_held[i];

		if (set_int(h->sk, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP))
			pr_warn("fd %d: cannot leave repair mode: %m", h->fd);
		/* leaving repair mode sets sk_reuse to "no" (net/ipv4/tcp.c) */
		if (set_int(h->sk, SOL_SOCKET, SO_REUSEADDR, h->reuseaddr))
			pr_warn("fd %d: cannot put SO_REUSEADDR back: %m", h->fd);
		if (h->filtered && detach_filter(h->sk))
			pr_warn("fd %d: cannot remove the filter holding its packets: %m", h->fd);
	}
	free(c->tcp_held);
	c->tcp_held = NULL;
	c->nr_tcp_held = 0;
}
