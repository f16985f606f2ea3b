/*
 * netlink - netlink sockets for t330-netlink.bats.
 *
 *   netlink READY netns NAME   run inside the test's network namespace
 *                              /run/netns/NAME (exits 77 elsewhere): the
 *                              round trip
 *   netlink READY dump-running a generic netlink socket whose family dump
 *                              (CTRL_CMD_GETFAMILY) is not read to the end
 *   netlink READY unread       an rtnetlink socket with a reply not read
 *   netlink READY foreign NAME an rtnetlink socket made in network namespace
 *                              /run/netns/NAME (setns there and back)
 *   netlink READY nfqueue NUM  a netfilter socket bound to NFQUEUE queue NUM
 *                              (run it in a network namespace of the test's)
 *   netlink READY filter [lock|unix|udp]
 *                              an rtnetlink listener (RTMGRP_LINK) with a
 *                              classic socket filter (SO_ATTACH_FILTER, one
 *                              instruction that keeps every message), and
 *                              with lock the filter locked (SO_LOCK_FILTER);
 *                              unix: the filter on a unix datagram socket
 *                              of a pair instead, udp: on a UDP socket
 *                              bound to 127.0.0.1 (fd 3 in each case)
 *   netlink READY hold PROTO PORTID
 *                              a socket of PROTO bound to PORTID (takes the
 *                              address of a dumped socket before its restore)
 *
 * Round trip: an rtnetlink listener (autobound to the PID, RTMGRP_LINK |
 * RTMGRP_IPV4_IFADDR, groups 33 and 36 joined with NETLINK_ADD_MEMBERSHIP,
 * every NETLINK_* flag and SO_RCVBUF/SO_PASSCRED set), a second rtnetlink
 * socket autobound (a negative portid), a generic netlink socket bound to
 * a chosen portid in nlctrl's group 16, an unbound one (O_NONBLOCK), and a
 * pair of NETLINK_USERSOCK sockets, one connected to the other. After
 * SIGUSR2 it checks each socket's portid (getsockname), groups
 * (NETLINK_LIST_MEMBERSHIPS), flags, buffer sizes, type, protocol, peer
 * (getpeername) and fd flags, then that they still work: the connected
 * usersock socket sends to its peer, and an address added to lo (through a
 * socket of its own, in the test's namespace) is announced to the listener
 * with its NETLINK_PKTINFO group.
 *
 * CS_TEST_CORRUPT: portid, groups, opts, rcvbuf, peer, flags, notify.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/genetlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include "tprog.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

#define NSK 6
static const char *names[NSK] = { "route", "route2", "generic", "unbound", "usersock-peer", "usersock-conn" };
static const int opts[] = { NETLINK_PKTINFO, NETLINK_BROADCAST_ERROR, NETLINK_NO_ENOBUFS, NETLINK_LISTEN_ALL_NSID,
			    NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK };
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

struct state {
	uint32_t portid, groups[8];
	int opt[NOPTS], rcvbuf, sndbuf, passcred, type, proto, fl, fdfl;
	uint32_t peer_pid, peer_groups;
};

static int sk[NSK];
static struct state want[NSK];
static unsigned checked;

static int nl_socket(int type, int proto)
{
	int s = socket(AF_NETLINK, type, proto);

	if (s < 0)
		tp_die("socket(AF_NETLINK, %d, %d)", type, proto);
	return s;
}

static void nl_bind(int s, uint32_t pid, uint32_t groups)
{
	struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_pid = pid, .nl_groups = groups };

	if (bind(s, (struct sockaddr *)&a, sizeof(a)))
		tp_die("bind to portid %u", pid);
}

static void setint(int s, int level, int name, int v)
{
	if (setsockopt(s, level, name, &v, sizeof(v)))
		tp_die("setsockopt %d/%d", level, name);
}

static int getint(int s, int level, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(s, level, name, &v, &l);
	return v;
}

static void read_state(int s, struct state *st)
{
	struct sockaddr_nl a;
	socklen_t l = sizeof(a);

	memset(st, 0, sizeof(*st));
	memset(&a, 0, sizeof(a));
	getsockname(s, (struct sockaddr *)&a, &l);
	st->portid = a.nl_pid;
	l = sizeof(st->groups);
	getsockopt(s, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, st->groups, &l);
	for (size_t i = 0; i < NOPTS; i++)
		st->opt[i] = getint(s, SOL_NETLINK, opts[i]);
	st->rcvbuf = getint(s, SOL_SOCKET, SO_RCVBUF);
	st->sndbuf = getint(s, SOL_SOCKET, SO_SNDBUF);
	st->passcred = getint(s, SOL_SOCKET, SO_PASSCRED);
	st->type = getint(s, SOL_SOCKET, SO_TYPE);
	st->proto = getint(s, SOL_SOCKET, SO_PROTOCOL);
	st->fl = fcntl(s, F_GETFL) & (O_NONBLOCK | O_ACCMODE);
	st->fdfl = fcntl(s, F_GETFD);
	memset(&a, 0, sizeof(a));
	l = sizeof(a);
	if (getpeername(s, (struct sockaddr *)&a, &l) == 0) {
		st->peer_pid = a.nl_pid;
		st->peer_groups = a.nl_groups;
	}
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
	C(portid, "portid");
	for (int k = 0; k < 8; k++) {
		char lab[32];

		snprintf(lab, sizeof(lab), "groups word %d", k);
		C(groups[k], lab);
	}
	for (size_t k = 0; k < NOPTS; k++) {
		char lab[32];

		snprintf(lab, sizeof(lab), "SOL_NETLINK option %d", opts[k]);
		C(opt[k], lab);
	}
	C(rcvbuf, "SO_RCVBUF");
	C(sndbuf, "SO_SNDBUF");
	C(passcred, "SO_PASSCRED");
	C(type, "SO_TYPE");
	C(proto, "SO_PROTOCOL");
	C(fl, "file status flags");
	C(fdfl, "fd flags");
	C(peer_pid, "peer portid");
	C(peer_groups, "peer groups");
#undef C
}

/* In the network namespace /run/netns/NAME (the test's own), so that lo may be changed. */
static int in_netns(const char *name)
{
	struct stat a, b;
	char path[256];

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	return stat("/proc/self/ns/net", &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* Add ADDR/32 to lo (ifindex 1) through a socket of our own; wait for the ack. */
static void add_addr(uint32_t addr)
{
	struct {
		struct nlmsghdr h;
		struct ifaddrmsg ifa;
		struct rtattr rta;
		uint32_t a;
	} req;
	char buf[4096];
	int s = nl_socket(SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = RTM_NEWADDR;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	req.h.nlmsg_seq = 1;
	req.ifa.ifa_family = AF_INET;
	req.ifa.ifa_prefixlen = 32;
	req.ifa.ifa_index = 1;
	req.rta.rta_type = IFA_LOCAL;
	req.rta.rta_len = RTA_LENGTH(4);
	req.a = addr;
	if (send(s, &req, sizeof(req), 0) != sizeof(req))
		tp_die("cannot send RTM_NEWADDR");
	n = recv(s, buf, sizeof(buf), 0);
	if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || ((struct nlmsghdr *)buf)->nlmsg_type != NLMSG_ERROR)
		tp_die("no answer to RTM_NEWADDR");
	if (((struct nlmsgerr *)NLMSG_DATA((struct nlmsghdr *)buf))->error) {
		errno = -((struct nlmsgerr *)NLMSG_DATA((struct nlmsghdr *)buf))->error;
		tp_die("RTM_NEWADDR refused");
	}
	close(s);
}

/* Wait up to 5 s on the listener for RTM_NEWADDR of ADDR; returns its NETLINK_PKTINFO group, or -1. */
static int wait_newaddr(int s, uint32_t addr)
{
	for (int tries = 0; tries < 50; tries++) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		char buf[8192], cbuf[256];
		struct sockaddr_nl from;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		int group = 0;
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recvmsg(s, &m, 0);
		if (n <= 0)
			continue;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == SOL_NETLINK && c->cmsg_type == NETLINK_PKTINFO)
				group = ((struct nl_pktinfo *)CMSG_DATA(c))->group;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
			struct ifaddrmsg *ifa = NLMSG_DATA(h);
			struct rtattr *a = IFA_RTA(ifa);
			int l = IFA_PAYLOAD(h);

			if (h->nlmsg_type != RTM_NEWADDR)
				continue;
			for (; RTA_OK(a, l); a = RTA_NEXT(a, l))
				if (a->rta_type == IFA_LOCAL && !memcmp(RTA_DATA(a), &addr, 4))
					return group;
		}
	}
	return -1;
}

