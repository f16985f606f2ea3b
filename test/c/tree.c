/*
 * tree.c - a process tree for cs-dump -t / cs-restore (tprog.h protocol).
 *
 *   tree READY                 the tree below
 *   tree READY leader          one process leading a process group of its own
 *   tree READY join-pgid=PID   the tree, with child B in process group PID
 *                              (led from outside the tree: refused)
 *   tree READY sysv            the tree, the root attached to SysV shm (refused)
 *   tree READY session         the tree, the root leading a session of its own
 *                              (every id inside the tree: cs-restore --pidns)
 *
 * The root R forks, before it writes READY:
 *   A  (2 extra threads) reads a pipe R filled and never read, and shares
 *      an open file description with R (a file at offset 3);
 *   B  in a process group of its own, holding one end of a socketpair whose
 *      other end R holds, with a message queued each way; B forks G;
 *   G  in B's group;
 *   Z  a zombie that exited with status 7, which R has not reaped.
 * READY.pids lists A, G and Z, one per line, for the tests; each child
 * tells R it is set up through a pipe that it then closes.
 *
 * On SIGUSR2 R sends SIGUSR2 to A and B (B to G); each checks its PID,
 * parent, group, session and what it holds, and exits 0 or 1; A moves the
 * shared offset to 5 before it exits. R then checks its own: the zombie's
 * status, the offset A set, the message B queued, and the exit status of
 * every child (their verdicts).
 *
 * Each also checks that /proc is of its PID namespace: the Pid and the
 * last NSpid of /proc/self/status are its getpid() (under cs-restore
 * --pidns, a /proc of the outer namespace would show another Pid).
 *
 * CS_TEST_CORRUPT: pipe (A eats a byte), offset (R moves the offset),
 * zombie (Z exits 8), pgid (G leaves B's group), sock (R reads B's
 * message early), threads (A forgets a thread), procpid (the /proc check
 * reads /proc/1/status instead).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "tprog.h"

static const char pipe_msg[] = "pipe-data-0123456789";
static const char to_b[] = "from-r-to-b";
static const char to_r[] = "from-b-to-r";

struct ids {
	pid_t pid, ppid, pgid, sid;
};

static struct ids my_ids(void)
{
	struct ids i = { getpid(), getppid(), getpgid(0), getsid(0) };

	return i;
}

/* Field key of /proc/PID/status ("self" or "1"): its last number. */
static long status_last(const char *pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	f = fopen(path, "r");
	if (!f)
		tp_die("cannot open %s", path);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':') {
			char *p = line + strlen(line);

			while (p > line && (p[-1] == '\n' || p[-1] == ' ' || p[-1] == '\t'))
				*--p = 0;
			while (p > line && p[-1] != ' ' && p[-1] != '\t')
				p--;
			v = atol(p);
		}
	fclose(f);
	return v;
}

static unsigned check_ids(const char *who, const struct ids *want)
{
	struct ids now = my_ids();
	const char *self = tp_corrupting("procpid") ? "1" : "self";
	char what[64];

	snprintf(what, sizeof(what), "%s /proc/self/status Pid", who);
	tp_check_u64(what, status_last(self, "Pid"), now.pid);
	snprintf(what, sizeof(what), "%s /proc/self/status NSpid (last)", who);
	tp_check_u64(what, status_last(self, "NSpid"), now.pid);

	snprintf(what, sizeof(what), "%s pid", who);
	tp_check_u64(what, now.pid, want->pid);
	/* the root's parent is whoever restored it (cs-restore, as in CRIU) */
	snprintf(what, sizeof(what), "%s ppid", who);
	if (strcmp(who, "R"))
		tp_check_u64(what, now.ppid, want->ppid);
	snprintf(what, sizeof(what), "%s pgid", who);
	tp_check_u64(what, now.pgid, want->pgid);
	snprintf(what, sizeof(what), "%s sid", who);
	tp_check_u64(what, now.sid, want->sid);
	return 6;
}

static void say_ready(int fd)
{
	char c = 1;

	if (write(fd, &c, 1) != 1)
		tp_die("cannot tell the root");
	close(fd);
}

static void write_pid_line(const char *ready, pid_t pid)
{
	char path[4096], line[32];
	int fd, n = snprintf(line, sizeof(line), "%d\n", (int)pid);

	snprintf(path, sizeof(path), "%s.pids", ready);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, n) != n)
		tp_die("cannot write %s", path);
	close(fd);
}

