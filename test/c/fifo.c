/*
 * fifo.c - named FIFOs and pipes with one end outside the process
 * (tprog.h protocol).
 *
 *   fifo READY fifo DIR      one process, three FIFOs made in DIR:
 *       f1  fds 3..5: O_RDONLY|O_NONBLOCK, O_WRONLY|O_CLOEXEC, O_RDWR|O_APPEND
 *           (three open file descriptions of one FIFO), capacity 256 KiB,
 *           100000 unread bytes (more than a default pipe holds);
 *       f2  write end only (O_WRONLY|O_NONBLOCK), 333 unread bytes;
 *       f3  read end only (O_RDONLY), 77 unread bytes, no writer;
 *       and a pipe with both ends in the process (fds 6 and 9),
 *       capacity 128 KiB, 50 unread bytes.
 *   fifo READY tree DIR      FIFO DIR/t opened read-only by the root and,
 *       separately, write-only by a child, which wrote 5000 bytes into it.
 *   fifo READY pipe-in DIR   the read end of a pipe whose write end only a
 *       process outside the tree holds (a grandchild that left: its PID in
 *       DIR/outside.pid), 3000 unread bytes, capacity 128 KiB.
 *   fifo READY pipe-out DIR  the write end of a pipe whose read end only a
 *       process outside holds, 3000 unread bytes, capacity 128 KiB.
 *   fifo READY pipe-in DIR SEED  as pipe-in, but the bytes read after SIGUSR2
 *       must be stream SEED (not 30, the one written): cs-restore
 *       --inherit-fd gave it another pipe, which `fifo READY feed DIR SEED`
 *       filled.
 *   fifo READY feed DIR SEED  not a test: set the capacity of the pipe on
 *       stdout to 128 KiB, write 3000 bytes of stream SEED into it, exit.
 *
 * Checks on SIGUSR2: every fd's access mode, O_NONBLOCK, O_APPEND and
 * FD_CLOEXEC; each FIFO fd is on the inode at its path; the capacity
 * (F_GETPIPE_SZ); the unread bytes, in order, exactly once (FIONREAD, then
 * reading them all, then nothing more); that the ends still talk to each
 * other (f1 both ways; tree: the child writes, the root reads); a lone
 * reader then sees EOF (POLLHUP, read 0) and a lone writer gets EPIPE and
 * SIGPIPE. pipe-in and pipe-out expect the outside end to be gone: cs-dump
 * and cs-restore give a new pipe with its other end closed, and a test run
 * without a dump kills the outside process first (DIR/outside.pid).
 *
 * CS_TEST_CORRUPT: data (a byte of f1 / of the pipe is read early), flags
 * (O_NONBLOCK set on f1's writer), size (f1's capacity halved, the pipe's
 * set to 64 KiB), lone (a byte of f2 read early), eof (a writer of f3 kept
 * open), twice (tree: the child writes its bytes twice), epipe (pipe-out:
 * SIGPIPE ignored, so no signal is counted).
 */
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tprog.h"

#define F1_LEN 100000
#define F1_SIZE (256 * 1024)
#define F2_LEN 333
#define F3_LEN 77
#define T_LEN 5000
#define P_LEN 3000
#define P_SIZE (128 * 1024)

static unsigned checked;
static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

/* Byte i of stream seed: not periodic in a small number of bytes. */
static unsigned char pat(unsigned seed, size_t i)
{
	uint32_t x = (uint32_t)(i * 2654435761u) ^ (seed * 40503u);

	return (unsigned char)(x >> 13 ^ x >> 5 ^ i / 251);
}

static void fill(unsigned char *b, unsigned seed, size_t len)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pat(seed, i);
}

static void write_pat(int fd, unsigned seed, size_t len, const char *what)
{
	unsigned char *b = malloc(len);

	if (!b)
		tp_die("malloc");
	fill(b, seed, len);
	for (size_t o = 0; o < len;) {
		ssize_t w = write(fd, b + o, len - o);

		if (w <= 0)
			tp_die("cannot write %zu bytes into %s", len, what);
		o += w;
	}
	free(b);
}

/* Open a FIFO end that would block (or fail) without its partner, and put
 * len bytes of stream seed in: an O_RDWR open is both ends, and is closed
 * once the end is open and the bytes are in (a write with no reader would
 * be EPIPE). */
static int open_lone(const char *path, int flags, unsigned seed, size_t len)
{
	int h = open(path, O_RDWR | O_NONBLOCK), fd;

	if (h < 0)
		tp_die("open %s O_RDWR", path);
	fd = open(path, flags);
	if (fd < 0)
		tp_die("open %s", path);
	write_pat(h, seed, len, path);
	close(h);
	return fd;
}