/* The usersock pair still talks: conn sends, peer receives it from conn's portid. */
static void check_usersock(void)
{
	struct pollfd p = { .fd = sk[4], .events = POLLIN };
	struct {
		struct nlmsghdr h;
		char data[8];
	} msg, got;
	struct sockaddr_nl from;
	socklen_t fl = sizeof(from);

	memset(&msg, 0, sizeof(msg));
	msg.h.nlmsg_len = sizeof(msg);
	msg.h.nlmsg_type = NLMSG_MIN_TYPE;
	memcpy(msg.data, "cs-ping", 8);
	checked++;
	if (send(sk[5], &msg, sizeof(msg), 0) != sizeof(msg)) {
		tp_differs("usersock-conn send", "send to its peer failed: %s", strerror(errno));
		return;
	}
	if (poll(&p, 1, 5000) != 1 ||
	    recvfrom(sk[4], &got, sizeof(got), MSG_DONTWAIT, (struct sockaddr *)&from, &fl) != sizeof(msg)) {
		tp_differs("usersock-peer receive", "nothing from usersock-conn in 5 s");
		return;
	}
	tp_check_bytes("usersock-peer message", got.data, msg.data, 8);
	tp_check_u64("usersock-peer sender portid", from.nl_pid, want[5].portid);
}

