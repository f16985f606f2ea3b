/*
 * Half-closed TCP connections (cs-restore --tcp-established): FIN-WAIT-1,
 * FIN-WAIT-2, CLOSE-WAIT, LAST-ACK, CLOSING. tcp_est_make and
 * tcp_est_finish make them as ESTABLISHED connections whose sequence
 * numbers end with the data (the image's snd_seq and rcv_seq leave the
 * FINs out); here, once the network lock is gone and before the process
 * runs, each is brought to its saved state:
 *
 *   our FIN      shutdown(SHUT_WR): the FIN goes out after the data, with
 *                the sequence number the original had given it. A peer
 *                that had acknowledged it already takes it as a duplicate
 *                and acknowledges it again (tcp_data_queue: a segment
 *                wholly before rcv_nxt gets a duplicate ACK). That ACK
 *                may ride on a segment of the peer's own (its FIN, in
 *                LAST-ACK) and be lost with it, so for FIN-WAIT-2 the
 *                peer's ACK of our FIN is also injected as below (ack =
 *                snd_seq + 1: in FIN-WAIT-2 everything was acknowledged).
 *   peer's FIN   a segment from the peer's address and port, FIN|ACK,
 *                sequence number rcv_nxt, acknowledging snd_una, is put on
 *                the loopback path with a raw socket (raw(7) IPPROTO_RAW,
 *                checksums computed here): the socket takes it as the
 *                peer's FIN (tcp_fin: ESTABLISHED -> CLOSE-WAIT,
 *                FIN-WAIT-1 -> CLOSING), read() returns EOF after the
 *                queued bytes, and it acknowledges the FIN to the real
 *                peer, which holds it already: a duplicate ACK.
 *
 * The order gives the state: LAST-ACK is the peer's FIN then ours,
 * CLOSING ours then the peer's (whose ACK field then does not cover ours).
 * The injected segment must come after the network lock is removed: the
 * lock's input rule matches it (peer address and port to ours) and drops
 * it. The peer cannot send data after its FIN, so the only packets of the
 * peer that may arrive first are ACKs and a retransmitted FIN.
 *
 * snd_una: the connection was made with snd_una = snd_seq - sndq.len, and
 * everything acknowledged since is counted in tcpi_bytes_acked
 * (tcp_snd_una_update); rcv_nxt likewise from rcv_seq - rcvq.len and
 * tcpi_bytes_received (tcp_rcv_nxt_update, which the receive queue
 * refilled in repair mode goes through too). The ACK field must be exactly current: a newly
 * made connection has bytes_acked 0, and an ACK below snd_una by more than
 * min(max_window, bytes_acked) is dropped as too old (tcp_ack, RFC 5961
 * 5.2), one above snd_nxt as acknowledging unsent data; the segment is
 * sent again (up to 20 times) until the state shows the FIN taken.
 * No timestamp option: without one the PAWS check is skipped
 * (tcp_validate_incoming), measured to be taken here. A receive window
 * of 0 (a full receive queue) does not stop it: measured on Linux 6.18, a
 * bare FIN at rcv_nxt is taken with the window closed (tcp_data_queue
 * accepts a bare FIN at zero window; older kernels may drop it, and the
 * restore then fails naming the connection).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <sys/socket.h>
#include <linux/tcp.h>	/* glibc's struct tcp_info has no tcpi_bytes_acked */
#include <sys/syscall.h>

#define LOG_PREFIX "tcp: "
#include "log.h"
#include "util.h"
#include "sockets.h"

/* include/net/tcp_states.h */
enum {
	TCP_ESTABLISHED = 1, TCP_FIN_WAIT1 = 4, TCP_FIN_WAIT2 = 5, TCP_TIME_WAIT = 6, TCP_CLOSE = 7,
	TCP_CLOSE_WAIT = 8, TCP_LAST_ACK = 9, TCP_CLOSING = 11,
};

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* The flags a state implies (as cs-dump/sk-tcp.c read_queues). */
static void fins_of(unsigned state, int *ours, int *acked, int *peer)
{
	*ours = state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_CLOSING || state == TCP_LAST_ACK;
	*acked = state == TCP_FIN_WAIT2;
	*peer = state == TCP_CLOSE_WAIT || state == TCP_CLOSING || state == TCP_LAST_ACK;
}