static void check_flags(const char *what, int fd, int want_fl, int want_cloexec)
{
	int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
	char w[96];

	snprintf(w, sizeof(w), "%s status flags", what);
	tp_check_u64(w, fl < 0 ? (uint64_t)-1 : (uint64_t)(fl & (O_ACCMODE | O_NONBLOCK | O_APPEND)),
		     (uint64_t)want_fl);
	snprintf(w, sizeof(w), "%s FD_CLOEXEC", what);
	tp_check_u64(w, fdf < 0 ? (uint64_t)-1 : (uint64_t)!!(fdf & FD_CLOEXEC), (uint64_t)want_cloexec);
	checked += 2;
}

static void check_size(const char *what, int fd, int want)
{
	char w[96];

	snprintf(w, sizeof(w), "%s capacity (F_GETPIPE_SZ)", what);
	tp_check_u64(w, fcntl(fd, F_GETPIPE_SZ), want);
	checked++;
}

static void check_inode(const char *what, int fd, const char *path)
{
	struct stat a, b;
	char w[96];

	snprintf(w, sizeof(w), "%s inode (of %s)", what, path);
	if (fstat(fd, &a) || stat(path, &b)) {
		tp_differs(w, "cannot stat: %s", strerror(errno));
		return;
	}
	tp_check_u64(w, a.st_ino, b.st_ino);
	checked++;
}

static void check_queued(const char *what, int fd, int want)
{
	int n = -1;
	char w[96];

	snprintf(w, sizeof(w), "%s bytes queued (FIONREAD)", what);
	if (ioctl(fd, FIONREAD, &n))
		n = -1;
	tp_check_u64(w, n, want);
	checked++;
}

/* Read len bytes of stream seed from fd (waiting up to 5 s for each
 * piece), and compare them. */
static void check_stream(const char *what, int fd, unsigned seed, size_t len)
{
	unsigned char *b = malloc(len ? len : 1);
	size_t got = 0;
	char w[96];

	if (!b)
		tp_die("malloc");
	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5000) <= 0)
			break;
		r = read(fd, b + got, len - got);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	snprintf(w, sizeof(w), "%s bytes read", what);
	tp_check_u64(w, got, len);
	checked++;
	for (size_t i = 0; i < got; i++)
		if (b[i] != pat(seed, i)) {
			snprintf(w, sizeof(w), "%s byte %zu", what, i);
			tp_check_u64(w, b[i], pat(seed, i));
			break;
		}
	checked++;
	free(b);
}

/* After its bytes, a reader with no writer left sees EOF: POLLHUP, read 0. */
static void check_eof(const char *what, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c, w[96];
	int r = poll(&p, 1, 300);

	snprintf(w, sizeof(w), "%s end of file", what);
	if (r != 1 || !(p.revents & POLLHUP)) {
		tp_differs(w, "no writer should be left: poll gives %d, revents 0x%x", r, r == 1 ? p.revents : 0);
		return;
	}
	tp_check_u64(w, read(fd, &c, 1), 0);
	checked++;
}

/* Bytes go in at one end and come out at the other. */
static void check_talk(const char *what, int wfd, int rfd, unsigned seed)
{
	write_pat(wfd, seed, 100, what);
	check_stream(what, rfd, seed, 100);
}

static pid_t spawn_outside(const char *dir, int keep, int drop, int write_it)
{
	char path[4096];
	int st;
	pid_t c = fork();

	if (c < 0)
		tp_die("fork");
	if (c == 0) {
		pid_t g = fork();

		if (g < 0)
			_exit(2);
		if (g > 0)
			_exit(0);
		/* the grandchild: outside the tree once its parent is gone */
		close(drop);
		if (write_it)
			write_pat(keep, 30, P_LEN, "the pipe");
		snprintf(path, sizeof(path), "%s/outside.pid", dir);
		tp_write_ready(path);
		alarm(600);
		for (;;)
			pause();
	}
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		tp_die("the intermediate child failed");
	return c;
}

static void wait_queued(int fd, int want)
{
	for (int i = 0; i < 1000; i++) {
		int n = 0;

		if (ioctl(fd, FIONREAD, &n) == 0 && n == want)
			return;
		usleep(10000);
	}
	tp_die("the pipe never held %d bytes", want);
}

static void wait_file(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (int i = 0; i < 1000; i++) {
		if (access(path, F_OK) == 0)
			return;
		usleep(10000);
	}
	tp_die("%s never appeared", path);
}