static void hold(int proto, uint32_t portid, const char *ready)
{
	int s = nl_socket(SOCK_RAW | SOCK_CLOEXEC, proto);

	nl_bind(s, portid, 0);
	tp_write_ready(ready);
	tp_wait_usr2();
	tp_log("ok: held portid %u", portid);
	exit(0);
}

/* A generic netlink family dump (every family: several parts) sent, never read. */
static void dump_running(const char *ready)
{
	struct {
		struct nlmsghdr h;
		struct genlmsghdr g;
	} req;
	int s = nl_socket(SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);

	setint(s, SOL_SOCKET, SO_RCVBUF, 4096);
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = GENL_ID_CTRL;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.g.cmd = CTRL_CMD_GETFAMILY;
	req.g.version = 1;
	if (send(s, &req, sizeof(req), 0) != sizeof(req))
		tp_die("cannot send CTRL_CMD_GETFAMILY");
	tp_write_ready(ready);
	tp_wait_usr2();
	tp_log("ok: dump-running");
	exit(0);
}

/* An rtnetlink reply (RTM_GETLINK of lo) left unread. */
static void unread(const char *ready)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req;
	int s = nl_socket(SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	struct pollfd p = { .fd = s, .events = POLLIN };

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = RTM_GETLINK;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.i.ifi_family = AF_UNSPEC;
	req.i.ifi_index = 1;
	if (send(s, &req, sizeof(req), 0) != sizeof(req) || poll(&p, 1, 5000) != 1)
		tp_die("no reply to RTM_GETLINK");
	tp_write_ready(ready);
	tp_wait_usr2();
	tp_log("ok: unread");
	exit(0);
}

/* An rtnetlink listener with a socket filter of its own (the process checks it is still there). */
static void filter(const char *ready, const char *how)
{
	struct sock_filter keep = BPF_STMT(BPF_RET | BPF_K, 0xffff);
	struct sock_fprog prog = { 1, &keep };
	int lock = how && !strcmp(how, "lock"), s, sv[2];
	socklen_t l = 0;

	if (how && !strcmp(how, "unix")) {
		/* fd 3 and 4: a unix datagram pair, the filter on 3 */
		if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv))
			tp_die("socketpair");
		s = sv[0];
	} else if (how && !strcmp(how, "udp")) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		s = socket(AF_INET, SOCK_DGRAM, 0);
		if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)))
			tp_die("udp socket");
	} else {
		s = nl_socket(SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
		nl_bind(s, 0, RTMGRP_LINK);
	}
	if (setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)))
		tp_die("SO_ATTACH_FILTER");
	if (lock)
		setint(s, SOL_SOCKET, SO_LOCK_FILTER, 1);
	tp_write_ready(ready);
	tp_wait_usr2();
	if (getsockopt(s, SOL_SOCKET, SO_GET_FILTER, NULL, &l) || l != 1)
		tp_die("fd %d: socket filter of %u instruction(s), want 1", s, (unsigned)l);
	tp_log("ok: filter");
	exit(0);
}

