/*
 * rawsk - raw sockets, ping sockets and UDP-Lite for t335-rawsk.bats.
 *
 *   rawsk READY netns NAME     the round trip, inside the test's network
 *                              namespace /run/netns/NAME (exits 77
 *                              elsewhere), where the test allows ping
 *                              sockets to group 0 (net.ipv4.ping_group_range)
 *   rawsk READY unread NAME    a ping socket holding an echo reply it has
 *                              not read (also in /run/netns/NAME)
 *   rawsk READY hold NAME ID   a ping socket bound to 127.0.0.1, ICMP id ID
 *                              (takes the id of a dumped socket)
 *   rawsk READY lite NAME      only the UDP-Lite sockets (fds 10 to 13) of
 *                              the round trip, their datagrams queued
 *
 * Round trip, each on a fixed fd (the namespace is the test's own, so the
 * ports and ids are free):
 *   3 ping socket over IPv4 bound to 127.0.0.1, ICMP id 4242, IP_RECVERR,
 *     IP_TTL 33
 *   4 ping socket over IPv6 bound to ::1, id 4243, connected to ::1 (when
 *     the kernel allows; else a closed fd and nothing checked on it)
 *   5 raw ICMP socket over IPv4, connected to 127.0.0.1, ICMP_FILTER
 *     letting only echo replies through, a classic BPF socket filter
 *     (two instructions, accepting everything), locked (SO_LOCK_FILTER)
 *   6 raw IPPROTO_RAW socket over IPv4 (IP_HDRINCL on by itself)
 *   7 raw VRRP (112) socket over IPv4 with IP_HDRINCL set, bound to
 *     127.0.0.1 and to device lo
 *   8 raw VRRP socket over IPv6 with IPV6_CHECKSUM 6, IPV6_RECVERR and
 *     IPV6_HDRINCL
 *   9 raw ICMPv6 socket with an ICMPV6_FILTER letting only echo replies
 *  10 UDP-Lite socket bound to 127.0.0.1:7001, connected to :7002,
 *     UDPLITE_SEND_CSCOV 12, UDPLITE_RECV_CSCOV 10, two datagrams queued
 *     (8 and 3 bytes: an odd length tests the checksum cs-restore makes)
 *  11 UDP-Lite socket bound to 127.0.0.1:7002 (the peer)
 *  12 UDP-Lite socket over IPv6 bound to [::1]:7003, connected to :7004,
 *     one datagram of 9 bytes queued
 *  13 UDP-Lite socket over IPv6 bound to [::1]:7004 (the peer)
 * After SIGUSR2 it checks for each: SO_DOMAIN, SO_TYPE, SO_PROTOCOL,
 * getsockname, the peer and state in /proc/self/net/{icmp,icmp6,raw,raw6}
 * (a raw or ping socket connected with port 0 has no getpeername), each
 * option by value; then that they work: fd 3 sends an echo request to
 * 127.0.0.1 and gets the reply with id 4242, which raw fd 5 sees too (and
 * not the request, filtered); fd 4 likewise over ::1 (id 4243, raw fd 9
 * sees the reply); fd 10 reads its queued datagram from 127.0.0.1:7002 and
 * sends one to fd 11.
 *
 * CS_TEST_CORRUPT: pingid, peer, filter, hdrincl, checksum, icmp6filter,
 * cscov, recverr, device, queue, bpf, bpflock, hdrincl6.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>
#include <linux/filter.h>
#include "tprog.h"

#ifndef SO_LOCK_FILTER
#define SO_LOCK_FILTER 44
#endif
#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

/* fd 5's socket filter: A = packet length; return A (accept it whole) */
static struct sock_filter bpf_want[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
	BPF_STMT(BPF_RET | BPF_A, 0),
};

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif
#ifndef SOL_UDPLITE
#define SOL_UDPLITE 136
#endif
/* linux/icmp.h clashes with netinet/ip_icmp.h */
#define ICMP_FILTER 1
struct icmp_filter {
	uint32_t data;
};

