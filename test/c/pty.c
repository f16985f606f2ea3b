/*
 * pty.c - a pseudo-terminal pair held in a process tree, as script(1) or
 * an expect-style supervisor holds one (tprog.h protocol).
 *
 *   pty READY              the tree below
 *   pty READY queued-in    ... and 5 bytes written on the master that G
 *                          never reads (cs-dump must refuse)
 *   pty READY queued-out   ... and 6 bytes written on the slave that R
 *                          never reads (cs-dump must refuse)
 *   pty READY lone         ... and R holds a second master whose slave
 *                          nobody opened (cs-dump must refuse)
 *   pty READY pktstatus    ... and a packet-mode status change (a flush of
 *                          the slave's input) not read on the master
 *                          (cs-dump must refuse)
 *   pty READY devtty       ... and C holds /dev/tty as fd 5 (refused)
 *   pty READY late-ctty    ... but C takes the terminal after forking G,
 *                          which has none (refused)
 *   pty READY hup          ... and R holds a second master whose slave was
 *                          opened and closed (reads give EIO, poll POLLHUP),
 *                          locked again (TIOCSPTLCK); R checks its index,
 *                          POLLHUP and the lock (CS_TEST_CORRUPT=hup: R
 *                          keeps that slave open and the master unlocked)
 *   pty READY hold=N       no tree: hold a master of /dev/pts/N (opening
 *                          /dev/ptmx until devpts gives N), nothing else
 *   pty READY hold=next    no tree: hold one unlocked master, its index
 *                          in READY.pts (a terminal outside a tree)
 *   pty READY idle         no tree, no pty: wait for SIGUSR2, check that
 *                          fd 0 is still a terminal, exit
 *
 * R opens /dev/ptmx (it keeps only the master), unlocks it, sets through
 * it a distinctive termios on the slave (raw, but ISIG and OPOST|ONLCR on,
 * VMIN 3, VTIME 7, VINTR ^G, 9600 baud out and 4800 in), a window size
 * (37x101, 640x480 pixels), then packet mode (TIOCPKT), and forks:
 *   C  setsid, opens the slave as fd 0, TIOCSCTTY: the slave is the
 *      controlling terminal of C's session, in exclusive mode (TIOCEXCL);
 *      C forks
 *   G  in a process group of its own, which C makes the foreground one.
 * READY.pids holds C and G, and READY.pts the index N.
 *
 * On SIGUSR2 R checks the master: its index, the termios field by field,
 * the window size, packet mode, the session (TIOCGSID) and foreground
 * group (TIOCGPGRP) of its slave; it wakes C and G. C checks that it
 * leads its session, that its controlling terminal is /dev/pts/N (tty_nr
 * of /proc/self/stat, ttyname(0)), tcgetsid and tcgetpgrp (G), the window
 * size, the exclusive mode. G checks that it is in the foreground, the termios seen from the
 * slave, then the line discipline: R writes "ab\r" on the master, G must
 * read exactly those 3 bytes (VMIN 3, no ICRNL) and answers "pong\n",
 * which R must read as a packet: a 0 status byte, then "pong\r\n"
 * (ONLCR). C exits with G's verdict, R with everyone's.
 *
 * CS_TEST_CORRUPT: index (R expects the next index), termios (R changes
 * VMIN after recording), winsize (R changes the rows), packet (R turns
 * packet mode off), pgrp (C makes itself the foreground), ctty (C gives
 * its controlling terminal up, TIOCNOTTY; G ignores the SIGHUP that
 * follows), echo (R turns ONLCR off after recording), excl (C leaves
 * exclusive mode, TIOCNXCL).
 */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

#include "tprog.h"

static const char *const modes[] = { "index", "termios", "winsize", "packet", "pgrp", "ctty", "echo", "excl",
				     "hup", NULL };

static unsigned checked;
static unsigned idx;		/* N of /dev/pts/N */
static struct termios want_t;
static struct winsize want_ws = { 37, 101, 640, 480 };