/* A bound rtnetlink socket of network namespace /run/netns/NAME, ours left as it was. */
static void foreign(const char *ready, const char *name)
{
	char path[256];
	int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), other, s;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	other = open(path, O_RDONLY | O_CLOEXEC);
	if (own < 0 || other < 0 || setns(other, CLONE_NEWNET))
		tp_die("cannot enter %s", path);
	s = nl_socket(SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	nl_bind(s, 0, RTMGRP_LINK);
	if (setns(own, CLONE_NEWNET))
		tp_die("cannot come back to our network namespace");
	close(own);
	close(other);
	tp_write_ready(ready);
	tp_wait_usr2();
	tp_log("ok: foreign");
	exit(0);
}

/* A netfilter socket bound to NFQUEUE queue NUM (NFQNL_MSG_CONFIG, NFQNL_CFG_CMD_BIND). */
static void nfqueue(const char *ready, unsigned num)
{
	struct {
		struct nlmsghdr h;
		struct nfgenmsg g;
		struct nlattr a;
		struct nfqnl_msg_config_cmd cmd;
	} req;
	char buf[1024];
	int s = nl_socket(SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_CONFIG;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req.g.nfgen_family = AF_UNSPEC;
	req.g.version = NFNETLINK_V0;
	req.g.res_id = htons(num);
	req.a.nla_len = NLA_HDRLEN + sizeof(req.cmd);
	req.a.nla_type = NFQA_CFG_CMD;
	req.cmd.command = NFQNL_CFG_CMD_BIND;
	req.cmd.pf = htons(AF_INET);
	if (send(s, &req, sizeof(req), 0) != sizeof(req))
		tp_die("cannot send NFQNL_CFG_CMD_BIND");
	n = recv(s, buf, sizeof(buf), 0);
	if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR)
		tp_die("no answer to NFQNL_CFG_CMD_BIND");
	if (((struct nlmsgerr *)NLMSG_DATA(h))->error) {
		errno = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
		if (errno == ENOTSUP || errno == EPROTONOSUPPORT || errno == ENOENT)
			exit(TP_EXIT_SKIP);
		tp_die("NFQNL_CFG_CMD_BIND refused");
	}
	tp_write_ready(ready);
	tp_wait_usr2();
	tp_log("ok: nfqueue");
	exit(0);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "portid", "groups", "opts", "rcvbuf", "peer", "flags", "notify", NULL };
	uint32_t addr;
	int g;

	tp_init("netlink", argc, argv);
	tp_block_usr2();
	if (argc > 2 && !strcmp(argv[2], "hold") && argc > 4)
		hold(atoi(argv[3]), strtoul(argv[4], NULL, 0), argv[1]);
	if (argc > 2 && !strcmp(argv[2], "dump-running"))
		dump_running(argv[1]);
	if (argc > 2 && !strcmp(argv[2], "unread"))
		unread(argv[1]);
	if (argc > 2 && !strcmp(argv[2], "filter"))
		filter(argv[1], argc > 3 ? argv[3] : NULL);
	if (argc > 3 && !strcmp(argv[2], "foreign"))
		foreign(argv[1], argv[3]);
	if (argc > 3 && !strcmp(argv[2], "nfqueue"))
		nfqueue(argv[1], atoi(argv[3]));
	if (argc < 4 || strcmp(argv[2], "netns")) {
		errno = EINVAL;
		tp_die("usage: netlink READY netns NAME|dump-running|unread|hold PROTO PORTID");
	}
	if (!in_netns(argv[3])) {
		tp_log("not in network namespace %s: it would change another namespace's lo", argv[3]);
		exit(TP_EXIT_SKIP);
	}
	tp_corrupt_check_mode(modes);

	/* route: autobound to our PID by bind(nl_pid 0), two groups by bind, two above 32 */
	sk[0] = nl_socket(SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	for (size_t i = 0; i < NOPTS; i++)
		setint(sk[0], SOL_NETLINK, opts[i], 1);
	setint(sk[0], SOL_SOCKET, SO_RCVBUFFORCE, 300000);
	setint(sk[0], SOL_SOCKET, SO_PASSCRED, 1);
	nl_bind(sk[0], 0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR);
	g = 33;
	setint(sk[0], SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g);
	g = 36;
	setint(sk[0], SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g);
	/* route2: our PID is taken in NETLINK_ROUTE: autobound to a negative portid */
	sk[1] = nl_socket(SOCK_DGRAM, NETLINK_ROUTE);
	nl_bind(sk[1], 0, 0);
	setint(sk[1], SOL_SOCKET, SO_SNDBUF, 50000);
	/* generic: a chosen portid, nlctrl's notification group (GENL_ID_CTRL) */
	sk[2] = nl_socket(SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	nl_bind(sk[2], 0x40000000u | getpid(), 0);
	g = GENL_ID_CTRL;
	setint(sk[2], SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g);
	setint(sk[2], SOL_NETLINK, NETLINK_BROADCAST_ERROR, 1);
	/* unbound, non-blocking */
	sk[3] = nl_socket(SOCK_DGRAM | SOCK_NONBLOCK, NETLINK_GENERIC);
	setint(sk[3], SOL_NETLINK, NETLINK_CAP_ACK, 1);
	/* usersock: a peer at a chosen portid, and a socket connected to it */
	sk[4] = nl_socket(SOCK_RAW | SOCK_CLOEXEC, NETLINK_USERSOCK);
	nl_bind(sk[4], 0x50000000u | getpid(), 0);
	sk[5] = nl_socket(SOCK_RAW | SOCK_CLOEXEC, NETLINK_USERSOCK);
	{
		struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_pid = 0x50000000u | getpid() };

		if (connect(sk[5], (struct sockaddr *)&a, sizeof(a)))
			tp_die("connect usersock");
	}
	for (int i = 0; i < NSK; i++)
		read_state(sk[i], &want[i]);
	if (want[0].portid != (uint32_t)getpid() || (int32_t)want[1].portid >= 0)
		tp_log("note: portids %u and %d (want our PID %d and a negative one)", want[0].portid,
		       (int32_t)want[1].portid, getpid());

	if (tp_corrupting("portid")) {
		int s = nl_socket(SOCK_DGRAM, NETLINK_ROUTE);

		nl_bind(s, 0, 0);	/* another negative portid */
		dup2(s, sk[1]);
		close(s);
	}
	if (tp_corrupting("groups")) {
		g = 36;
		setint(sk[0], SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, g);
	}
	if (tp_corrupting("opts"))
		setint(sk[0], SOL_NETLINK, NETLINK_EXT_ACK, 0);
	if (tp_corrupting("rcvbuf"))
		setint(sk[0], SOL_SOCKET, SO_RCVBUF, 100000);
	if (tp_corrupting("peer")) {
		struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_pid = 0x60000000u | getpid() };

		connect(sk[5], (struct sockaddr *)&a, sizeof(a));
	}
	if (tp_corrupting("flags"))
		fcntl(sk[3], F_SETFL, 0);

	tp_write_ready(argv[1]);
	tp_wait_usr2();

	for (int i = 0; i < NSK; i++)
		check(i);
	check_usersock();
	/* an address of our own on lo: the listener hears of it, from group RTNLGRP_IPV4_IFADDR */
	addr = htonl(0x0a000000u | (getpid() & 0xffff) << 8 | 1);
	if (!tp_corrupting("notify"))
		add_addr(addr);
	g = wait_newaddr(sk[0], addr);
	checked++;
	if (g < 0)
		tp_differs("route notification", "no RTM_NEWADDR for the address added to lo in 5 s");
	else
		tp_check_u64("route notification NETLINK_PKTINFO group", g, RTNLGRP_IPV4_IFADDR);
	tp_finish(checked);
}
