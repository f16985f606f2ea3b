/*
 * cgroup.c - control group membership and limits (tprog.h protocol).
 *
 *   cgroup READY
 *
 * Environment (colon-separated lists of cgroup directories, each joined by
 * writing 0 to its cgroup.procs, or for a thread its TID to tasks):
 *   CS_CG_SELF     the root process joins these
 *   CS_CG_CHILD    its child joins these
 *   CS_CG_THREAD   a second thread of the root joins these (its TID to
 *                  cgroup.threads in v2, a threaded cgroup; to tasks in v1)
 *   CS_CG_REMAP    OLD=NEW: after the restore, expect every cgroup path
 *                  holding OLD to hold NEW there instead (cs-restore
 *                  --cgroup-root)
 *
 * Each task (root, child, thread) records its /proc/thread-self/cgroup
 * lines and, for each, the limit files of the cgroup's directory (found
 * through /proc/self/mountinfo): memory.max, memory.high, pids.max,
 * cpu.max, cpu.weight, memory.limit_in_bytes, cpu.shares,
 * cpu.cfs_period_us, cpu.cfs_quota_us, cpuset.cpus, cpuset.mems. On
 * SIGUSR2 it reads them again and reports every line and value that
 * differs; the root collects the child's verdict.
 *
 * The root also writes 32 MiB of its own memory (t250 checks that the
 * restored pages are charged to its memory cgroup) and checks them.
 *
 * CS_TEST_CORRUPT: cgroup (the child moves itself to the parent of its
 * first cgroup that is not a root), limit (the root raises a
 * memory.limit_in_bytes or memory.max of one of its cgroups by 4 KiB),
 * thread (the thread moves to the root's cgroup in its hierarchy).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "tprog.h"

#define MAXL 32
#define BIG (32UL << 20)
static const char *const limit_files[] = {
	"memory.max", "memory.high", "pids.max", "cpu.max", "cpu.weight", "memory.limit_in_bytes",
	"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpuset.cpus", "cpuset.mems", NULL
};
#define NLIM (sizeof(limit_files) / sizeof(limit_files[0]) - 1)

struct snap {
	int n;
	char line[MAXL][512];		/* "ctrl:path" */
	char lim[MAXL][NLIM][64];	/* "" when the file is absent */
};