static void check_termios(const char *who, const struct termios *got)
{
	char what[64];

	snprintf(what, sizeof(what), "%s termios c_iflag", who);
	tp_check_u64(what, got->c_iflag, want_t.c_iflag);
	snprintf(what, sizeof(what), "%s termios c_oflag", who);
	tp_check_u64(what, got->c_oflag, want_t.c_oflag);
	snprintf(what, sizeof(what), "%s termios c_cflag", who);
	tp_check_u64(what, got->c_cflag, want_t.c_cflag);
	snprintf(what, sizeof(what), "%s termios c_lflag", who);
	tp_check_u64(what, got->c_lflag, want_t.c_lflag);
	snprintf(what, sizeof(what), "%s termios c_line", who);
	tp_check_u64(what, got->c_line, want_t.c_line);
	for (int i = 0; i < NCCS; i++) {
		snprintf(what, sizeof(what), "%s termios c_cc[%d]", who, i);
		tp_check_u64(what, got->c_cc[i], want_t.c_cc[i]);
	}
	snprintf(what, sizeof(what), "%s termios output speed", who);
	tp_check_u64(what, cfgetospeed(got), cfgetospeed(&want_t));
	snprintf(what, sizeof(what), "%s termios input speed", who);
	tp_check_u64(what, cfgetispeed(got), cfgetispeed(&want_t));
	checked += 7 + NCCS;
}

static void check_winsize(const char *who, int fd)
{
	struct winsize ws;
	char what[64];

	snprintf(what, sizeof(what), "%s window size", who);
	if (ioctl(fd, TIOCGWINSZ, &ws)) {
		tp_differs(what, "TIOCGWINSZ: %s", strerror(errno));
		return;
	}
	tp_check_u64(what, ((uint64_t)ws.ws_row << 48) | ((uint64_t)ws.ws_col << 32) | (ws.ws_xpixel << 16) |
		     ws.ws_ypixel, ((uint64_t)want_ws.ws_row << 48) | ((uint64_t)want_ws.ws_col << 32) |
		     (want_ws.ws_xpixel << 16) | want_ws.ws_ypixel);
	checked++;
}

/* /proc/self/stat field 7, tty_nr */
static unsigned long long my_tty_nr(void)
{
	char buf[1024], *p;
	unsigned long long v = 0;
	int fd = open("/proc/self/stat", O_RDONLY), n;

	if (fd < 0)
		tp_die("cannot open /proc/self/stat");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		tp_die("cannot read /proc/self/stat");
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* ") S ppid pgrp session tty_nr" */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %llu", &v) != 1)
		tp_die("cannot parse /proc/self/stat");
	return v;
}

static unsigned long long tty_nr_of(unsigned n)
{
	unsigned maj = 136 + n / 256, min = n % 256;

	return (maj << 8) | (min & 0xff) | ((unsigned long long)(min & ~0xffu) << 12);
}

/* ---- G: the foreground group, reads and answers on the slave ------------ */

static void child_g(void)
{
	struct termios t;
	char buf[8] = { 0 };
	size_t got = 0;

	tp_wait_usr2();
	{
		pid_t fg = tcgetpgrp(0);

		if (fg < 0)
			tp_differs("G foreground group", "tcgetpgrp: %s", strerror(errno));
		else
			tp_check_u64("G foreground group (tcgetpgrp)", fg, getpgrp());
	}
	tp_check_u64("G session", getsid(0), getppid());
	if (tcgetattr(0, &t))
		tp_differs("G termios", "tcgetattr: %s", strerror(errno));
	else
		check_termios("G", &t);
	check_winsize("G", 0);
	/* VMIN 3: one read returns the 3 bytes R writes, \r kept (no ICRNL) */
	while (got < 3) {
		ssize_t n = read(0, buf + got, sizeof(buf) - 1 - got);

		if (n <= 0) {
			tp_differs("G read from the slave", "%s", n ? strerror(errno) : "end of file");
			break;
		}
		got += n;
	}
	tp_check_str("G bytes from the master", buf, "ab\r");
	if (write(0, "pong\n", 5) != 5)
		tp_differs("G write to the slave", "%s", strerror(errno));
	checked += 4;
	tp_finish(checked);
}

/* ---- C: the session leader, the slave its controlling terminal ---------- */

