/*
 * --pidns: restore the tree into a new PID namespace, for when its PIDs
 * are taken here (the original still runs, or another host's PIDs clash).
 *
 * cs-restore clones an init (CLONE_NEWPID | CLONE_NEWNS: PID 1 of the new
 * namespace, in a mount namespace of its own where a proc(5) of the new
 * namespace covers /proc, so that the process reads its own PIDs there).
 * The init forks the root's stub with set_tid = { saved PID }: one entry,
 * for the innermost namespace (clone(2)); our namespace gives it any free
 * PID. Every later stub and thread is created from inside the namespace,
 * so their one set_tid entry is theirs there too. cs-restore, outside,
 * seizes and rebuilds every stub as usual, knowing each by our PID for it
 * (pidns_host_pids); the process tree keeps its saved PIDs inside.
 *
 * Once the tree runs, the init stays as its reaper: it forwards the
 * signals one sends to a service (SIGTERM, SIGINT, SIGHUP, ...) to the
 * root, reaps orphans, and exits with the root's status when the root
 * ends, which makes the kernel kill whatever is left in the namespace
 * (pid_namespaces(7)).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/sched.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define LOG_PREFIX "pidns: "
#include "log.h"
#include "util.h"
#include "restore.h"


int check_pidns(struct rst_tree *t)
{
	if (!t->p[0]->pidns)
		return 0;
	if (!cap_effective(CAP_SYS_ADMIN))
		return pr_err("--pidns needs CAP_SYS_ADMIN (to create a PID and a mount namespace), which cs-restore "
			      "lacks");
	if (access("/proc/self/ns/pid", F_OK))
		return pr_err("--pidns: this kernel has no PID namespaces (CONFIG_PID_NS)");
	/* shmem.c hands its objects to the stubs through /proc/<our PID>/fd,
	 * which the namespace's own /proc does not show */
	for (size_t i = 0; i < t->nr; i++) {
		const struct rst_ctx *p = t->p[i];

		for (size_t v = 0; p->mm && v < p->mm->n_vmas; v++)
			if (p->mm->vmas[v]->has_shmid)
				return pr_err("--pidns: process %u maps shared memory (VMA %#llx): not supported with "
					      "--pidns yet", p->proc->pid, (unsigned long long)p->mm->vmas[v]->start);
		for (size_t f = 0; f < p->nr_fds; f++)
			if (p->fds[f]->has_shmid)
				return pr_err("--pidns: process %u fd %u is a memfd: not supported with --pidns yet",
					      p->proc->pid, p->fds[f]->fd);
	}
	for (size_t i = 0; i < t->nr; i++)
		if (t->p[i]->proc->pid == 1)
			return pr_err("--pidns: process 1 of the tree was the init of its PID namespace: PID 1 in the "
				      "new namespace is cs-restore's init, restoring an init is not supported");
	return 0;
}

pid_t pidns_clone(struct rst_ctx *c)
{
	struct clone_args ca;
	int go[2];
	pid_t child;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go))
		return pr_perror("cannot create a socketpair");
	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_NEWPID | CLONE_NEWNS;
	ca.exit_signal = SIGCHLD;
	child = syscall(SYS_clone3, &ca, sizeof(ca));
	if (child < 0) {
		pr_perror("cannot create a PID namespace (clone3 with CLONE_NEWPID | CLONE_NEWNS)");
		close(go[0]);
		close(go[1]);
		return -1;
	}
	if (child == 0) {
		close(go[1]);
		c->pidns_go = go[0];
		return 0;
	}
	close(go[0]);
	c->pidns_go = go[1];
	c->pidns_init = child;
	pr_info("new PID namespace: its init is %d", child);
	return child;
}

/* ---- the init, PID 1 of the new namespace ---------------------------------- */

static pid_t root_pid;	/* the root, by its PID in the namespace */

static void forward(int sig)
{
	int e = errno;

	kill(root_pid, sig);
	errno = e;
}

static void __attribute__((noreturn)) init_fail(int errfd, const char *msg)
{
	if (write(errfd, msg, strlen(msg)) < 0)
		_exit(3);
	_exit(2);
}

