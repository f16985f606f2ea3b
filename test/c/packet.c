/*
 * packet - packet sockets (packet(7)) for t340-packet.bats.
 *
 *   packet READY netns NAME IF PEER
 *                       run inside the test's network namespace
 *                       /run/netns/NAME (exits 77 elsewhere), IF and PEER
 *                       the two ends of a veth pair there: the round trip
 *   packet READY unread NAME IF PEER
 *                       a socket bound to IF for ethertype 0x88b6 with a
 *                       frame (sent on PEER) not read yet; after SIGUSR2
 *                       its queue must be empty (dropped by the dump) and
 *                       a new frame must come in
 *   packet READY ring IF
 *                       a socket with a memory-mapped PACKET_RX_RING
 *   packet READY bound IF  a SOCK_DGRAM socket bound to IF for 0x88b6
 *   packet READY ring-nofd IF
 *                       the same ring, still mapped, its fd closed
 *   packet READY ebpf IF   a socket bound to IF with an eBPF filter
 *                       (SO_ATTACH_BPF; 77 when bpf(2) is not allowed)
 *   packet READY cbpf-fanout IF
 *                       a socket bound to IF in a PACKET_FANOUT_CBPF group
 *   packet READY sockpacket
 *                       an obsolete SOCK_PACKET socket
 *   packet READY foreign NAME
 *                       a packet socket made in network namespace
 *                       /run/netns/NAME (setns there and back)
 *
 * Round trip: "raw", SOCK_RAW for ETH_P_ALL bound to IF, with a classic
 * BPF filter passing ethertype 0x88b5 only (SO_LOCK_FILTER), a multicast
 * membership added twice, a promiscuous and an allmulti one, fanout group
 * (our PID's low 16 bits, PACKET_FANOUT_LB with FLAG_DEFRAG and
 * FLAG_ROLLOVER), PACKET_AUXDATA, PACKET_ORIGDEV, SO_RCVBUF; "raw2", the
 * same on IF in raw's fanout group, its filter not locked; "uniq",
 * SOCK_DGRAM bound to PEER for 0x88b7 in a fanout group whose id the
 * kernel chose (PACKET_FANOUT_FLAG_UNIQUEID); "dgram",
 * SOCK_DGRAM made with protocol 0, unbound, non-blocking, with
 * PACKET_VERSION, PACKET_RESERVE, PACKET_TIMESTAMP, PACKET_LOSS,
 * PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING, SO_PRIORITY, SO_SNDBUF;
 * "ip", SOCK_RAW for ETH_P_IP, not bound to an interface, with
 * PACKET_VNET_HDR, PACKET_TX_HAS_OFF and PACKET_COPY_THRESH. After SIGUSR2 it checks each
 * socket's address (getsockname: family, protocol, interface by name,
 * hardware type), SO_TYPE, SO_PROTOCOL, options, the filter
 * (SO_GET_FILTER: length, instructions), SO_LOCK_FILTER, fanout
 * (PACKET_FANOUT), fd flags, PACKET_COPY_THRESH and the membership count
 * (sock_diag: no getsockopt reads them); the memberships through the interface
 * (/proc/net/dev_mcast, still there after one PACKET_DROP_MEMBERSHIP of
 * two; the promiscuity and allmulti counts of RTM_GETLINK); then that raw
 * and raw2 share (round robin) four 0x88b5 frames sent on PEER, and that
 * neither gets a 0x88b6 one sent before them (the filters).
 *
 * CS_TEST_CORRUPT: addr, opts, dgram-opts, filter, fanout, mcast, promisc,
 * recv, copy-thresh.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <linux/sock_diag.h>
#include <linux/packet_diag.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/filter.h>
#include <linux/net_tstamp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include "tprog.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef SO_LOCK_FILTER
#define SO_LOCK_FILTER 44
#endif
#ifndef SO_GET_FILTER
#define SO_GET_FILTER SO_ATTACH_FILTER
#endif
#define ETH_TEST 0x88b5
#define ETH_OTHER 0x88b6
#define NSK 5
#define FANOUT_TYPE (PACKET_FANOUT_LB | PACKET_FANOUT_FLAG_DEFRAG | PACKET_FANOUT_FLAG_ROLLOVER)
#define ETH_UNIQ 0x88b7
#define NFRAMES 4

static const char *names[NSK] = { "raw", "dgram", "ip", "raw2", "uniq" };
static const int popts[] = { PACKET_VERSION, PACKET_RESERVE, PACKET_AUXDATA, PACKET_ORIGDEV, PACKET_VNET_HDR,
			     PACKET_TIMESTAMP, PACKET_LOSS, PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING,
			     PACKET_TX_HAS_OFF, PACKET_FANOUT };
static const char *const popt_names[] = { "PACKET_VERSION", "PACKET_RESERVE", "PACKET_AUXDATA", "PACKET_ORIGDEV",
					  "PACKET_VNET_HDR", "PACKET_TIMESTAMP", "PACKET_LOSS",
					  "PACKET_QDISC_BYPASS", "PACKET_IGNORE_OUTGOING", "PACKET_TX_HAS_OFF",
					  "PACKET_FANOUT" };
#define NPOPTS (sizeof(popts) / sizeof(popts[0]))
static const uint8_t mc_addr[6] = { 0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e };	/* LLDP */