static const char *state_name(unsigned s)
{
	switch (s) {
	case TCP_ESTABLISHED: return "ESTABLISHED";
	case TCP_FIN_WAIT1: return "FIN-WAIT-1";
	case TCP_FIN_WAIT2: return "FIN-WAIT-2";
	case TCP_CLOSE_WAIT: return "CLOSE-WAIT";
	case TCP_LAST_ACK: return "LAST-ACK";
	case TCP_CLOSING: return "CLOSING";
	case TCP_TIME_WAIT: return "TIME-WAIT";
	case TCP_CLOSE: return "CLOSE";
	default: return "another state";
	}
}

static int is_half(const TcpConnEntry *t)
{
	return (t->has_our_fin && t->our_fin) || (t->has_peer_fin && t->peer_fin);
}

int check_tcp_half(const FdEntry *e, const char *what)
{
	const TcpConnEntry *t = e->sk->tcp;
	int ours, acked, peer;

	if (!t->has_state)
		return is_half(t) ? pr_err("%s: malformed entry in files.img (FINs without a state)", what) : 0;
	if (t->state != TCP_ESTABLISHED && t->state != TCP_FIN_WAIT1 && t->state != TCP_FIN_WAIT2 &&
	    t->state != TCP_CLOSE_WAIT && t->state != TCP_LAST_ACK && t->state != TCP_CLOSING)
		return pr_err("%s: malformed entry in files.img (TCP state %u)", what, t->state);
	fins_of(t->state, &ours, &acked, &peer);
	if (ours != (t->has_our_fin && t->our_fin) || acked != (t->has_our_fin_acked && t->our_fin_acked) ||
	    peer != (t->has_peer_fin && t->peer_fin))
		return pr_err("%s: malformed entry in files.img (the FINs do not match state %s)", what,
			      state_name(t->state));
	if (peer && !cap_effective(CAP_NET_RAW))
		return pr_err("%s is in state %s: giving it the peer's FIN again needs CAP_NET_RAW (a raw socket)",
			      what, state_name(t->state));
	return 0;
}

/* One's complement sum of len bytes, big-endian 16-bit words, added to sum. */
static uint32_t csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

struct raw_socks {
	int v4, v6;
};

/*
 * Send one segment from the peer (dst of s) to us (src of s): ACK, and FIN
 * too when fin; seq and ack in host order, window the raw 16-bit field.
 * 0 or -1 (errno).
 */
static int inject(struct raw_socks *rs, const InetSkEntry *s, uint32_t seq, uint32_t ack, uint16_t win, int fin)
{
	uint8_t pkt[sizeof(struct ip6_hdr) + sizeof(struct tcphdr)];
	struct tcphdr th;
	uint32_t sum;
	int v4 = s->family == AF_INET || (s->dst_addr.len == 16 && !memcmp(s->dst_addr.data, v4mapped, 12));
	const uint8_t *src = s->dst_addr.data, *dst = s->src_addr.data;	/* from the peer to us */
	size_t alen = v4 ? 4 : 16;
	ssize_t r;

	if (v4 && s->family == AF_INET6) {
		src += 12;
		dst += 12;
	}
	if (s->dst_addr.len < alen || s->src_addr.len < alen) {
		errno = EINVAL;
		return -1;
	}
	memset(&th, 0, sizeof(th));
	th.source = htons(s->dst_port);
	th.dest = htons(s->src_port);
	th.seq = htonl(seq);
	th.ack_seq = htonl(ack);
	th.doff = sizeof(th) / 4;
	th.fin = !!fin;
	th.ack = 1;
	th.window = htons(win);
	/* pseudo header (RFC 793 / RFC 8200 8.1), then the header */
	sum = csum_add(0, src, alen);
	sum = csum_add(sum, dst, alen);
	sum += IPPROTO_TCP + sizeof(th);
	sum = csum_add(sum, &th, sizeof(th));
	th.check = csum_fold(sum);
	if (v4) {
		struct iphdr ip = { 0 };
		struct sockaddr_in to = { .sin_family = AF_INET };

		if (rs->v4 < 0 && (rs->v4 = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW)) < 0)
			return -1;
		ip.version = 4;
		ip.ihl = 5;
		ip.tot_len = htons(sizeof(ip) + sizeof(th));
		ip.ttl = 64;
		ip.protocol = IPPROTO_TCP;
		memcpy(&ip.saddr, src, 4);
		memcpy(&ip.daddr, dst, 4);
		/* the kernel fills in the header checksum (raw(7) IP_HDRINCL) */
		memcpy(pkt, &ip, sizeof(ip));
		memcpy(pkt + sizeof(ip), &th, sizeof(th));
		memcpy(&to.sin_addr, dst, 4);
		r = sendto(rs->v4, pkt, sizeof(ip) + sizeof(th), 0, (struct sockaddr *)&to, sizeof(to));
	} else {
		struct ip6_hdr ip6;
		struct sockaddr_in6 to = { .sin6_family = AF_INET6 };

		if (rs->v6 < 0 && (rs->v6 = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW)) < 0)
			return -1;
		memset(&ip6, 0, sizeof(ip6));
		ip6.ip6_flow = htonl(6u << 28);
		ip6.ip6_plen = htons(sizeof(th));
		ip6.ip6_nxt = IPPROTO_TCP;
		ip6.ip6_hlim = 64;
		memcpy(&ip6.ip6_src, src, 16);
		memcpy(&ip6.ip6_dst, dst, 16);
		memcpy(pkt, &ip6, sizeof(ip6));
		memcpy(pkt + sizeof(ip6), &th, sizeof(th));
		memcpy(&to.sin6_addr, dst, 16);
		r = sendto(rs->v6, pkt, sizeof(ip6) + sizeof(th), 0, (struct sockaddr *)&to, sizeof(to));
	}
	return r < 0 ? -1 : 0;
}