static void child_c(int master, int ready, const char *arg)
{
	char path[64], *name;
	pid_t g;
	int st, sp[2];

	close(master);
	if (setsid() < 0)
		tp_die("setsid");
	snprintf(path, sizeof(path), "/dev/pts/%u", idx);
	close(0);
	if (open(path, O_RDWR | O_NOCTTY) != 0)
		tp_die("cannot open %s as fd 0", path);
	if ((strcmp(arg, "late-ctty") && ioctl(0, TIOCSCTTY, 0)) || ioctl(0, TIOCEXCL))
		tp_die("TIOCSCTTY, TIOCEXCL");
	if (pipe(sp))
		tp_die("pipe");
	g = fork();
	if (g < 0)
		tp_die("fork");
	if (g == 0) {
		close(ready);
		close(sp[0]);
		if (setpgid(0, 0))
			tp_die("setpgid");
		if (tp_corrupting("ctty"))
			signal(SIGHUP, SIG_IGN);
		if (tp_corrupting("pgrp"))
			signal(SIGTTIN, SIG_IGN);	/* in the background: read gives EIO, not a stop */
		close(sp[1]);
		child_g();
	}
	close(sp[1]);
	if (read(sp[0], &st, 1) != 0)
		tp_die("G did not set up");
	if (!strcmp(arg, "late-ctty") && ioctl(0, TIOCSCTTY, 0))
		tp_die("TIOCSCTTY");
	close(sp[0]);
	setpgid(g, g);	/* whichever runs first */
	if (tcsetpgrp(0, g))
		tp_die("tcsetpgrp");
	if (write(ready, &g, sizeof(g)) != sizeof(g))
		tp_die("cannot tell R");
	close(ready);
	if (tp_corrupting("pgrp")) {
		signal(SIGTTOU, SIG_IGN);
		tcsetpgrp(0, getpgrp());
	}
	if (tp_corrupting("ctty"))
		ioctl(0, TIOCNOTTY);
	if (tp_corrupting("excl"))
		ioctl(0, TIOCNXCL);
	if (!strcmp(arg, "devtty")) {
		int t = open("/dev/tty", O_RDWR);

		if (t < 0 || dup2(t, 5) != 5 || close(t))
			tp_die("cannot open /dev/tty as fd 5");
	}
	tp_wait_usr2();
	tp_check_u64("C session leader (getsid)", getsid(0), getpid());
	tp_check_u64("C controlling terminal (tty_nr)", my_tty_nr(), tty_nr_of(idx));
	name = ttyname(0);
	tp_check_str("C fd 0 (ttyname)", name ? name : "(none)", path);
	tp_check_u64("C terminal's session (tcgetsid)", tcgetsid(0), getpid());
	tp_check_u64("C foreground group (tcgetpgrp)", tcgetpgrp(0), g);
	check_winsize("C", 0);
	{
		int excl = -1;

		ioctl(0, TIOCGEXCL, &excl);
		tp_check_u64("C exclusive mode (TIOCGEXCL)", excl, 1);
	}
	checked += 6;
	if (waitpid(g, &st, 0) != g)
		tp_differs("C wait for G", "%s", strerror(errno));
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		tp_differs("G's verdict", "status %#x", st);
	tp_finish(checked + 1);
}

/* ---- R: the master -------------------------------------------------------- */

static void hold(unsigned n)
{
	for (int i = 0; i < 4096; i++) {
		int m = posix_openpt(O_RDWR | O_NOCTTY);
		unsigned got;

		if (m < 0 || ioctl(m, TIOCGPTN, &got))
			tp_die("cannot open /dev/ptmx");
		if (got == n)
			return;	/* the others stay open too: harmless */
		if (got > n)
			tp_die("/dev/pts/%u is taken already", n);
	}
	tp_die("no /dev/pts/%u", n);
}

static void write_file(const char *ready, const char *sfx, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", ready, sfx);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		tp_die("cannot write %s", path);
}