/* ---- A: threads, the pipe, the shared file ------------------------------ */

#define A_THREADS 2
static pid_t a_tids[A_THREADS + 1];

static void *a_thread(void *arg)
{
	a_tids[(long)arg] = syscall(SYS_gettid);
	for (;;)
		pause();
	return NULL;
}

static int count_tasks(pid_t *seen, int max)
{
	char path[64];
	int n = 0;

	for (int i = 0; i < max; i++) {
		snprintf(path, sizeof(path), "/proc/self/task/%d", (int)seen[i]);
		n += access(path, F_OK) == 0;
	}
	return n;
}

static void child_a(int ready, int rpipe, int file)
{
	struct ids want = my_ids();
	pthread_t th[A_THREADS];
	unsigned checked = 0;
	char buf[64];
	ssize_t n;

	a_tids[0] = getpid();
	for (long i = 0; i < A_THREADS; i++)
		if (pthread_create(&th[i], NULL, a_thread, (void *)(i + 1)))
			tp_die("pthread_create");
	while (!__atomic_load_n(&a_tids[A_THREADS], __ATOMIC_SEQ_CST) || !__atomic_load_n(&a_tids[1], __ATOMIC_SEQ_CST))
		usleep(1000);
	if (tp_corrupting("pipe") && read(rpipe, buf, 1) != 1)
		tp_die("corrupt: read");
	if (tp_corrupting("threads"))
		a_tids[1] = 1;
	say_ready(ready);
	tp_wait_usr2();

	checked += check_ids("A", &want);
	checked++;
	if (count_tasks(a_tids, A_THREADS + 1) != A_THREADS + 1)
		tp_differs("A threads", "%d of the %d recorded TIDs exist", count_tasks(a_tids, A_THREADS + 1),
			   A_THREADS + 1);
	memset(buf, 0, sizeof(buf));
	n = read(rpipe, buf, sizeof(buf) - 1);
	checked++;
	if (n < 0)
		tp_differs("A pipe", "read: %s", strerror(errno));
	else
		tp_check_str("A pipe data", buf, pipe_msg);
	checked++;
	tp_check_u64("A shared file offset", lseek(file, 0, SEEK_CUR), 3);
	if (lseek(file, 5, SEEK_SET) != 5)
		tp_differs("A lseek", "%s", strerror(errno));
	tp_finish(checked);
}

/* ---- B and G: a group of their own, the socketpair ----------------------- */

static void child_g(int ready)
{
	struct ids want;

	if (tp_corrupting("pgid")) {
		want = my_ids();
		setpgid(0, 0);
	} else {
		want = my_ids();
	}
	say_ready(ready);
	tp_wait_usr2();
	tp_finish(check_ids("G", &want));
}

static void child_b(int ready, int sk, const char *ready_path, pid_t join)
{
	struct ids want;
	unsigned checked = 0;
	char buf[64];
	pid_t g;
	int st;

	if (setpgid(0, join) < 0)
		tp_die("setpgid(0, %d)", (int)join);
	want = my_ids();
	if (send(sk, to_r, sizeof(to_r), 0) != sizeof(to_r))
		tp_die("send");
	g = fork();
	if (g < 0)
		tp_die("fork G");
	if (g == 0) {
		close(sk);
		child_g(ready);
	}
	write_pid_line(ready_path, g);
	say_ready(ready);
	tp_wait_usr2();

	checked += check_ids("B", &want);
	memset(buf, 0, sizeof(buf));
	checked++;
	if (recv(sk, buf, sizeof(buf), MSG_DONTWAIT) < 0)
		tp_differs("B socket", "recv: %s", strerror(errno));
	else
		tp_check_str("B socket data", buf, to_b);
	kill(g, SIGUSR2);
	checked++;
	if (waitpid(g, &st, 0) != g)
		tp_differs("B waitpid G", "%s", strerror(errno));
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		tp_differs("G verdict", "status %#x", st);
	tp_finish(checked);
}

/* ---- the root ------------------------------------------------------------ */