/* The file's contents (up to 64 KiB), malloc'ed and NUL-terminated; NULL if unreadable. */
static char *slurp(const char *path)
{
	char *buf = malloc(1 << 16);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	if (!buf)
		tp_die("malloc");
	if (fd >= 0) {
		n = read(fd, buf, (1 << 16) - 1);
		close(fd);
	}
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

static int put(const char *dir, const char *file, const char *val)
{
	char p[1024];
	int fd;
	ssize_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -1 : 0;
}

/* Join every cgroup of list env: file NULL for a thread (cgroup.threads in
 * v2, where a directory has one, tasks in v1). */
static void join_list(const char *env, const char *file, const char *val)
{
	const char *l = getenv(env);
	char buf[4096], *save, *d;

	if (!l || !*l)
		return;
	snprintf(buf, sizeof(buf), "%s", l);
	for (d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		const char *f = file;
		char p[1100];

		snprintf(p, sizeof(p), "%s/cgroup.threads", d);
		if (!f)
			f = access(p, F_OK) == 0 ? "cgroup.threads" : "tasks";
		if (put(d, f, val))
			tp_die("cannot join cgroup %s (%s)", d, f);
	}
}

/* Whether the comma-separated list opts holds every item of ctrl. */
static int has_all(const char *opts, const char *ctrl)
{
	char c[256], o[1024], *s1, *w;

	snprintf(c, sizeof(c), "%s", ctrl);
	for (w = strtok_r(c, ",", &s1); w; w = strtok_r(NULL, ",", &s1)) {
		char *s2, *x;
		int found = 0;

		snprintf(o, sizeof(o), "%s", opts);
		for (x = strtok_r(o, ",", &s2); x && !found; x = strtok_r(NULL, ",", &s2))
			found = !strcmp(x, w);
		if (!found)
			return 0;
	}
	return 1;
}

/* The directory of cgroup path in hierarchy ctrl ("" for v2), or "" when not mounted. */
static void dir_of(const char *ctrl, const char *path, char *out, size_t len)
{
	char *mi = slurp("/proc/self/mountinfo"), *line, *save;

	out[0] = 0;
	if (!mi)
		return;
	for (line = strtok_r(mi, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char root[512], mnt[512], fstype[64], opts[1024];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %511s %511s", root, mnt) != 2 ||
		    sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
			continue;
		if (*ctrl ? strcmp(fstype, "cgroup") || !has_all(opts, ctrl) : strcmp(fstype, "cgroup2"))
			continue;
		snprintf(out, len, "%s%s", mnt, strcmp(root, "/") ? path + strlen(root) : path);
		break;
	}
	free(mi);
}

static void take(struct snap *s, const char *remap)
{
	char *cg = slurp("/proc/thread-self/cgroup"), *line, *save, old[512] = "", *nw = NULL;

	if (remap) {
		snprintf(old, sizeof(old), "%s", remap);
		nw = strchr(old, '=');
		if (nw)
			*nw++ = 0;
	}
	if (!cg)
		tp_die("cannot read /proc/thread-self/cgroup");
	memset(s, 0, sizeof(*s));
	for (line = strtok_r(cg, "\n", &save); line && s->n < MAXL; line = strtok_r(NULL, "\n", &save)) {
		char *ctrl = strchr(line, ':'), *path, dir[1024], *hit;

		if (!ctrl || !(path = strchr(ctrl + 1, ':')))
			continue;
		ctrl++;
		*path++ = 0;
		snprintf(s->line[s->n], sizeof(s->line[0]), "%s:%s", ctrl, path);
		if (nw && (hit = strstr(s->line[s->n], old))) {
			char tmp[512];

			snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(hit - s->line[s->n]), s->line[s->n], nw,
				 hit + strlen(old));
			snprintf(s->line[s->n], sizeof(s->line[0]), "%s", tmp);
		}
		dir_of(ctrl, path, dir, sizeof(dir));
		for (size_t k = 0; *dir && strcmp(path, "/") && k < NLIM; k++) {
			char p[1100], *v;

			snprintf(p, sizeof(p), "%s/%s", dir, limit_files[k]);
			v = slurp(p);
			if (v)
				snprintf(s->lim[s->n][k], sizeof(s->lim[0][0]), "%.*s", (int)strcspn(v, "\n"), v);
			free(v);
		}
		s->n++;
	}
	free(cg);
}

static unsigned compare(const char *who, const struct snap *want)
{
	struct snap got;
	char what[160];
	unsigned checked = 0;

	take(&got, NULL);
	snprintf(what, sizeof(what), "%s cgroup count", who);
	tp_check_u64(what, got.n, want->n);
	for (int i = 0; i < want->n && i < got.n; i++) {
		snprintf(what, sizeof(what), "%s cgroup line %d", who, i);
		tp_check_str(what, got.line[i], want->line[i]);
		checked++;
		for (size_t k = 0; k < NLIM; k++) {
			snprintf(what, sizeof(what), "%s %s of %s", who, limit_files[k], want->line[i]);
			tp_check_str(what, got.lim[i][k], want->lim[i][k]);
			checked += !!*want->lim[i][k];
		}
	}
	return checked;
}

/* The parent directory of the first non-root cgroup of this task (v1 or v2). */
static int parent_of_first(char *out, size_t len)
{
	char *cg = slurp("/proc/thread-self/cgroup"), *line, *save;

	if (!cg)
		return -1;
	for (line = strtok_r(cg, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *ctrl = strchr(line, ':'), *path, *sl;

		if (!ctrl || !(path = strchr(ctrl + 1, ':')))
			continue;
		*path++ = 0;
		if (!strcmp(path, "/"))
			continue;
		dir_of(ctrl + 1, path, out, len);
		sl = strrchr(out, '/');
		if (*out && sl) {
			*sl = 0;
			free(cg);
			return 0;
		}
	}
	free(cg);
	return -1;
}

static struct snap root_snap, thread_snap;
static pthread_barrier_t ready;
static volatile int thread_go;

static void *thread_main(void *arg)
{
	char tid[32];

	(void)arg;
	snprintf(tid, sizeof(tid), "%ld", (long)syscall(SYS_gettid));
	join_list("CS_CG_THREAD", NULL, tid);
	take(&thread_snap, getenv("CS_CG_REMAP"));
	if (tp_corrupting("thread")) {
		char d[1024];

		dir_of("cpu", "/", d, sizeof(d));
		if (!*d || put(d, "tasks", tid))
			tp_die("CS_TEST_CORRUPT=thread: cannot move to the cpu root");
	}
	pthread_barrier_wait(&ready);
	while (!thread_go)
		usleep(1000);
	return (void *)(long)compare("thread", &thread_snap);
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "cgroup", "limit", "thread", NULL };
	int tochild[2], fromchild[2], st;
	pthread_t th;
	unsigned checked;
	unsigned char *big;
	void *tres;
	pid_t child;
	char c;

	tp_init("cgroup", argc, argv);
	tp_corrupt_check_mode(modes);
	tp_block_usr2();
	join_list("CS_CG_SELF", "cgroup.procs", "0");
	if (pipe(tochild) || pipe(fromchild))
		tp_die("pipe");
	child = fork();
	if (child < 0)
		tp_die("fork");
	if (child == 0) {
		struct snap want;
		char d[1024];

		close(tochild[1]);
		close(fromchild[0]);
		join_list("CS_CG_CHILD", "cgroup.procs", "0");
		take(&want, getenv("CS_CG_REMAP"));
		if (tp_corrupting("cgroup") && (parent_of_first(d, sizeof(d)) || put(d, "cgroup.procs", "0")))
			tp_die("CS_TEST_CORRUPT=cgroup: cannot move to the parent cgroup");
		if (write(fromchild[1], "r", 1) != 1)
			tp_die("write");
		while (read(tochild[0], &c, 1) < 0 && errno == EINTR)
			;
		checked = compare("child", &want);
		exit(tp_ndiff ? 1 : 0);
	}
	close(tochild[0]);
	close(fromchild[1]);
	if (read(fromchild[0], &c, 1) != 1)
		tp_die("the child did not get ready");
	pthread_barrier_init(&ready, NULL, 2);
	if (pthread_create(&th, NULL, thread_main, NULL))
		tp_die("pthread_create");
	pthread_barrier_wait(&ready);
	take(&root_snap, getenv("CS_CG_REMAP"));
	if (tp_corrupting("limit")) {
		int done = 0;

		for (int i = 0; i < root_snap.n && !done; i++)
			for (size_t k = 0; k < NLIM && !done; k++) {
				char d[1024], v[64], *ctrl = root_snap.line[i], *path = strchr(ctrl, ':');

				if (strcmp(limit_files[k], "memory.limit_in_bytes") && strcmp(limit_files[k], "memory.max"))
					continue;
				if (!*root_snap.lim[i][k] || !strcmp(root_snap.lim[i][k], "max"))
					continue;
				*path = 0;
				dir_of(ctrl, path + 1, d, sizeof(d));
				*path = ':';
				snprintf(v, sizeof(v), "%llu", strtoull(root_snap.lim[i][k], NULL, 10) + 4096);
				done = put(d, limit_files[k], v) == 0;
			}
		if (!done)
			tp_die("CS_TEST_CORRUPT=limit: no memory limit to change");
	}
	big = malloc(BIG);
	if (!big)
		tp_die("malloc");
	for (size_t i = 0; i < BIG; i += 4096)
		memset(big + i, (int)(i / 4096 % 251) + 1, 4096);
	tp_write_ready(argv[1]);
	tp_wait_usr2();
	if (write(tochild[1], "g", 1) != 1)
		tp_die("write");
	thread_go = 1;
	checked = compare("root", &root_snap);
	for (size_t i = 0; i < BIG; i += 4096) {
		unsigned char want = (unsigned char)(i / 4096 % 251 + 1);

		if (big[i] != want || big[i + 4095] != want) {
			tp_differs("memory", "page %zu holds %#x, want %#x", i / 4096, big[i], want);
			break;
		}
	}
	checked++;
	pthread_join(th, &tres);
	checked += (unsigned)(long)tres;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		tp_differs("child verdict", "status %#x", st);
	tp_finish(checked + 1);
}