#define UDPLITE_SEND_CSCOV 10
#define UDPLITE_RECV_CSCOV 11

#define ID4 4242
#define ID6 4243
#define PORT_A 7001
#define PORT_B 7002
#define PORT_C 7003
#define PORT_D 7004
#define NFD 14

static unsigned checked;
static int have6;	/* fd 4 exists */
static int lite;	/* only fds 10 to 13 (mode lite) */
static char table_line[NFD][160];	/* local, remote, state from /proc/self/net/... */
static const char *const tables[NFD] = { [3] = "icmp", [4] = "icmp6", [5] = "raw", [6] = "raw", [7] = "raw",
					  [8] = "raw6", [9] = "raw6", [10] = "udplite", [11] = "udplite",
					  [12] = "udplite6", [13] = "udplite6" };
static const int want_dom[NFD] = { [3] = AF_INET, [4] = AF_INET6, [5] = AF_INET, [6] = AF_INET, [7] = AF_INET,
				   [8] = AF_INET6, [9] = AF_INET6, [10] = AF_INET, [11] = AF_INET,
				   [12] = AF_INET6, [13] = AF_INET6 };
static const int want_type[NFD] = { [3] = SOCK_DGRAM, [4] = SOCK_DGRAM, [5] = SOCK_RAW, [6] = SOCK_RAW,
				    [7] = SOCK_RAW, [8] = SOCK_RAW, [9] = SOCK_RAW, [10] = SOCK_DGRAM,
				    [11] = SOCK_DGRAM, [12] = SOCK_DGRAM, [13] = SOCK_DGRAM };
static const int want_proto[NFD] = { [3] = IPPROTO_ICMP, [4] = IPPROTO_ICMPV6, [5] = IPPROTO_ICMP,
				     [6] = IPPROTO_RAW, [7] = 112, [8] = 112, [9] = IPPROTO_ICMPV6,
				     [10] = IPPROTO_UDPLITE, [11] = IPPROTO_UDPLITE, [12] = IPPROTO_UDPLITE,
				     [13] = IPPROTO_UDPLITE };

static int in_netns(const char *name)
{
	struct stat a, b;
	char path[256];

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	return stat("/proc/self/ns/net", &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* socket(2) onto fd at */
static void sock_at(int at, int dom, int type, int proto)
{
	int s = socket(dom, type, proto);

	if (s < 0)
		tp_die("socket(%d, %d, %d) for fd %d", dom, type, proto, at);
	if (s != at) {
		if (dup2(s, at) < 0)
			tp_die("dup2");
		close(s);
	}
}

static void setint(int fd, int level, int name, int v, const char *what)
{
	if (setsockopt(fd, level, name, &v, sizeof(v)))
		tp_die("fd %d: cannot set %s to %d", fd, what, v);
}

static int getint(int fd, int level, int name)
{
	int v = -12345;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, level, name, &v, &l))
		return -12345;
	return v;
}

static void bind4(int fd, const char *addr, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, addr, &a.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
		tp_die("fd %d: bind %s:%d", fd, addr, port);
}

static void connect4(int fd, const char *addr, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, addr, &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		tp_die("fd %d: connect %s:%d", fd, addr, port);
}

static void bind6(int fd, int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
		tp_die("fd %d: bind [::1]:%d", fd, port);
}

/* "local remote state" of fd's socket in /proc/self/net/TABLE, into out */
static int table_of(int fd, char *out, size_t len)
{
	char path[64], line[512];
	struct stat st;
	FILE *f;
	int ok = -1;

	if (fstat(fd, &st))
		return -1;
	snprintf(path, sizeof(path), "/proc/self/net/%s", tables[fd]);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (ok && fgets(line, sizeof(line), f)) {
		char loc[64], rem[64];
		unsigned st8;
		unsigned long long ino;

		if (sscanf(line, " %*u: %63s %63s %x %*s %*s %*s %*s %*s %llu", loc, rem, &st8, &ino) == 4 &&
		    ino == st.st_ino) {
			snprintf(out, len, "local %s remote %s state %02x", loc, rem, st8);
			ok = 0;
		}
	}
	fclose(f);
	return ok;
}