/* 0x88b5 frames pass whole, anything else is dropped */
static struct sock_filter prog[] = {
	BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_TEST, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, 0xffff),
	BPF_STMT(BPF_RET | BPF_K, 0),
};
#define NPROG (sizeof(prog) / sizeof(prog[0]))

struct state {
	char ifname[IF_NAMESIZE];	/* of sll_ifindex: another host numbers its interfaces otherwise */
	int family, protocol, hatype;
	int type, skproto, popt[NPOPTS], rcvbuf, sndbuf, priority, fl, fdfl, lock;
	int nfilter;
	struct sock_filter filter[16];
	int copy_thresh;	/* PACKET_DIAG_INFO: no getsockopt reads it */
	int mc_count;		/* PACKET_DIAG_MCLIST: times the multicast address was added */
};

static int sk[NSK];
static struct state want[NSK];
static unsigned checked;
static const char *ifname, *peername;

static void setint(int s, int level, int name, int v)
{
	if (setsockopt(s, level, name, &v, sizeof(v)))
		tp_die("setsockopt %d/%d to %d", level, name, v);
}

static int getint(int s, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(s, level, name, &v, &l);
	return v;
}

static int pk_socket(int type, int proto)
{
	int s = socket(AF_PACKET, type, proto);

	if (s < 0)
		tp_die("socket(AF_PACKET, %d, 0x%x)", type, proto);
	return s;
}

static void pk_bind(int s, const char *dev, int proto)
{
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(proto) };

	a.sll_ifindex = if_nametoindex(dev);
	if (!a.sll_ifindex || bind(s, (struct sockaddr *)&a, sizeof(a)))
		tp_die("bind to %s", dev);
}

static void member(int s, const char *dev, int type, const uint8_t *addr)
{
	struct packet_mreq m = { .mr_ifindex = if_nametoindex(dev), .mr_type = type };

	if (addr) {
		m.mr_alen = 6;
		memcpy(m.mr_address, addr, 6);
	}
	if (setsockopt(s, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &m, sizeof(m)))
		tp_die("PACKET_ADD_MEMBERSHIP type %d on %s", type, dev);
}

/*
 * What only sock_diag tells about socket S (PACKET_DIAG, linux/packet_diag.h):
 * its PACKET_COPY_THRESH and how many times mc_addr was added; -1 each when
 * not found.
 */