int main(int argc, char **argv)
{
	const char *arg = argc > 2 ? argv[2] : "";
	struct termios t;
	pid_t c, g, sid = 0, pg = 0;
	unsigned n, idx2 = 0;
	int m, m2 = -1, pkt = 1, rp[2], st;
	char text[64], buf[64];
	size_t got = 0;

	tp_init("pty", argc, argv);
	tp_corrupt_check_mode(modes);
	tp_block_usr2();
	if (!strcmp(arg, "hold=next")) {
		m = posix_openpt(O_RDWR | O_NOCTTY);
		if (m < 0 || unlockpt(m) || ioctl(m, TIOCGPTN, &n))
			tp_die("cannot open a pty pair");
		snprintf(text, sizeof(text), "%u\n", n);
		write_file(argv[1], ".pts", text);
		tp_write_ready(argv[1]);
		tp_wait_usr2();
		return 0;
	}
	if (!strncmp(arg, "hold=", 5)) {
		hold(strtoul(arg + 5, NULL, 10));
		tp_write_ready(argv[1]);
		tp_wait_usr2();
		return 0;
	}
	if (!strcmp(arg, "idle")) {
		tp_write_ready(argv[1]);
		tp_wait_usr2();
		tp_check_u64("idle: fd 0 is a terminal (isatty)", isatty(0), 1);
		tp_finish(1);
	}
	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m) || ioctl(m, TIOCGPTN, &idx))
		tp_die("cannot open a pty pair");
	if (tcgetattr(m, &t))
		tp_die("tcgetattr");
	cfmakeraw(&t);
	t.c_lflag |= ISIG;
	t.c_oflag |= OPOST | ONLCR;
	t.c_cc[VMIN] = 3;
	t.c_cc[VTIME] = 7;
	t.c_cc[VINTR] = 7;
	cfsetospeed(&t, B9600);
	cfsetispeed(&t, B4800);
	if (tcsetattr(m, TCSANOW, &t) || ioctl(m, TIOCSWINSZ, &want_ws) || tcgetattr(m, &want_t))
		tp_die("cannot set the termios and window size");
	if (ioctl(m, TIOCPKT, &pkt))
		tp_die("TIOCPKT");
	if (pipe(rp))
		tp_die("pipe");
	c = fork();
	if (c < 0)
		tp_die("fork");
	if (c == 0) {
		close(rp[0]);
		child_c(m, rp[1], arg);
	}
	close(rp[1]);
	if (read(rp[0], &g, sizeof(g)) != sizeof(g))
		tp_die("C did not set up");
	close(rp[0]);
	if (!strcmp(arg, "lone")) {
		int l = posix_openpt(O_RDWR | O_NOCTTY);

		if (l < 0 || unlockpt(l))
			tp_die("cannot open a second pty pair");
	}
	if (!strcmp(arg, "hup")) {
		int one = 1, s;

		m2 = posix_openpt(O_RDWR | O_NOCTTY);
		if (m2 < 0 || unlockpt(m2) || ioctl(m2, TIOCGPTN, &idx2) || (s = open(ptsname(m2), O_RDWR | O_NOCTTY)) < 0)
			tp_die("cannot open a second pty pair");
		close(s);
		if (ioctl(m2, TIOCSPTLCK, &one))
			tp_die("TIOCSPTLCK");
		if (tp_corrupting("hup")) {
			one = 0;
			ioctl(m2, TIOCSPTLCK, &one);
			if (open(ptsname(m2), O_RDWR | O_NOCTTY) < 0)
				tp_die("cannot open the second slave again");
		}
	}
	if (!strcmp(arg, "queued-in") && write(m, "abcde", 5) != 5)
		tp_die("write to the master");
	if (!strcmp(arg, "pktstatus")) {
		char path[64];
		int s;

		snprintf(path, sizeof(path), "/dev/pts/%u", idx);
		s = open(path, O_RDWR | O_NOCTTY);
		if (s < 0 || tcflush(s, TCIFLUSH))
			tp_die("flush of the slave");
		close(s);
	}
	if (!strcmp(arg, "queued-out")) {
		char path[64];
		int s;

		snprintf(path, sizeof(path), "/dev/pts/%u", idx);
		s = open(path, O_RDWR | O_NOCTTY);
		if (s < 0 || write(s, "queued", 6) != 6)
			tp_die("write to the slave");
		close(s);
	}
	snprintf(text, sizeof(text), "%d\n%d\n", c, g);
	write_file(argv[1], ".pids", text);
	snprintf(text, sizeof(text), "%u\n", idx);
	write_file(argv[1], ".pts", text);
	if (tp_corrupting("index"))
		idx++;
	if (tp_corrupting("termios")) {
		t.c_cc[VMIN] = 2;
		tcsetattr(m, TCSANOW, &t);
	}
	if (tp_corrupting("winsize")) {
		struct winsize ws = want_ws;

		ws.ws_row++;
		ioctl(m, TIOCSWINSZ, &ws);
	}
	if (tp_corrupting("packet")) {
		pkt = 0;
		ioctl(m, TIOCPKT, &pkt);
	}
	if (tp_corrupting("echo")) {
		t.c_oflag &= ~ONLCR;
		tcsetattr(m, TCSANOW, &t);
		want_t.c_oflag &= ~ONLCR;	/* only the echo check sees it */
	}
	tp_write_ready(argv[1]);
	tp_wait_usr2();

	if (ioctl(m, TIOCGPTN, &n))
		tp_differs("R master index", "TIOCGPTN: %s", strerror(errno));
	else
		tp_check_u64("R master index (TIOCGPTN)", n, idx);
	if (tcgetattr(m, &t))
		tp_differs("R termios", "tcgetattr: %s", strerror(errno));
	else
		check_termios("R", &t);
	check_winsize("R", m);
	pkt = -1;
	ioctl(m, TIOCGPKT, &pkt);
	tp_check_u64("R packet mode (TIOCGPKT)", pkt, 1);
	if (ioctl(m, TIOCGSID, &sid))
		tp_differs("R slave's session", "TIOCGSID: %s", strerror(errno));
	else
		tp_check_u64("R slave's session (TIOCGSID)", sid, c);
	if (ioctl(m, TIOCGPGRP, &pg))
		tp_differs("R slave's foreground group", "TIOCGPGRP: %s", strerror(errno));
	else
		tp_check_u64("R slave's foreground group (TIOCGPGRP)", pg, g);
	checked += 5;
	if (m2 >= 0) {
		struct pollfd p = { m2, POLLIN, 0 };
		int lck = -1;

		if (ioctl(m2, TIOCGPTN, &n))
			tp_differs("R second master index", "TIOCGPTN: %s", strerror(errno));
		else
			tp_check_u64("R second master index (TIOCGPTN)", n, idx2);
		poll(&p, 1, 0);
		tp_check_u64("R second master, slave closed (POLLHUP)", !!(p.revents & POLLHUP), 1);
		ioctl(m2, TIOCGPTLCK, &lck);
		tp_check_u64("R second master locked (TIOCGPTLCK)", lck, 1);
		checked += 3;
	}
	kill(c, SIGUSR2);
	kill(g, SIGUSR2);
	if (write(m, "ab\r", 3) != 3)
		tp_differs("R write to the master", "%s", strerror(errno));
	/* packet mode: each read is a status byte, then data */
	while (got < 6) {
		struct pollfd p = { m, POLLIN, 0 };
		char pk[64];
		ssize_t r;

		if (poll(&p, 1, 10000) != 1) {
			tp_differs("R answer from G", "none within 10 s (have %zu bytes)", got);
			break;
		}
		r = read(m, pk, sizeof(pk));
		if (r <= 0) {
			tp_differs("R read from the master", "%s", r ? strerror(errno) : "end of file");
			break;
		}
		if (pk[0] != 0) {
			tp_differs("R packet status byte", "got %#x want 0", pk[0]);
			break;
		}
		if (got + r - 1 >= sizeof(buf))
			break;
		memcpy(buf + got, pk + 1, r - 1);
		got += r - 1;
	}
	buf[got] = 0;
	tp_check_str("R bytes from the slave", buf, "pong\r\n");
	checked++;
	if (waitpid(c, &st, 0) != c)
		tp_differs("R wait for C", "%s", strerror(errno));
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		tp_differs("C's verdict", "status %#x", st);
	tp_finish(checked + 1);
}