static int tcp_state_of(int sk, struct tcp_info *ti)
{
	socklen_t l = sizeof(*ti);

	memset(ti, 0, sizeof(*ti));
	if (getsockopt(sk, IPPROTO_TCP, TCP_INFO, ti, &l))
		return -1;
	return ti->tcpi_state;
}

/* Whether the socket has taken the peer's FIN. */
static int has_peer_fin(int st)
{
	return st == TCP_CLOSE_WAIT || st == TCP_LAST_ACK || st == TCP_CLOSING || st == TCP_TIME_WAIT ||
	       st == TCP_CLOSE;
}

/*
 * A segment of the peer into sk until done(state) (up to 20 tries): the
 * peer's FIN (fin), or its ACK of our FIN (!fin). 0 or -1 (logged).
 */
static int give(struct raw_socks *rs, int sk, const FdEntry *e, const char *what, int fin, int (*done)(int))
{
	const InetSkEntry *s = e->sk;
	const TcpConnEntry *t = s->tcp;
	uint32_t una0 = t->snd_seq - (uint32_t)t->sndq.len, nxt0 = t->rcv_seq - (uint32_t)t->rcvq.len;
	unsigned shift = t->wscale ? t->snd_wscale : 0;
	uint32_t w = shift < 15 ? t->snd_wnd >> shift : 0;
	uint16_t win = w > 0xffff ? 0xffff : w;
	struct tcp_info ti;
	int st = -1;

	for (int i = 0; i < 20; i++) {
		uint32_t seq, ack;

		if ((st = tcp_state_of(sk, &ti)) < 0)
			return pr_perror("%s: cannot read its state (TCP_INFO)", what);
		if (done(st))
			return 0;
		/* rcv_nxt now: as made (the receive queue refilled in repair mode
		 * counts), plus what came since; snd_una the same way; the
		 * peer's ACK of our FIN: everything, FIN included, sent */
		seq = nxt0 + (uint32_t)ti.tcpi_bytes_received;
		ack = fin ? una0 + (uint32_t)ti.tcpi_bytes_acked : t->snd_seq + 1;
		if (inject(rs, s, seq, ack, win, fin))
			return pr_perror("%s: cannot send it the peer's %s (raw socket)", what, fin ? "FIN" : "ACK");
		for (int j = 0; j < 10; j++) {
			nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
			if ((st = tcp_state_of(sk, &ti)) < 0)
				return pr_perror("%s: cannot read its state (TCP_INFO)", what);
			if (done(st))
				return 0;
		}
	}
	return pr_err("%s did not take the peer's %s again (state %s after 20 tries)", what,
		      fin ? "FIN" : "acknowledgement of its FIN", state_name(st));
}