static void diag_state(int s, struct state *st)
{
	struct {
		struct nlmsghdr h;
		struct packet_diag_req r;
	} req;
	struct stat sb;
	static char buf[65536];
	int d = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), done = 0;

	st->copy_thresh = st->mc_count = -1;
	if (d < 0 || fstat(s, &sb))
		tp_die("sock_diag");
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = AF_PACKET;
	req.r.pdiag_show = PACKET_SHOW_INFO | PACKET_SHOW_MCLIST;
	if (send(d, &req, sizeof(req), 0) != sizeof(req))
		tp_die("sock_diag request");
	while (!done) {
		ssize_t n = recv(d, buf, sizeof(buf), 0);

		if (n <= 0)
			break;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
			struct packet_diag_msg *m = NLMSG_DATA(h);
			struct rtattr *a = (struct rtattr *)(m + 1);
			int l = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			if (m->pdiag_ino != sb.st_ino)
				continue;
			for (; RTA_OK(a, l); a = RTA_NEXT(a, l)) {
				if (a->rta_type == PACKET_DIAG_INFO)
					st->copy_thresh = ((struct packet_diag_info *)RTA_DATA(a))->pdi_copy_thresh;
				if (a->rta_type == PACKET_DIAG_MCLIST) {
					struct packet_diag_mclist *mc = RTA_DATA(a);

					st->mc_count = 0;
					for (size_t k = 0; k < RTA_PAYLOAD(a) / sizeof(*mc); k++)
						if (mc[k].pdmc_type == PACKET_MR_MULTICAST && !memcmp(mc[k].pdmc_addr, mc_addr, 6))
							st->mc_count = mc[k].pdmc_count;
				}
			}
		}
	}
	close(d);
}

static void read_state(int s, struct state *st)
{
	struct sockaddr_ll a;
	socklen_t l = sizeof(a);

	memset(st, 0, sizeof(*st));
	memset(&a, 0, sizeof(a));
	getsockname(s, (struct sockaddr *)&a, &l);
	st->family = a.sll_family;
	st->protocol = ntohs(a.sll_protocol);
	if (a.sll_ifindex && !if_indextoname(a.sll_ifindex, st->ifname))
		snprintf(st->ifname, sizeof(st->ifname), "#%d", a.sll_ifindex);
	st->hatype = a.sll_hatype;
	st->type = getint(s, SOL_SOCKET, SO_TYPE);
	st->skproto = getint(s, SOL_SOCKET, SO_PROTOCOL);
	for (size_t i = 0; i < NPOPTS; i++)
		st->popt[i] = getint(s, SOL_PACKET, popts[i]);
	st->rcvbuf = getint(s, SOL_SOCKET, SO_RCVBUF);
	st->sndbuf = getint(s, SOL_SOCKET, SO_SNDBUF);
	st->priority = getint(s, SOL_SOCKET, SO_PRIORITY);
	st->lock = getint(s, SOL_SOCKET, SO_LOCK_FILTER);
	st->fl = fcntl(s, F_GETFL) & (O_NONBLOCK | O_ACCMODE);
	st->fdfl = fcntl(s, F_GETFD);
	/* SO_GET_FILTER counts in instructions, not bytes (socket(7)) */
	l = 16;
	if (getsockopt(s, SOL_SOCKET, SO_GET_FILTER, st->filter, &l) == 0)
		st->nfilter = l;
	else
		st->nfilter = -errno;
	diag_state(s, st);
}

static void check(int i)
{
	struct state g;
	char w[96];

	read_state(sk[i], &g);
#define C(field, label)                                                                    \
	do {                                                                               \
		snprintf(w, sizeof(w), "%s %s", names[i], label);                          \
		tp_check_u64(w, (uint64_t)(uint32_t)g.field, (uint64_t)(uint32_t)want[i].field); \
		checked++;                                                                 \
	} while (0)
	C(family, "sll_family");
	C(protocol, "sll_protocol");
	snprintf(w, sizeof(w), "%s sll_ifindex's interface", names[i]);
	checked++;
	if (strcmp(g.ifname, want[i].ifname))
		tp_differs(w, "got \"%s\" want \"%s\"", g.ifname, want[i].ifname);
	C(hatype, "sll_hatype");
	C(type, "SO_TYPE");
	C(skproto, "SO_PROTOCOL");
	for (size_t k = 0; k < NPOPTS; k++)
		C(popt[k], popt_names[k]);
	C(rcvbuf, "SO_RCVBUF");
	C(sndbuf, "SO_SNDBUF");
	C(priority, "SO_PRIORITY");
	C(lock, "SO_LOCK_FILTER");
	C(fl, "file status flags");
	C(fdfl, "fd flags");
	C(nfilter, "filter length");
	C(copy_thresh, "PACKET_COPY_THRESH (sock_diag)");
	C(mc_count, "multicast membership count (sock_diag)");
	if (g.nfilter == want[i].nfilter && g.nfilter > 0) {
		snprintf(w, sizeof(w), "%s filter instructions", names[i]);
		tp_check_bytes(w, g.filter, want[i].filter, g.nfilter * sizeof(g.filter[0]));
		checked++;
	}
#undef C
}

