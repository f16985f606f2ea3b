/*
 * epoll.c - do epoll sets come back with every registration, nested ones
 * included, and do they report what they reported before?
 *
 *   epoll READY_FILE [moved]
 *
 * Set-up:
 *   outer   an epoll set holding
 *             p1r   a pipe's read end with 3 bytes in it, EPOLLIN, data 0x1111
 *             p2w   another pipe's write end (writable), EPOLLOUT, data 0x2222
 *             efd   an eventfd with count 5, EPOLLIN|EPOLLET, data 0x3333,
 *                   its edge not reported yet
 *             sk    one end of a socketpair, EPOLLIN|EPOLLONESHOT, data
 *                   0x4444, already reported once (so disarmed) and with
 *                   data queued since
 *             inner the nested epoll set below, EPOLLIN, data 0x5555
 *             idle  a pipe's read end with nothing in it, EPOLLIN|EPOLLRDHUP,
 *                   data 0x6666
 *   inner   an epoll set holding
 *             p3r   a pipe's read end with 1 byte in it, EPOLLIN|EPOLLPRI,
 *                   data 0x7777
 * moved: also a registration in outer whose fd was then dup'ed to another
 * number and closed (the registration lives on, keyed by a number that no
 * longer names its file): for the refusal test.
 *
 * After SIGUSR2 the program checks, from /proc/self/fdinfo, that each set
 * has the same registrations (fd, events, data) as before, and that
 * epoll_wait reports exactly the ready ones with their data: from outer
 * p1r, p2w, efd (its first report after the restore) and inner, not the
 * disarmed sk nor idle; from inner p3r. Then that each still works: a byte
 * into idle makes it ready, EPOLL_CTL_MOD re-arms sk, reading p3r empties
 * inner so outer stops reporting it.
 *
 * CS_TEST_CORRUPT: events (p1r's events changed), data (inner's data
 * changed), gone (idle deregistered), armed (sk re-armed).
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "tprog.h"

#define MAXREG 16

struct reg {
	int tfd;
	unsigned events;
	unsigned long long data;
};

static unsigned checked;

/* The registrations of epoll fd EP, from /proc/self/fdinfo. */
static int regs_of(int ep, struct reg *r)
{
	char path[64], line[256];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ep);
	f = fopen(path, "re");
	if (!f)
		tp_die("cannot read %s", path);
	while (fgets(line, sizeof(line), f) && n < MAXREG)
		if (sscanf(line, "tfd: %d events: %x data: %llx", &r[n].tfd, &r[n].events, &r[n].data) == 3)
			n++;
	fclose(f);
	return n;
}

static void check_regs(const char *name, int ep, const struct reg *want, int nwant)
{
	struct reg got[MAXREG];
	int n = regs_of(ep, got);
	char what[96];

	checked++;
	if (n != nwant)
		tp_differs(name, "got %d registrations want %d", n, nwant);
	for (int i = 0; i < nwant; i++) {
		int j;

		for (j = 0; j < n && got[j].tfd != want[i].tfd; j++)
			;
		snprintf(what, sizeof(what), "%s registration of fd %d", name, want[i].tfd);
		if (j == n) {
			tp_differs(what, "got none want events %#x data %#llx", want[i].events, want[i].data);
			continue;
		}
		snprintf(what, sizeof(what), "%s fd %d events", name, want[i].tfd);
		tp_check_u64(what, got[j].events, want[i].events);
		snprintf(what, sizeof(what), "%s fd %d data", name, want[i].tfd);
		tp_check_u64(what, got[j].data, want[i].data);
		checked += 2;
	}
}

/* epoll_wait(EP) without blocking must report exactly WANT (data, events). */
static void check_ready(const char *name, int ep, const struct reg *want, int nwant)
{
	struct epoll_event ev[MAXREG];
	int n = epoll_wait(ep, ev, MAXREG, 0);
	char what[96];

	checked++;
	if (n < 0) {
		tp_differs(name, "epoll_wait failed: %s", strerror(errno));
		return;
	}
	if (n != nwant)
		tp_differs(name, "epoll_wait got %d ready want %d", n, nwant);
	for (int i = 0; i < nwant; i++) {
		int j;

		for (j = 0; j < n && ev[j].data.u64 != want[i].data; j++)
			;
		snprintf(what, sizeof(what), "%s ready data %#llx", name, want[i].data);
		if (j == n) {
			tp_differs(what, "got not ready want events %#x", want[i].events);
			continue;
		}
		tp_check_u64(what, ev[j].events, want[i].events);
		checked++;
	}
	for (int j = 0; j < n; j++) {
		int i;

		for (i = 0; i < nwant && ev[j].data.u64 != want[i].data; i++)
			;
		if (i == nwant)
			tp_differs(name, "got ready data %#llx (events %#x) want not ready",
				   (unsigned long long)ev[j].data.u64, ev[j].events);
	}
}