/* Whether our FIN is acknowledged (or more happened since). */
static int fin_acked(int st)
{
	return st != TCP_ESTABLISHED && st != TCP_FIN_WAIT1 && st != TCP_CLOSING && st != TCP_LAST_ACK;
}

static int give_peer_fin(struct raw_socks *rs, int sk, const FdEntry *e, const char *what)
{
	return give(rs, sk, e, what, 1, has_peer_fin);
}

/*
 * One step of a connection. The steps go over all connections of the tree
 * in turn, so that both ends of a connection in the tree come out right
 * whatever their order: first our FIN where the state is CLOSING (its
 * peer's FIN must come after it), then every peer's FIN, then every other
 * FIN of ours (LAST-ACK: after the peer's). A restored end's FIN reaching
 * the other restored end before the injection does the injection's work,
 * which then sees the state and sends nothing.
 */
static int finish_step(struct raw_socks *rs, int sk, const FdEntry *e, const char *what, int step)
{
	const TcpConnEntry *t = e->sk->tcp;
	int ours = t->has_our_fin && t->our_fin, peer = t->has_peer_fin && t->peer_fin;
	struct tcp_info ti;

	switch (step) {
	case 0:
		if (ours && t->state == TCP_CLOSING && shutdown(sk, SHUT_WR))
			return pr_perror("%s: cannot send its FIN again (shutdown)", what);
		return 0;
	case 1:
		return peer ? give_peer_fin(rs, sk, e, what) : 0;
	default:
		if (ours && t->state != TCP_CLOSING && shutdown(sk, SHUT_WR))
			return pr_perror("%s: cannot send its FIN again (shutdown)", what);
		/* FIN-WAIT-2: the peer had acknowledged it; its new ACK may
		 * come late or ride on a segment of its own that is lost */
		if (ours && t->our_fin_acked && give(rs, sk, e, what, 0, fin_acked))
			return -1;
		pr_info("%s brought to %s (saved: %s)%s%s", what, state_name(tcp_state_of(sk, &ti)),
			state_name(t->state), ours ? ", our FIN sent again" : "",
			peer ? ", the peer's FIN given again" : "");
		return 0;
	}
}

int closed_fill(int sk, const ProtobufCBinaryData *data)
{
	int big = (int)(data->len * 2 + (1 << 16));
	size_t off = 0;

	if (data->len > INT32_MAX / 4) {
		errno = EINVAL;
		return -1;
	}
	if (data->len > (1 << 16) && setsockopt(sk, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)))
		return -1;
	while (off < data->len) {
		ssize_t w = send(sk, data->data + off, data->len - off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		off += w;
	}
	return 0;
}

int tcp_half_finish(struct rst_tree *tree)
{
	struct raw_socks rs = { -1, -1 };
	int ret = 0;

	for (int step = 0; step < 3 && !ret; step++)
		for (size_t p = 0; p < tree->nr && !ret; p++) {
			struct rst_ctx *c = tree->p[p];
			int pidfd = -1;

			if (c->proc->zombie)
				continue;
			for (size_t i = 0; i < c->nr_fds && !ret; i++) {
				const FdEntry *e = c->fds[i];
				char what[200];
				int sk;

				if (!is_tcp_est(e) || !is_half(e->sk->tcp))
					continue;
				tcp_describe(e, what, sizeof(what));
				if (pidfd < 0 && (pidfd = syscall(SYS_pidfd_open, c->pid, 0)) < 0) {
					ret = pr_perror("cannot open a pidfd for process %d", c->pid);
					break;
				}
				sk = syscall(SYS_pidfd_getfd, pidfd, e->fd, 0);
				if (sk < 0) {
					ret = pr_perror("%s: cannot take a copy of it (pidfd_getfd)", what);
					break;
				}
				ret = finish_step(&rs, sk, e, what, step);
				close(sk);
			}
			if (pidfd >= 0)
				close(pidfd);
		}
	if (rs.v4 >= 0)
		close(rs.v4);
	if (rs.v6 >= 0)
		close(rs.v6);
	return ret;
}