/*
 * The promiscuity and allmulti counters of DEV (IFLA_PROMISCUITY,
 * IFLA_ALLMULTI of RTM_GETLINK): a packet socket's PACKET_MR_PROMISC and
 * ALLMULTI memberships count there, not in the flags SIOCGIFFLAGS gives
 * (dev_get_flags shows only what was set by hand). -1 each when unknown.
 */
static void if_counts(const char *dev, int *promisc, int *allmulti)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req;
	char buf[16384];
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	ssize_t n;

	*promisc = *allmulti = -1;
	if (s < 0)
		return;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = RTM_GETLINK;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.i.ifi_family = AF_UNSPEC;
	req.i.ifi_index = if_nametoindex(dev);
	if (send(s, &req, sizeof(req), 0) == sizeof(req) && (n = recv(s, buf, sizeof(buf), 0)) > 0) {
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
			struct rtattr *a = IFLA_RTA((struct ifinfomsg *)NLMSG_DATA(h));
			int l = IFLA_PAYLOAD(h);

			if (h->nlmsg_type != RTM_NEWLINK)
				continue;
			for (; RTA_OK(a, l); a = RTA_NEXT(a, l)) {
				if (a->rta_type == IFLA_PROMISCUITY)
					*promisc = *(uint32_t *)RTA_DATA(a);
				if (a->rta_type == IFLA_ALLMULTI)
					*allmulti = *(uint32_t *)RTA_DATA(a);
			}
		}
	}
	close(s);
}

/* The users count of address ADDR on DEV in /proc/net/dev_mcast; 0 when absent. */
static int mcast_users(const char *dev, const uint8_t *addr)
{
	char line[256], want_hex[13], d[IF_NAMESIZE + 1], hex[64];
	int users = 0, idx, u, g;
	FILE *f = fopen("/proc/net/dev_mcast", "re");

	for (int i = 0; i < 6; i++)
		snprintf(want_hex + 2 * i, 3, "%02x", addr[i]);
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%d %16s %d %d %63s", &idx, d, &u, &g, hex) == 5 && !strcmp(d, dev) &&
		    !strcmp(hex, want_hex))
			users = u;
	fclose(f);
	return users;
}

/* Send one frame of ethertype TYPE from PEER to broadcast, through a socket of our own. */
static void send_frame(int type, uint32_t nonce)
{
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(type), .sll_halen = 6 };
	uint8_t frame[64];
	int s = pk_socket(SOCK_RAW | SOCK_CLOEXEC, 0);

	a.sll_ifindex = if_nametoindex(peername);
	memset(frame, 0, sizeof(frame));
	memset(frame, 0xff, 6);
	frame[6] = 0x02;
	frame[11] = 0x01;
	frame[12] = type >> 8;
	frame[13] = type & 0xff;
	memcpy(frame + 14, &nonce, 4);
	memset(a.sll_addr, 0xff, 6);
	if (sendto(s, frame, sizeof(frame), 0, (struct sockaddr *)&a, sizeof(a)) != sizeof(frame))
		tp_die("cannot send a frame on %s", peername);
	close(s);
}