static void check_int(const char *what, int fd, int got, int want)
{
	char w[96];

	checked++;
	if (got != want) {
		snprintf(w, sizeof(w), "fd %d %s", fd, what);
		tp_differs(w, "got %d want %d", got, want);
	}
}

static uint32_t icmp_filter_of(int fd)
{
	struct icmp_filter f = { 0 };
	socklen_t l = sizeof(f);

	if (getsockopt(fd, SOL_RAW, ICMP_FILTER, &f, &l))
		return 0xdeadbeef;
	return f.data;
}

static void icmp6_filter_of(int fd, struct icmp6_filter *f)
{
	socklen_t l = sizeof(*f);

	memset(f, 0xee, sizeof(*f));
	getsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, f, &l);
}

static void dev_of(int fd, char *dev)
{
	socklen_t l = IFNAMSIZ;

	memset(dev, 0, IFNAMSIZ + 1);
	getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &l);
}

static struct sockaddr_storage name_of[NFD];

static void set_up(void)
{
	struct icmp_filter f4 = { .data = ~(1U << ICMP_ECHOREPLY) };
	struct icmp6_filter f6;
	int s;

	if (lite)
		goto udplite;
	sock_at(3, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	bind4(3, "127.0.0.1", ID4);
	setint(3, IPPROTO_IP, IP_RECVERR, 1, "IP_RECVERR");
	setint(3, IPPROTO_IP, IP_TTL, 33, "IP_TTL");

	s = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
	if (s >= 0) {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };

		close(s);
		have6 = 1;
		sock_at(4, AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
		bind6(4, ID6);
		if (connect(4, (struct sockaddr *)&a, sizeof(a)))
			tp_die("fd 4: connect [::1]");
	} else {
		tp_log("no ping socket over IPv6 here (%s): not checked", strerror(errno));
		if (dup2(3, 4) < 0)	/* keep the fd numbers */
			tp_die("dup2");
	}

	sock_at(5, AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (setsockopt(5, SOL_RAW, ICMP_FILTER, &f4, sizeof(f4)))
		tp_die("ICMP_FILTER");
	connect4(5, "127.0.0.1", 0);
	{
		struct sock_fprog p = { .len = 2, .filter = bpf_want };

		if (setsockopt(5, SOL_SOCKET, SO_ATTACH_FILTER, &p, sizeof(p)))
			tp_die("SO_ATTACH_FILTER");
	}

	sock_at(6, AF_INET, SOCK_RAW, IPPROTO_RAW);

	sock_at(7, AF_INET, SOCK_RAW, 112);
	setint(7, IPPROTO_IP, IP_HDRINCL, 1, "IP_HDRINCL");
	if (setsockopt(7, SOL_SOCKET, SO_BINDTODEVICE, "lo", 2))
		tp_die("SO_BINDTODEVICE");
	bind4(7, "127.0.0.1", 0);

	sock_at(8, AF_INET6, SOCK_RAW, 112);
	setint(8, IPPROTO_IPV6, IPV6_CHECKSUM, 6, "IPV6_CHECKSUM");
	setint(8, IPPROTO_IPV6, IPV6_RECVERR, 1, "IPV6_RECVERR");
	setint(8, IPPROTO_IPV6, IPV6_HDRINCL, 1, "IPV6_HDRINCL");

	sock_at(9, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
	ICMP6_FILTER_SETBLOCKALL(&f6);
	ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f6);
	if (setsockopt(9, IPPROTO_ICMPV6, ICMP6_FILTER, &f6, sizeof(f6)))
		tp_die("ICMP6_FILTER");

udplite:
	sock_at(10, AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
	bind4(10, "127.0.0.1", PORT_A);
	setint(10, SOL_UDPLITE, UDPLITE_SEND_CSCOV, 12, "UDPLITE_SEND_CSCOV");
	setint(10, SOL_UDPLITE, UDPLITE_RECV_CSCOV, 10, "UDPLITE_RECV_CSCOV");
	sock_at(11, AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
	bind4(11, "127.0.0.1", PORT_B);
	connect4(10, "127.0.0.1", PORT_B);
	{
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT_A) };
		struct pollfd p = { .fd = 10, .events = POLLIN };

		inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
		if (sendto(11, "queued-1", 8, 0, (struct sockaddr *)&a, sizeof(a)) != 8 ||
		    sendto(11, "odd", 3, 0, (struct sockaddr *)&a, sizeof(a)) != 3)
			tp_die("UDP-Lite send");
		if (poll(&p, 1, 2000) != 1)
			tp_die("the UDP-Lite datagram did not arrive");
	}
	sock_at(12, AF_INET6, SOCK_DGRAM, IPPROTO_UDPLITE);
	bind6(12, PORT_C);
	sock_at(13, AF_INET6, SOCK_DGRAM, IPPROTO_UDPLITE);
	bind6(13, PORT_D);
	{
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(PORT_D),
					  .sin6_addr = IN6ADDR_LOOPBACK_INIT };
		struct pollfd p = { .fd = 12, .events = POLLIN };

		if (connect(12, (struct sockaddr *)&a, sizeof(a)))
			tp_die("fd 12: connect");
		a.sin6_port = htons(PORT_C);
		if (sendto(13, "queued-6x", 9, 0, (struct sockaddr *)&a, sizeof(a)) != 9)
			tp_die("UDP-Lite send over IPv6");
		if (poll(&p, 1, 2000) != 1)
			tp_die("the UDP-Lite datagram over IPv6 did not arrive");
	}
	for (int fd = 3; fd < NFD; fd++) {
		socklen_t l = sizeof(name_of[fd]);

		if ((fd == 4 && !have6) || (lite && fd < 10))
			continue;
		if (getsockname(fd, (struct sockaddr *)&name_of[fd], &l))
			tp_die("getsockname %d", fd);
		if (table_of(fd, table_line[fd], sizeof(table_line[fd])))
			tp_die("fd %d is not in /proc/self/net/%s", fd, tables[fd]);
	}
}

static void corrupt(void)
{
	struct icmp_filter f4 = { .data = ~0U };
	struct icmp6_filter f6;

	if (tp_corrupting("pingid")) {
		sock_at(3, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
		bind4(3, "127.0.0.1", ID4 + 100);
		setint(3, IPPROTO_IP, IP_RECVERR, 1, "IP_RECVERR");
		setint(3, IPPROTO_IP, IP_TTL, 33, "IP_TTL");
	}
	if (tp_corrupting("peer"))
		connect4(5, "127.0.0.2", 0);
	if (tp_corrupting("filter") && setsockopt(5, SOL_RAW, ICMP_FILTER, &f4, sizeof(f4)))
		tp_die("ICMP_FILTER");
	if (tp_corrupting("hdrincl"))
		setint(7, IPPROTO_IP, IP_HDRINCL, 0, "IP_HDRINCL");
	if (tp_corrupting("checksum"))
		setint(8, IPPROTO_IPV6, IPV6_CHECKSUM, -1, "IPV6_CHECKSUM");
	if (tp_corrupting("icmp6filter")) {
		ICMP6_FILTER_SETPASSALL(&f6);
		if (setsockopt(9, IPPROTO_ICMPV6, ICMP6_FILTER, &f6, sizeof(f6)))
			tp_die("ICMP6_FILTER");
	}
	if (tp_corrupting("cscov"))
		setint(10, SOL_UDPLITE, UDPLITE_SEND_CSCOV, 20, "UDPLITE_SEND_CSCOV");
	if (tp_corrupting("recverr"))
		setint(3, IPPROTO_IP, IP_RECVERR, 0, "IP_RECVERR");
	if (tp_corrupting("device") && setsockopt(7, SOL_SOCKET, SO_BINDTODEVICE, "", 0))
		tp_die("SO_BINDTODEVICE");
	if (tp_corrupting("bpf")) {
		struct sock_filter other[] = { BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0), BPF_STMT(BPF_MISC | BPF_TAX, 0),
					       BPF_STMT(BPF_RET | BPF_A, 0) };
		struct sock_fprog p = { .len = 3, .filter = other };

		if (setsockopt(5, SOL_SOCKET, SO_ATTACH_FILTER, &p, sizeof(p)))
			tp_die("SO_ATTACH_FILTER");
	}
	if (tp_corrupting("hdrincl6"))
		setint(8, IPPROTO_IPV6, IPV6_HDRINCL, 0, "IPV6_HDRINCL");
	/* locked last: the corruptions above change the filter first */
	if (!tp_corrupting("bpflock"))
		setint(5, SOL_SOCKET, SO_LOCK_FILTER, 1, "SO_LOCK_FILTER");
	if (tp_corrupting("queue")) {
		char b[16];

		if (recv(10, b, sizeof(b), MSG_DONTWAIT) < 0)
			tp_die("recv");
	}
}

/* wait up to 2 s for a datagram on fd: its length, or -1 */
static ssize_t recv_wait(int fd, void *buf, size_t len, struct sockaddr *from, socklen_t *fl)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 2000) != 1)
		return -1;
	return recvfrom(fd, buf, len, MSG_DONTWAIT, from, fl);
}