void pidns_init_main(struct rst_ctx *c, int errfd)
{
	static const int fwd[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH };
	struct sigaction sa;
	sigset_t set;
	char err[256], b;
	int go, st = 0, nul;
	pid_t w;

	/* until the restore is done, cs-restore's end is ours too (and the
	 * read of go below sees it): nothing is left behind */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigfillset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	prctl(PR_SET_NAME, "cs-init");
	/* slave: our /proc stays ours, mounts made outside still come in */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL)) {
		snprintf(err, sizeof(err), "--pidns: cannot make the new mount namespace a slave of ours: %m");
		init_fail(errfd, err);
	}
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		snprintf(err, sizeof(err), "--pidns: cannot mount a proc for the new PID namespace on /proc: %m");
		init_fail(errfd, err);
	}
	/* CS_FAULT=pidns: cs_fault would log here too, the message goes to errfd */
	if (getenv("CS_FAULT") && !strcmp(getenv("CS_FAULT"), "pidns"))
		init_fail(errfd, "fault injection: step pidns fails");
	stub_fork_root(c, errfd);

	/* keep only the pipe from cs-restore; stdio is /dev/null (a pipe of
	 * the caller's, held here, would keep it waiting for an end of file) */
	go = fcntl(c->pidns_go, F_DUPFD_CLOEXEC, 64);
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (go < 0 || nul < 0)
		_exit(4);
	for (int fd = 0; fd < 3; fd++)
		dup2(nul, fd);
	syscall(SYS_close_range, 3, go - 1, 0);
	syscall(SYS_close_range, go + 1, ~0U, 0);	/* errfd: cs-restore hears we are set up */
	if (read(go, &b, 1) != 1)
		_exit(1);	/* cs-restore failed or died: the namespace goes with us */
	/* from now on we outlive cs-restore (-d): it waits for this answer */
	prctl(PR_SET_PDEATHSIG, 0);
	if (write(go, &b, 1) != 1)
		_exit(1);
	close(go);

	root_pid = c->tree->p[0]->proc->pid;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(fwd); i++)
		sigaction(fwd[i], &sa, NULL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	for (;;) {
		w = waitpid(-1, &st, __WALL);
		if (w == root_pid)
			break;
		if (w < 0 && errno != EINTR)
			_exit(1);	/* ECHILD: not reached, the root is our child */
	}
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

/* ---- cs-restore's side -------------------------------------------------- */

/* The PID that pid (ours) has in its innermost namespace: the last NSpid. */
static pid_t inner_pid(pid_t pid, pid_t tid)
{
	char buf[256], *p;

	if (proc_status_line(pid, tid, "NSpid", buf, sizeof(buf)))
		return 0;
	p = buf + strlen(buf);
	while (p > buf && (p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n'))
		*--p = 0;
	while (p > buf && p[-1] != ' ' && p[-1] != '\t')
		p--;
	return atoi(p);
}

static struct rst_ctx *ctx_by_saved_pid(struct rst_tree *t, pid_t pid)
{
	for (size_t i = 0; i < t->nr; i++)
		if (t->p[i]->proc->pid == (uint32_t)pid)
			return t->p[i];
	return NULL;
}

int pidns_host_pids(struct rst_tree *t)
{
	size_t nr = 0, found = 0, cap = t->nr + 1;
	pid_t *todo = xmalloc(cap * sizeof(*todo));	/* our PIDs, parents first */
	int ret = 0;

	if (!todo)
		return -1;
	todo[nr++] = t->p[0]->pidns_init;
	for (size_t k = 0; k < nr && !ret; k++) {
		char path[64], *kids, *s, *end;

		/* the stubs are single-threaded: the leader has every child */
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", todo[k], todo[k]);
		kids = read_file_at(AT_FDCWD, path, NULL, 1 << 20);
		if (!kids) {
			ret = pr_perror("cannot read %s", path);
			break;
		}
		for (s = kids; *s; s = end) {
			long h = strtol(s, &end, 10);
			struct rst_ctx *p;

			if (end == s)
				break;
			p = ctx_by_saved_pid(t, inner_pid(h, 0));
			if (!p || nr >= cap) {
				ret = pr_err("process %ld in the new PID namespace is not one of the tree", h);
				break;
			}
			pr_debug("process %u is %ld here", p->proc->pid, h);
			p->pid = h;
			todo[nr++] = h;
			found++;
		}
		free(kids);
	}
	free(todo);
	if (!ret && found != t->nr)
		ret = pr_err("%zu of the %zu processes of the tree are in the new PID namespace", found, t->nr);
	return ret;
}

pid_t pidns_host_tid(struct rst_ctx *c, pid_t tid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	pid_t r = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", c->pid);
	d = opendir(path);
	if (!d)
		return pr_perror("cannot open %s", path), 0;
	while (!r && (de = readdir(d)))
		if (de->d_name[0] != '.' && inner_pid(c->pid, atoi(de->d_name)) == tid)
			r = atoi(de->d_name);
	closedir(d);
	if (!r)
		pr_err("thread %d of process %u is not in %s", tid, c->proc->pid, path);
	return r;
}

int pidns_go(struct rst_ctx *c)
{
	char b = 1;

	if (!c->pidns_init)
		return 0;
	/* it answers once it no longer dies with us (PR_SET_PDEATHSIG) */
	if (write(c->pidns_go, &b, 1) != 1 || read(c->pidns_go, &b, 1) != 1)
		return pr_perror("cannot tell the init of the new PID namespace to go on");
	close(c->pidns_go);
	c->pidns_go = -1;
	return 0;
}

void pidns_kill_init(struct rst_ctx *c)
{
	int st;

	if (!c->pidns_init)
		return;
	kill(c->pidns_init, SIGKILL);
	while (waitpid(c->pidns_init, &st, 0) < 0 && errno == EINTR)
		;
	c->pidns_init = 0;
	if (c->pidns_go >= 0)
		close(c->pidns_go);
	c->pidns_go = -1;
}