static void mode_fifo(const char *ready, const char *dir)
{
	char f1[4096], f2[4096], f3[4096];
	int r1, w1, rw1, w2, r3, extra = -1, pp[2];

	snprintf(f1, sizeof(f1), "%s/f1", dir);
	snprintf(f2, sizeof(f2), "%s/f2", dir);
	snprintf(f3, sizeof(f3), "%s/f3", dir);
	unlink(f1), unlink(f2), unlink(f3);	/* of an earlier run in DIR */
	if (mkfifo(f1, 0600) || mkfifo(f2, 0600) || mkfifo(f3, 0600))
		tp_die("mkfifo in %s", dir);
	r1 = open(f1, O_RDONLY | O_NONBLOCK);
	w1 = open(f1, O_WRONLY | O_CLOEXEC);
	rw1 = open(f1, O_RDWR | O_APPEND);
	if (r1 != 3 || w1 != 4 || rw1 != 5)
		tp_die("f1 opened as fds %d %d %d, want 3 4 5", r1, w1, rw1);
	if (fcntl(w1, F_SETPIPE_SZ, F1_SIZE) < 0)
		tp_die("F_SETPIPE_SZ %d", F1_SIZE);
	write_pat(w1, 1, F1_LEN, "f1");
	w2 = open_lone(f2, O_WRONLY | O_NONBLOCK, 2, F2_LEN);
	r3 = open_lone(f3, O_RDONLY, 3, F3_LEN);
	if (r3 != 8 || pipe(pp) || pp[0] != 6 || pp[1] != 9 || fcntl(pp[1], F_SETPIPE_SZ, P_SIZE) < 0)
		tp_die("the pipe of fds 6 and 9");
	write_pat(pp[1], 5, 50, "the pipe");
	if (tp_corrupting("data")) {
		char c;

		if (read(r1, &c, 1) != 1)
			tp_die("read f1");
	}
	if (tp_corrupting("flags"))
		fcntl(w1, F_SETFL, O_NONBLOCK);
	if (tp_corrupting("size") && fcntl(w1, F_SETPIPE_SZ, F1_SIZE / 2) < 0)
		tp_die("F_SETPIPE_SZ %d", F1_SIZE / 2);
	if (tp_corrupting("lone")) {
		int r = open(f2, O_RDONLY | O_NONBLOCK);
		char c;

		if (r < 0 || read(r, &c, 1) != 1)
			tp_die("read f2");
		close(r);
	}
	if (tp_corrupting("eof")) {
		extra = open(f3, O_WRONLY | O_NONBLOCK);
		if (extra < 0)
			tp_die("open f3 to write");
	}
	tp_write_ready(ready);
	tp_wait_usr2();

	check_flags("f1 reader (fd 3)", r1, O_RDONLY | O_NONBLOCK, 0);
	check_flags("f1 writer (fd 4)", w1, O_WRONLY, 1);
	check_flags("f1 O_RDWR fd 5", rw1, O_RDWR | O_APPEND, 0);
	check_flags("f2 writer", w2, O_WRONLY | O_NONBLOCK, 0);
	check_flags("f3 reader", r3, O_RDONLY, 0);
	check_inode("f1 reader", r1, f1);
	check_inode("f1 writer", w1, f1);
	check_inode("f1 O_RDWR fd", rw1, f1);
	check_inode("f2 writer", w2, f2);
	check_inode("f3 reader", r3, f3);
	check_size("f1", r1, F1_SIZE);
	check_size("f2", w2, 65536);
	check_queued("f1", r1, F1_LEN);
	check_stream("f1", r1, 1, F1_LEN);
	check_queued("f1 once read", r1, 0);
	check_talk("f1 writer to reader", w1, r1, 11);
	check_talk("f1 O_RDWR fd to reader", rw1, r1, 12);
	check_talk("f1 writer to O_RDWR fd", w1, rw1, 13);
	{
		int r = open(f2, O_RDONLY | O_NONBLOCK);

		if (r < 0) {
			tp_differs("f2 open to read", "%s", strerror(errno));
		} else {
			check_queued("f2", r, F2_LEN);
			check_stream("f2", r, 2, F2_LEN);
			check_talk("f2 writer to a new reader", w2, r, 21);
			close(r);
		}
	}
	check_queued("f3", r3, F3_LEN);
	check_stream("f3", r3, 3, F3_LEN);
	check_eof("f3", r3);
	check_size("pipe", pp[0], P_SIZE);
	check_queued("pipe", pp[0], 50);
	check_stream("pipe", pp[0], 5, 50);
	check_talk("pipe", pp[1], pp[0], 6);
	(void)extra;
	tp_finish(checked);
}