static void leader(const char *ready)
{
	tp_block_usr2();
	if (setpgid(0, 0) < 0)
		tp_die("setpgid");
	tp_write_ready(ready);
	tp_wait_usr2();
	tp_finish(0);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "pipe", "offset", "zombie", "pgid", "sock", "threads", "procpid", NULL };
	const char *ready = argv[1];
	struct ids want;
	pid_t a, b, z, join = 0;
	int setup[2], pp[2], sp[2], file, sysv = 0;
	char path[8192], dir[4096], buf[64];
	unsigned checked = 0;
	int st;

	tp_init("tree", argc, argv);
	tp_corrupt_check_mode(modes);
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "leader"))
			leader(ready);
		else if (!strncmp(argv[i], "join-pgid=", 10))
			join = atoi(argv[i] + 10);
		else if (!strcmp(argv[i], "sysv"))
			sysv = 1;
		else if (!strcmp(argv[i], "session")) {
			if (setsid() < 0)
				tp_die("setsid");
		}
		else {
			errno = EINVAL;
			tp_die("unknown argument %s", argv[i]);
		}
	}
	tp_block_usr2();
	want = my_ids();
	tp_dirname(ready, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/tree-shared-file", dir);
	file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (file < 0 || write(file, "0123456789", 10) != 10 || lseek(file, 3, SEEK_SET) != 3)
		tp_die("cannot make %s", path);
	snprintf(path, sizeof(path), "%s.pids", ready);
	unlink(path);
	if (pipe(setup) || pipe(pp) || socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		tp_die("pipe");
	if (write(pp[1], pipe_msg, sizeof(pipe_msg) - 1) != sizeof(pipe_msg) - 1)
		tp_die("fill the pipe");
	if (sysv) {
		int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		void *p = id < 0 ? (void *)-1 : shmat(id, NULL, 0);

		if (p == (void *)-1)
			tp_die("shmget/shmat");
		shmctl(id, IPC_RMID, NULL);	/* gone once detached */
	}

	a = fork();
	if (a < 0)
		tp_die("fork A");
	if (a == 0) {
		close(setup[0]);
		close(pp[1]);
		close(sp[0]);
		close(sp[1]);
		child_a(setup[1], pp[0], file);
	}
	write_pid_line(ready, a);
	close(pp[0]);
	b = fork();
	if (b < 0)
		tp_die("fork B");
	if (b == 0) {
		close(setup[0]);
		close(pp[1]);
		close(sp[0]);
		close(file);
		child_b(setup[1], sp[1], ready, join);
	}
	if (!join)
		setpgid(b, b);	/* either of the two may run first */
	close(sp[1]);
	z = fork();
	if (z < 0)
		tp_die("fork Z");
	if (z == 0)
		_exit(tp_corrupting("zombie") ? 8 : 7);
	close(setup[1]);
	/* A, B and G */
	for (int n = 0; n < 3;) {
		ssize_t r = read(setup[0], buf, sizeof(buf));

		if (r <= 0)
			tp_die("a child failed to set up");
		n += r;
	}
	close(setup[0]);
	{
		siginfo_t si;

		if (waitid(P_PID, z, &si, WEXITED | WNOWAIT))
			tp_die("waitid Z");
	}
	/* READY.pids: A, G (B writes it), then Z */
	write_pid_line(ready, z);
	if (send(sp[0], to_b, sizeof(to_b), 0) != sizeof(to_b))
		tp_die("send");
	if (tp_corrupting("offset"))
		lseek(file, 4, SEEK_SET);
	if (tp_corrupting("sock") && recv(sp[0], buf, sizeof(buf), 0) < 0)
		tp_die("corrupt: recv");
	tp_write_ready(ready);
	tp_wait_usr2();

	checked += check_ids("R", &want);
	checked++;
	if (waitpid(z, &st, WNOHANG) != z)
		tp_differs("zombie", "waitpid(%d) did not return it: %s", (int)z, strerror(errno));
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 7)
		tp_differs("zombie status", "got %#x want exit 7", st);
	kill(a, SIGUSR2);
	checked++;
	if (waitpid(a, &st, 0) != a)
		tp_differs("waitpid A", "%s", strerror(errno));
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		tp_differs("A verdict", "status %#x", st);
	checked++;
	tp_check_u64("R shared file offset (A moved it)", lseek(file, 0, SEEK_CUR), 5);
	memset(buf, 0, sizeof(buf));
	checked++;
	if (recv(sp[0], buf, sizeof(buf), MSG_DONTWAIT) < 0)
		tp_differs("R socket", "recv: %s", strerror(errno));
	else
		tp_check_str("R socket data", buf, to_r);
	kill(b, SIGUSR2);
	checked++;
	if (waitpid(b, &st, 0) != b)
		tp_differs("waitpid B", "%s", strerror(errno));
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		tp_differs("B verdict", "status %#x", st);
	tp_finish(checked);
}