static void check_ping4(void)
{
	struct icmphdr h = { .type = ICMP_ECHO, .un.echo.sequence = htons(7) };
	struct sockaddr_in lo = { .sin_family = AF_INET };
	unsigned char b[256];
	ssize_t n;

	inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr);
	if (sendto(3, &h, sizeof(h), 0, (struct sockaddr *)&lo, sizeof(lo)) != sizeof(h)) {
		tp_differs("fd 3 echo request", "cannot send: %s", strerror(errno));
		return;
	}
	n = recv_wait(3, b, sizeof(b), NULL, NULL);
	checked++;
	if (n < (ssize_t)sizeof(h)) {
		tp_differs("fd 3 echo reply", "none in 2 s");
		return;
	}
	memcpy(&h, b, sizeof(h));
	check_int("echo reply type", 3, h.type, ICMP_ECHOREPLY);
	check_int("echo reply id", 3, ntohs(h.un.echo.id), ID4);
	/* the raw ICMP socket saw the reply, not the request (ICMP_FILTER) */
	n = recv_wait(5, b, sizeof(b), NULL, NULL);
	checked++;
	if (n < 28) {
		tp_differs("fd 5 (raw ICMP) echo reply", "none in 2 s");
		return;
	}
	memcpy(&h, b + (b[0] & 15) * 4, sizeof(h));
	check_int("first ICMP type seen (filter)", 5, h.type, ICMP_ECHOREPLY);
	check_int("ICMP id seen", 5, ntohs(h.un.echo.id), ID4);
}