static void mode_tree(const char *ready, const char *dir)
{
	char t[4096];
	int r, st, go[2];
	pid_t c;

	snprintf(t, sizeof(t), "%s/t", dir);
	unlink(t);
	if (mkfifo(t, 0600))
		tp_die("mkfifo %s", t);
	r = open(t, O_RDONLY | O_NONBLOCK);
	if (r < 0 || pipe(go))
		tp_die("open %s", t);
	c = fork();
	if (c < 0)
		tp_die("fork");
	if (c == 0) {
		int w = open(t, O_WRONLY);

		close(r);
		close(go[0]);
		if (w < 0)
			tp_die("child: open %s", t);
		write_pat(w, 40, T_LEN, "t");
		if (tp_corrupting("twice"))
			write_pat(w, 40, T_LEN, "t");
		close(go[1]);	/* set up */
		tp_wait_usr2();
		checked = 0;
		check_flags("child: t writer", w, O_WRONLY, 0);
		check_inode("child: t writer", w, t);
		write_pat(w, 41, 100, "t");
		tp_finish(checked);
	}
	close(go[1]);
	{
		char x;

		if (read(go[0], &x, 1) != 0)
			tp_die("child set-up");
		close(go[0]);
	}
	tp_write_ready(ready);
	tp_wait_usr2();

	check_flags("root: t reader", r, O_RDONLY | O_NONBLOCK, 0);
	check_inode("root: t reader", r, t);
	check_queued("root: t", r, T_LEN);
	check_stream("root: t", r, 40, T_LEN);
	check_queued("root: t once read", r, 0);
	kill(c, SIGUSR2);
	check_stream("root: t from the child after the restore", r, 41, 100);
	if (waitpid(c, &st, 0) != c)
		tp_differs("child", "cannot wait for it: %s", strerror(errno));
	else
		tp_check_u64("child exit status", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), 0);
	checked++;
	check_eof("root: t", r);
	tp_finish(checked);
}

static void mode_pipe(const char *ready, const char *dir, int in, unsigned seed)
{
	int p[2], mine;

	if (pipe(p) || fcntl(p[0], F_SETPIPE_SZ, P_SIZE) < 0)
		tp_die("pipe");
	if (in) {
		spawn_outside(dir, p[1], p[0], 1);
		close(p[1]);
		mine = p[0];
		wait_queued(mine, P_LEN);
	} else {
		struct sigaction sa = { .sa_handler = on_sigpipe };

		spawn_outside(dir, p[0], p[1], 0);
		close(p[0]);
		mine = p[1];
		write_pat(mine, 30, P_LEN, "the pipe");
		if (sigaction(SIGPIPE, &sa, NULL))
			tp_die("sigaction");
	}
	wait_file(dir, "outside.pid");
	if (tp_corrupting("data")) {
		char c;

		if (!in || read(mine, &c, 1) != 1)
			tp_die("corrupt data: pipe-in only");
	}
	if (tp_corrupting("size") && fcntl(mine, F_SETPIPE_SZ, 65536) < 0)
		tp_die("F_SETPIPE_SZ");
	if (tp_corrupting("epipe"))
		signal(SIGPIPE, SIG_IGN);
	tp_write_ready(ready);
	tp_wait_usr2();

	check_flags(in ? "pipe read end" : "pipe write end", mine, in ? O_RDONLY : O_WRONLY, 0);
	check_size("pipe", mine, P_SIZE);
	check_queued("pipe", mine, P_LEN);
	if (in) {
		check_stream("pipe", mine, seed, P_LEN);
		check_eof("pipe", mine);
	} else {
		ssize_t w = write(mine, "x", 1);

		tp_check_u64("write with no reader (-1: EPIPE)", w < 0 ? (uint64_t)errno : 0, EPIPE);
		tp_check_u64("SIGPIPE signals", sigpipes, 1);
		checked += 2;
	}
	tp_finish(checked);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "data", "flags", "size", "lone", "eof", "twice", "epipe", NULL };
	const char *mode = argc > 2 ? argv[2] : "", *dir = argc > 3 ? argv[3] : NULL;

	tp_init("fifo", argc, argv);
	tp_corrupt_check_mode(modes);
	tp_block_usr2();
	if (!dir)
		tp_die("usage: fifo READY fifo|tree|pipe-in|pipe-out DIR");
	if (!strcmp(mode, "fifo"))
		mode_fifo(argv[1], dir);
	if (!strcmp(mode, "tree"))
		mode_tree(argv[1], dir);
	if (!strcmp(mode, "pipe-in") || !strcmp(mode, "pipe-out"))
		mode_pipe(argv[1], dir, !strcmp(mode, "pipe-in"), argc > 4 ? (unsigned)atoi(argv[4]) : 30);
	if (!strcmp(mode, "feed")) {
		if (fcntl(1, F_SETPIPE_SZ, P_SIZE) < 0)
			tp_die("feed: stdout is not a pipe");
		write_pat(1, argc > 4 ? (unsigned)atoi(argv[4]) : 30, P_LEN, "stdout");
		exit(0);
	}
	errno = EINVAL;
	tp_die("unknown mode %s", mode);
}