/* Wait up to 5 s on S for a frame; its ethertype and nonce, or -1. */
static int recv_frame(int s, uint32_t *nonce, int timeout_ms)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	uint8_t buf[2048];
	ssize_t n;

	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 18)
		return -1;
	memcpy(nonce, buf + 14, 4);
	return buf[12] << 8 | buf[13];
}

static int in_netns(const char *name)
{
	struct stat a, b;
	char path[256];

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	return stat("/proc/self/ns/net", &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

static void unread(const char *ready)
{
	uint32_t nonce = getpid(), got;
	int s = pk_socket(SOCK_RAW | SOCK_CLOEXEC, 0), t;
	struct pollfd p = { .fd = s, .events = POLLIN };

	pk_bind(s, ifname, ETH_OTHER);
	send_frame(ETH_OTHER, nonce);
	if (poll(&p, 1, 5000) != 1)
		tp_die("the frame sent on %s did not arrive", peername);
	tp_write_ready(ready);
	tp_wait_usr2();
	checked++;
	if (recv(s, &got, sizeof(got), MSG_DONTWAIT) >= 0)
		tp_differs("unread frame", "still queued after the restore (want dropped)");
	send_frame(ETH_OTHER, nonce + 1);
	t = recv_frame(s, &got, 5000);
	checked++;
	if (t != ETH_OTHER || got != nonce + 1)
		tp_differs("frame after the restore", "got ethertype 0x%x nonce %u, want 0x%x %u", t, got, ETH_OTHER,
			   nonce + 1);
	tp_finish(checked);
}

/* keep_fd 0: the ring stays mapped after its socket's fd is closed */
static void ring(const char *ready, int keep_fd)
{
	struct tpacket_req r = { .tp_block_size = 4096, .tp_block_nr = 1, .tp_frame_size = 2048, .tp_frame_nr = 2 };
	int s = pk_socket(SOCK_RAW | SOCK_CLOEXEC, 0);

	if (setsockopt(s, SOL_PACKET, PACKET_RX_RING, &r, sizeof(r)) ||
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0) == MAP_FAILED)
		tp_die("PACKET_RX_RING");
	pk_bind(s, ifname, ETH_OTHER);
	if (!keep_fd)
		close(s);
	tp_write_ready(ready);
	tp_wait_usr2();
	tp_log("ok: ring");
	exit(0);
}

/* A socket bound to IF whose filter is an eBPF program (SO_ATTACH_BPF); 77 when bpf(2) is not allowed. */
static void ebpf(const char *ready)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr attr;
	int s = pk_socket(SOCK_RAW | SOCK_CLOEXEC, 0), pfd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (uintptr_t)insns;
	attr.insn_cnt = 2;
	attr.license = (uintptr_t) "GPL";
	pfd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (pfd < 0) {
		tp_log("bpf(BPF_PROG_LOAD): %s", strerror(errno));
		exit(TP_EXIT_SKIP);
	}
	if (setsockopt(s, SOL_SOCKET, SO_ATTACH_BPF, &pfd, sizeof(pfd)))
		tp_die("SO_ATTACH_BPF");
	close(pfd);	/* the socket holds the program */
	pk_bind(s, ifname, ETH_OTHER);
	tp_write_ready(ready);
	tp_wait_usr2();
	tp_log("ok: ebpf");
	exit(0);
}

/* A socket bound to IF in a fanout group steered by a classic BPF program (PACKET_FANOUT_CBPF). */
static void cbpf_fanout(const char *ready)
{
	struct sock_filter f = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog fp = { .len = 1, .filter = &f };
	int s = pk_socket(SOCK_RAW | SOCK_CLOEXEC, 0);

	pk_bind(s, ifname, ETH_OTHER);
	setint(s, SOL_PACKET, PACKET_FANOUT, 4321 | PACKET_FANOUT_CBPF << 16);
	if (setsockopt(s, SOL_PACKET, PACKET_FANOUT_DATA, &fp, sizeof(fp)))
		tp_die("PACKET_FANOUT_DATA");
	tp_write_ready(ready);
	tp_wait_usr2();
	tp_log("ok: cbpf-fanout");
	exit(0);
}