static void check_ping6(void)
{
	struct icmp6_hdr h = { .icmp6_type = ICMP6_ECHO_REQUEST };
	unsigned char b[256];
	ssize_t n;

	if (send(4, &h, sizeof(h), 0) != sizeof(h)) {
		tp_differs("fd 4 echo request", "cannot send (connected): %s", strerror(errno));
		return;
	}
	n = recv_wait(4, b, sizeof(b), NULL, NULL);
	checked++;
	if (n < (ssize_t)sizeof(h)) {
		tp_differs("fd 4 echo reply", "none in 2 s");
		return;
	}
	memcpy(&h, b, sizeof(h));
	check_int("echo reply type", 4, h.icmp6_type, ICMP6_ECHO_REPLY);
	check_int("echo reply id", 4, ntohs(h.icmp6_id), ID6);
	n = recv_wait(9, b, sizeof(b), NULL, NULL);	/* raw ICMPv6: no IP header */
	checked++;
	if (n < (ssize_t)sizeof(h)) {
		tp_differs("fd 9 (raw ICMPv6) echo reply", "none in 2 s");
		return;
	}
	memcpy(&h, b, sizeof(h));
	check_int("first ICMPv6 type seen (filter)", 9, h.icmp6_type, ICMP6_ECHO_REPLY);
	check_int("ICMPv6 id seen", 9, ntohs(h.icmp6_id), ID6);
}