static void add(int ep, int fd, unsigned events, unsigned long long data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		tp_die("epoll_ctl ADD fd %d", fd);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "events", "data", "gone", "armed", NULL };
	int outer, inner, p1[2], p2[2], p3[2], pidle[2], sk[2], efd, pm[2] = { -1, -1 };
	int moved = argc > 2 && !strcmp(argv[2], "moved");
	struct reg want_outer[MAXREG], want_inner[MAXREG];
	int nout, nin;

	tp_init("epoll", argc, argv);
	tp_corrupt_check_mode(modes);
	tp_block_usr2();

	outer = epoll_create1(EPOLL_CLOEXEC);
	inner = epoll_create1(0);
	efd = eventfd(5, EFD_NONBLOCK);
	if (outer < 0 || inner < 0 || efd < 0 || pipe2(p1, O_NONBLOCK) || pipe2(p2, O_NONBLOCK) ||
	    pipe2(p3, O_NONBLOCK) || pipe2(pidle, O_NONBLOCK) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sk))
		tp_die("set-up");
	if (write(p1[1], "abc", 3) != 3 || write(p3[1], "z", 1) != 1)
		tp_die("write");
	add(inner, p3[0], EPOLLIN | EPOLLPRI, 0x7777);
	add(outer, p1[0], EPOLLIN, 0x1111);
	add(outer, p2[1], EPOLLOUT, 0x2222);
	add(outer, sk[0], EPOLLIN | EPOLLONESHOT, 0x4444);
	add(outer, inner, EPOLLIN, 0x5555);
	add(outer, pidle[0], EPOLLIN | EPOLLRDHUP, 0x6666);

	/* fire sk's one shot: afterwards it is disarmed, whatever arrives */
	{
		struct epoll_event ev[MAXREG];
		int n, seen = 0;

		if (write(sk[1], "1", 1) != 1)
			tp_die("write sk");
		n = epoll_wait(outer, ev, MAXREG, 1000);
		for (int i = 0; i < n; i++)
			seen |= ev[i].data.u64 == 0x4444;
		if (!seen)
			tp_die("the one-shot socket was not reported");
		if (write(sk[1], "2", 1) != 1)
			tp_die("write sk");
	}
	/* efd's edge is not reported yet: the first epoll_wait after SIGUSR2
	 * reports it, the second not (a restore adds it again, which reports
	 * the edge once too) */
	add(outer, efd, EPOLLIN | EPOLLET, 0x3333);
	if (moved) {
		int m;

		if (pipe2(pm, 0))
			tp_die("pipe");
		add(outer, pm[0], EPOLLIN, 0x8888);
		m = dup(pm[0]);
		if (m < 0)
			tp_die("dup");
		close(pm[0]);	/* the registration stays: the file is still open at m */
		pm[0] = m;
	}

	if (tp_corrupting("events")) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = 0x1111 };
		epoll_ctl(outer, EPOLL_CTL_MOD, p1[0], &ev);
	}
	if (tp_corrupting("data")) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x5556 };
		epoll_ctl(outer, EPOLL_CTL_MOD, inner, &ev);
	}
	if (tp_corrupting("gone"))
		epoll_ctl(outer, EPOLL_CTL_DEL, pidle[0], NULL);
	nout = regs_of(outer, want_outer);
	nin = regs_of(inner, want_inner);
	if (tp_corrupting("armed")) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = 0x4444 };
		epoll_ctl(outer, EPOLL_CTL_MOD, sk[0], &ev);
	}
	if (nout != (moved ? 7 : 6) && !tp_corrupting("gone"))
		tp_die("outer has %d registrations", nout);

	tp_write_ready(argv[1]);
	tp_wait_usr2();

	check_regs("outer", outer, want_outer, nout);
	check_regs("inner", inner, want_inner, nin);
	{
		const struct reg ready_inner[] = { { p3[0], EPOLLIN, 0x7777 } };
		const struct reg ready_outer[] = {
			{ p1[0], EPOLLIN, 0x1111 },
			{ p2[1], EPOLLOUT, 0x2222 },
			{ efd, EPOLLIN, 0x3333 },
			{ inner, EPOLLIN, 0x5555 },
		};
		check_ready("outer", outer, ready_outer, 4);
		/* level-triggered ones again, efd's edge not */
		check_ready("outer, second epoll_wait", outer, (const struct reg[]){ ready_outer[0], ready_outer[1],
										ready_outer[3] }, 3);
		check_ready("inner", inner, ready_inner, 1);
	}
	/* and they still work */
	{
		struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = 0x4444 };
		char c;

		if (write(pidle[1], "x", 1) != 1 || read(p3[0], &c, 1) != 1 || read(p1[0], &c, 1) != 1)
			tp_die("write/read");
		if (epoll_ctl(outer, EPOLL_CTL_MOD, sk[0], &ev))
			tp_differs("re-arming sk", "EPOLL_CTL_MOD failed: %s", strerror(errno));
		const struct reg after[] = {
			{ p1[0], EPOLLIN, 0x1111 },		/* 2 bytes left */
			{ p2[1], EPOLLOUT, 0x2222 },
			{ sk[0], EPOLLIN, 0x4444 },		/* re-armed, "2" queued */
			{ pidle[0], EPOLLIN, 0x6666 },
		};
		check_ready("outer after changes", outer, after, 4);
		check_ready("inner after reading p3", inner, NULL, 0);
	}
	tp_finish(checked);
}