/* A socket bound to IF for 0x88b6 (the test may remove IF). */
static void bound(const char *ready)
{
	int s = pk_socket(SOCK_DGRAM | SOCK_CLOEXEC, 0);

	pk_bind(s, ifname, ETH_OTHER);
	tp_write_ready(ready);
	tp_wait_usr2();
	tp_log("ok: bound");
	exit(0);
}

/* An obsolete SOCK_PACKET socket. */
static void sock_packet(const char *ready)
{
	pk_socket(SOCK_PACKET | SOCK_CLOEXEC, htons(ETH_P_ALL));
	tp_write_ready(ready);
	tp_wait_usr2();
	tp_log("ok: sockpacket");
	exit(0);
}

static void foreign(const char *ready, const char *name)
{
	char path[256];
	int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), other;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	other = open(path, O_RDONLY | O_CLOEXEC);
	if (own < 0 || other < 0 || setns(other, CLONE_NEWNET))
		tp_die("cannot enter %s", path);
	pk_socket(SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_OTHER));
	if (setns(own, CLONE_NEWNET))
		tp_die("cannot come back to our network namespace");
	close(own);
	close(other);
	tp_write_ready(ready);
	tp_wait_usr2();
	tp_log("ok: foreign");
	exit(0);
}

/* raw: every protocol on IF, the filter (locked), memberships, fanout group id; into sk[0] */
static void make_raw(int fanout_id)
{
	struct sock_fprog fp = { .len = NPROG, .filter = prog };
	int s = pk_socket(SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

	if (setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)))
		tp_die("SO_ATTACH_FILTER");
	setint(s, SOL_SOCKET, SO_LOCK_FILTER, 1);
	pk_bind(s, ifname, ETH_P_ALL);
	member(s, ifname, PACKET_MR_MULTICAST, mc_addr);
	member(s, ifname, PACKET_MR_MULTICAST, mc_addr);
	member(s, ifname, PACKET_MR_PROMISC, NULL);
	member(s, ifname, PACKET_MR_ALLMULTI, NULL);
	setint(s, SOL_PACKET, PACKET_FANOUT, fanout_id | FANOUT_TYPE << 16);
	setint(s, SOL_PACKET, PACKET_AUXDATA, 1);
	setint(s, SOL_PACKET, PACKET_ORIGDEV, 1);
	setint(s, SOL_SOCKET, SO_RCVBUFFORCE, 300000);
	if (sk[0] > 0) {
		dup2(s, sk[0]);
		close(s);
	} else {
		sk[0] = s;
	}
}

/*
 * The NFRAMES test frames sent after a dropped one, shared out by the
 * fanout group between raw and raw2: each must get some (the group has
 * both), all must come, none of another ethertype (the filters).
 */
static void check_receive(uint32_t nonce)
{
	int n[2] = { 0, 0 };

	for (int tries = 0; tries < 50 && n[0] + n[1] < NFRAMES; tries++) {
		struct pollfd p[2] = { { .fd = sk[0], .events = POLLIN }, { .fd = sk[3], .events = POLLIN } };

		if (poll(p, 2, 100) <= 0)
			continue;
		for (int j = 0; j < 2; j++) {
			uint32_t got;
			int t;

			if (!(p[j].revents & POLLIN))
				continue;
			t = recv_frame(p[j].fd, &got, 0);
			if (t < 0)
				continue;
			if (t != ETH_TEST || got - nonce - 1 >= NFRAMES)
				tp_differs(j ? "raw2 receive" : "raw receive", "a frame of ethertype 0x%x nonce 0x%x "
					   "(the filter passes 0x%x only)", t, got, ETH_TEST);
			n[j]++;
		}
	}
	checked += 3;
	if (n[0] + n[1] != NFRAMES)
		tp_differs("receive", "%d frames of %d in 5 s", n[0] + n[1], NFRAMES);
	if (!n[0])
		tp_differs("raw receive", "no frame (fanout round robin with raw2: %d)", n[1]);
	if (!n[1])
		tp_differs("raw2 receive", "no frame (fanout round robin with raw: %d)", n[0]);
}