/* the next datagram queued on fd: want, from port */
static void check_queued(int fd, const char *want, int port)
{
	struct sockaddr_in6 from;
	socklen_t fl = sizeof(from);
	char b[64], w[64];
	ssize_t n = recvfrom(fd, b, sizeof(b) - 1, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

	snprintf(w, sizeof(w), "fd %d queued datagram", fd);
	checked++;
	if (n < 0) {
		tp_differs(w, "none (want \"%s\"): %s", want, strerror(errno));
		return;
	}
	b[n] = 0;
	tp_check_str(w, b, want);
	/* sin_port and sin6_port are at the same place */
	check_int("queued datagram's source port", fd, ntohs(from.sin6_port), port);
}

static void check_udplite(void)
{
	char b[64];
	ssize_t n;

	check_queued(10, "queued-1", PORT_B);
	check_queued(10, "odd", PORT_B);
	check_queued(12, "queued-6x", PORT_D);
	checked++;
	if (send(12, "six", 3, 0) != 3)
		tp_differs("fd 12 send", "%s", strerror(errno));
	else if (recv_wait(13, b, sizeof(b), NULL, NULL) != 3)
		tp_differs("fd 13 datagram from fd 12", "none");
	checked++;
	if (send(10, "after", 5, 0) != 5) {
		tp_differs("fd 10 send", "%s", strerror(errno));
		return;
	}
	n = recv_wait(11, b, sizeof(b) - 1, NULL, NULL);
	checked++;
	if (n != 5 || memcmp(b, "after", 5))
		tp_differs("fd 11 datagram from fd 10", "got %zd bytes", n);
}

static void check_all(void)
{
	struct icmp6_filter f6, w6;
	char dev[IFNAMSIZ + 1], line[160];

	for (int fd = 3; fd < NFD; fd++) {
		struct sockaddr_storage a;
		socklen_t l = sizeof(a);
		char w[64];

		if ((fd == 4 && !have6) || (lite && fd < 10))
			continue;
		check_int("SO_DOMAIN", fd, getint(fd, SOL_SOCKET, SO_DOMAIN), want_dom[fd]);
		check_int("SO_TYPE", fd, getint(fd, SOL_SOCKET, SO_TYPE), want_type[fd]);
		check_int("SO_PROTOCOL", fd, getint(fd, SOL_SOCKET, SO_PROTOCOL), want_proto[fd]);
		memset(&a, 0, sizeof(a));
		getsockname(fd, (struct sockaddr *)&a, &l);
		snprintf(w, sizeof(w), "fd %d getsockname", fd);
		checked++;
		tp_check_bytes(w, &a, &name_of[fd], want_dom[fd] == AF_INET ? sizeof(struct sockaddr_in) : 24);
		snprintf(w, sizeof(w), "fd %d in /proc/self/net/%s", fd, tables[fd]);
		checked++;
		if (table_of(fd, line, sizeof(line)))
			tp_differs(w, "not there");
		else
			tp_check_str(w, line, table_line[fd]);
	}
	if (lite)
		goto udplite;
	check_int("IP_RECVERR", 3, getint(3, IPPROTO_IP, IP_RECVERR), 1);
	check_int("IP_TTL", 3, getint(3, IPPROTO_IP, IP_TTL), 33);
	check_int("ICMP_FILTER", 5, icmp_filter_of(5), ~(1U << ICMP_ECHOREPLY));
	check_int("IP_HDRINCL", 6, getint(6, IPPROTO_IP, IP_HDRINCL), 1);
	check_int("IP_HDRINCL", 7, getint(7, IPPROTO_IP, IP_HDRINCL), 1);
	dev_of(7, dev);
	checked++;
	tp_check_str("fd 7 SO_BINDTODEVICE", dev, "lo");
	check_int("IPV6_CHECKSUM", 8, getint(8, IPPROTO_IPV6, IPV6_CHECKSUM), 6);
	check_int("IPV6_RECVERR", 8, getint(8, IPPROTO_IPV6, IPV6_RECVERR), 1);
	check_int("IPV6_HDRINCL", 8, getint(8, IPPROTO_IPV6, IPV6_HDRINCL), 1);
	check_int("SO_LOCK_FILTER", 5, getint(5, SOL_SOCKET, SO_LOCK_FILTER), 1);
	{
		struct sock_filter got[8];
		socklen_t n = 8;

		memset(got, 0, sizeof(got));
		if (getsockopt(5, SOL_SOCKET, SO_GET_FILTER, got, &n))
			n = 0;
		check_int("socket filter length (SO_GET_FILTER)", 5, n, 2);
		checked++;
		tp_check_bytes("fd 5 socket filter", got, bpf_want, sizeof(bpf_want));
	}
	icmp6_filter_of(9, &f6);
	ICMP6_FILTER_SETBLOCKALL(&w6);
	ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &w6);
	checked++;
	tp_check_bytes("fd 9 ICMPV6_FILTER", &f6, &w6, sizeof(f6));
	check_ping4();
	if (have6)
		check_ping6();
udplite:
	check_int("UDPLITE_SEND_CSCOV", 10, getint(10, SOL_UDPLITE, UDPLITE_SEND_CSCOV), 12);
	check_int("UDPLITE_RECV_CSCOV", 10, getint(10, SOL_UDPLITE, UDPLITE_RECV_CSCOV), 10);
	check_udplite();
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "pingid", "peer", "filter", "hdrincl", "checksum", "icmp6filter",
					     "cscov", "recverr", "device", "queue", "bpf", "bpflock", "hdrincl6", NULL };

	tp_init("rawsk", argc, argv);
	tp_block_usr2();
	if (argc < 4 || (strcmp(argv[2], "netns") && strcmp(argv[2], "unread") && strcmp(argv[2], "hold") &&
			 strcmp(argv[2], "lite")))
		tp_die("usage: rawsk READY netns|unread|hold|lite NAME [ID]");
	lite = !strcmp(argv[2], "lite");
	if (!in_netns(argv[3])) {
		tp_log("not in network namespace %s", argv[3]);
		exit(TP_EXIT_SKIP);
	}
	for (int fd = 3; fd < 64; fd++)
		close(fd);
	if (!strcmp(argv[2], "hold")) {
		sock_at(3, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
		bind4(3, "127.0.0.1", argc > 4 ? atoi(argv[4]) : ID4);
		tp_write_ready(argv[1]);
		tp_wait_usr2();
		tp_finish(checked);
	}
	if (!strcmp(argv[2], "unread")) {
		struct icmphdr h = { .type = ICMP_ECHO };
		struct sockaddr_in lo = { .sin_family = AF_INET };
		struct pollfd p = { .fd = 3, .events = POLLIN };

		sock_at(3, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
		inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr);
		if (sendto(3, &h, sizeof(h), 0, (struct sockaddr *)&lo, sizeof(lo)) != sizeof(h) ||
		    poll(&p, 1, 2000) != 1)
			tp_die("no echo reply");
		tp_write_ready(argv[1]);
		tp_wait_usr2();
		checked++;
		if (poll(&p, 1, 0) != 1)
			tp_differs("fd 3 unread echo reply", "gone");
		tp_finish(checked);
	}
	tp_corrupt_check_mode(modes);
	set_up();
	if (!lite)
		corrupt();
	tp_write_ready(argv[1]);
	tp_wait_usr2();
	check_all();
	tp_finish(checked);
}