/* Drop one membership of ADDR on IF from S. */
static void drop_mcast(int s)
{
	struct packet_mreq m = { .mr_ifindex = if_nametoindex(ifname), .mr_type = PACKET_MR_MULTICAST, .mr_alen = 6 };

	memcpy(m.mr_address, mc_addr, 6);
	if (setsockopt(s, SOL_PACKET, PACKET_DROP_MEMBERSHIP, &m, sizeof(m)))
		tp_log("note: PACKET_DROP_MEMBERSHIP: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "addr", "opts", "dgram-opts", "filter", "fanout", "mcast", "promisc",
					     "recv", "copy-thresh", NULL };
	uint32_t nonce;
	int t, fanout_id, pc, ac;

	tp_init("packet", argc, argv);
	tp_block_usr2();
	if (argc > 3 && !strcmp(argv[2], "ring")) {
		ifname = argv[3];
		ring(argv[1], 1);
	}
	if (argc > 3 && !strcmp(argv[2], "bound")) {
		ifname = argv[3];
		bound(argv[1]);
	}
	if (argc > 3 && !strcmp(argv[2], "ring-nofd")) {
		ifname = argv[3];
		ring(argv[1], 0);
	}
	if (argc > 3 && !strcmp(argv[2], "ebpf")) {
		ifname = argv[3];
		ebpf(argv[1]);
	}
	if (argc > 3 && !strcmp(argv[2], "cbpf-fanout")) {
		ifname = argv[3];
		cbpf_fanout(argv[1]);
	}
	if (argc > 2 && !strcmp(argv[2], "sockpacket"))
		sock_packet(argv[1]);
	if (argc > 3 && !strcmp(argv[2], "foreign"))
		foreign(argv[1], argv[3]);
	if (argc < 6 || (strcmp(argv[2], "netns") && strcmp(argv[2], "unread"))) {
		errno = EINVAL;
		tp_die("usage: packet READY netns|unread NAME IF PEER | ring|ebpf|cbpf-fanout IF | sockpacket | "
		       "foreign NAME");
	}
	if (!in_netns(argv[3])) {
		tp_log("not in network namespace %s: it would send frames in another namespace", argv[3]);
		exit(TP_EXIT_SKIP);
	}
	ifname = argv[4];
	peername = argv[5];
	if (!strcmp(argv[2], "unread"))
		unread(argv[1]);
	tp_corrupt_check_mode(modes);

	fanout_id = getpid() & 0xffff;
	make_raw(fanout_id);
	/* raw2: in raw's fanout group (round robin), with the same filter, not locked */
	sk[3] = pk_socket(SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	{
		struct sock_fprog fp = { .len = NPROG, .filter = prog };

		if (setsockopt(sk[3], SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)))
			tp_die("SO_ATTACH_FILTER");
	}
	pk_bind(sk[3], ifname, ETH_P_ALL);
	setint(sk[3], SOL_PACKET, PACKET_FANOUT, fanout_id | FANOUT_TYPE << 16);
	/* uniq: a fanout group whose id the kernel chose (maybe 0: "no group" to getsockopt) */
	sk[4] = pk_socket(SOCK_DGRAM | SOCK_CLOEXEC, 0);
	pk_bind(sk[4], peername, ETH_UNIQ);
	setint(sk[4], SOL_PACKET, PACKET_FANOUT, (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_UNIQUEID) << 16);
	/* dgram: unbound, options */
	sk[1] = pk_socket(SOCK_DGRAM | SOCK_NONBLOCK, 0);
	setint(sk[1], SOL_PACKET, PACKET_VERSION, TPACKET_V2);
	setint(sk[1], SOL_PACKET, PACKET_RESERVE, 64);
	setint(sk[1], SOL_PACKET, PACKET_TIMESTAMP, SOF_TIMESTAMPING_RAW_HARDWARE);
	setint(sk[1], SOL_PACKET, PACKET_LOSS, 1);
	setint(sk[1], SOL_PACKET, PACKET_QDISC_BYPASS, 1);
	setint(sk[1], SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
	setint(sk[1], SOL_SOCKET, SO_PRIORITY, 5);
	setint(sk[1], SOL_SOCKET, SO_SNDBUF, 60000);
	/* ip: IPv4 on every interface, virtio-net headers */
	sk[2] = pk_socket(SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_IP));
	setint(sk[2], SOL_PACKET, PACKET_VNET_HDR, 1);
	setint(sk[2], SOL_PACKET, PACKET_TX_HAS_OFF, 1);
	setint(sk[2], SOL_PACKET, PACKET_COPY_THRESH, 1);
	for (int i = 0; i < NSK; i++)
		read_state(sk[i], &want[i]);
	if (want[0].nfilter != (int)NPROG)
		tp_die("SO_GET_FILTER gave %d instructions, want %zu", want[0].nfilter, NPROG);

	if (tp_corrupting("addr")) {
		int s = pk_socket(SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

		pk_bind(s, peername, ETH_P_ALL);
		dup2(s, sk[0]);
		close(s);
	}
	if (tp_corrupting("opts"))
		setint(sk[0], SOL_PACKET, PACKET_ORIGDEV, 0);
	if (tp_corrupting("dgram-opts"))
		setint(sk[1], SOL_PACKET, PACKET_RESERVE, 32);
	if (tp_corrupting("filter")) {
		/* a program of the same length for another ethertype */
		prog[1].k = ETH_OTHER;
		make_raw(fanout_id);
		prog[1].k = ETH_TEST;
	}
	if (tp_corrupting("fanout"))
		make_raw((fanout_id + 1) & 0xffff);
	if (tp_corrupting("copy-thresh"))
		setint(sk[2], SOL_PACKET, PACKET_COPY_THRESH, 0);
	if (tp_corrupting("mcast"))
		drop_mcast(sk[0]);	/* added twice: still there once */
	if (tp_corrupting("promisc")) {
		struct packet_mreq m = { .mr_ifindex = if_nametoindex(ifname), .mr_type = PACKET_MR_PROMISC };

		setsockopt(sk[0], SOL_PACKET, PACKET_DROP_MEMBERSHIP, &m, sizeof(m));
	}

	tp_write_ready(argv[1]);
	tp_wait_usr2();

	for (int i = 0; i < NSK; i++)
		check(i);
	/* memberships: ours alone on this veth end (the namespace is the test's) */
	t = mcast_users(ifname, mc_addr);
	checked++;
	if (t < 1)
		tp_differs("raw multicast membership", "%02x:%02x:%02x:%02x:%02x:%02x not on %s (users %d)",
			   mc_addr[0], mc_addr[1], mc_addr[2], mc_addr[3], mc_addr[4], mc_addr[5], ifname, t);
	/* it was added twice: after one drop it must still be there */
	drop_mcast(sk[0]);
	t = mcast_users(ifname, mc_addr);
	checked++;
	if (t < 1)
		tp_differs("raw multicast membership count", "gone from %s after one PACKET_DROP_MEMBERSHIP "
			   "(want added twice)", ifname);
	/* ours are the only ones on this end of the test's veth pair */
	if_counts(ifname, &pc, &ac);
	checked += 2;
	if (pc != 1)
		tp_differs("raw PACKET_MR_PROMISC", "%s promiscuity %d, want 1", ifname, pc);
	if (ac != 1)
		tp_differs("raw PACKET_MR_ALLMULTI", "%s allmulti %d, want 1", ifname, ac);
	/* the filter drops 0x88b6, passes 0x88b5 */
	/* round robin over raw and raw2: a dropped frame takes its turn too */
	nonce = getpid() * 7u;
	send_frame(ETH_OTHER, nonce);
	for (int k = 1; k <= NFRAMES && !tp_corrupting("recv"); k++)
		send_frame(ETH_TEST, nonce + k);
	check_receive(nonce);
	tp_finish(checked);
}
