/*
 * Process trees: find and seize every descendant of the target, decide in
 * which order cs-restore creates them, check that their process groups and
 * sessions can be made again, and find what they share (open file
 * descriptions inherited across fork, pipes and socketpairs with ends in
 * two processes).
 *
 * A seized process cannot fork, so once a process is frozen the children
 * listed in /proc/PID/task/TID/children (proc(5), CONFIG_CHECKPOINT_RESTORE)
 * are all it will have; each child is seized in turn before its own
 * children are read. A child that exits meanwhile becomes a zombie, which
 * is saved as such (a zombie cannot be traced and has no fds or memory).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#define LOG_PREFIX "pstree: "
#include "log.h"
#include "util.h"
#include "dump.h"
#include "sockets.h"

int tree_has(const struct dump_tree *t, pid_t pid)
{
	for (size_t i = 0; t && i < t->nr; i++)
		if (t->n[i].pid == pid)
			return 1;
	return 0;
}

static struct tree_node *node_of(struct dump_tree *t, pid_t pid)
{
	for (size_t i = 0; i < t->nr; i++)
		if (t->n[i].pid == pid)
			return &t->n[i];
	return NULL;
}

static int add_node(struct dump_tree *t, pid_t pid, pid_t ppid, struct dump_ctx *c, ProcessEntry *zpe)
{
	struct tree_node *n = xrealloc(t->n, (t->nr + 1) * sizeof(*n));

	if (!n)
		return -1;
	t->n = n;
	n[t->nr].pid = pid;
	n[t->nr].ppid = ppid;
	n[t->nr].c = c;
	n[t->nr].zpe = zpe;
	t->nr++;
	return 0;
}

/* A zombie child: its ids and exit status, from /proc/PID/stat. */
static ProcessEntry *zombie_entry(pid_t pid)
{
	ProcessEntry *pe = xzalloc(sizeof(*pe));
	CredsEntry *cr = xzalloc(sizeof(*cr));
	unsigned long long f[53];
	char path[64], *comm;

	if (!pe || !cr) {
		free(pe);
		free(cr);
		return NULL;
	}
	process_entry__init(pe);
	creds_entry__init(cr);
	pe->creds = cr;
	if (proc_stat_fields(pid, f)) {
		process_entry__free_unpacked(pe, NULL);	/* frees cr too */
		return NULL;	/* gone, or logged: add_zombie tells which */
	}
	pe->pid = pid;
	pe->ppid = f[4];
	pe->pgid = f[5];
	pe->sid = f[6];
	pe->has_exit_signal = 1;
	pe->exit_signal = f[38];
	pe->has_zombie = pe->zombie = 1;
	pe->has_exit_status = 1;
	pe->exit_status = f[52];	/* exit_code: the status as waitpid(2) reports it */
	pe->threads = xzalloc(sizeof(uint32_t));
	if (!pe->threads)
		return NULL;
	pe->threads[0] = pid;
	pe->n_threads = 1;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	comm = read_file_at(AT_FDCWD, path, NULL, 64);
	if (comm)
		comm[strcspn(comm, "\n")] = 0;
	pe->comm = comm ? comm : xstrdup("");
	pe->cwd = xstrdup("/");
	pe->root = xstrdup("/");
	return pe;
}

/* The children of every thread of pid, in the order the kernel lists them. */
static pid_t *children_of(pid_t pid, size_t *n)
{
	char path[96];
	pid_t *out = NULL;
	struct dirent *de;
	DIR *d;

	*n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d) {
		pr_perror("cannot list %s", path);
		return NULL;
	}
	out = xzalloc(sizeof(pid_t));
	while (out && (de = readdir(d))) {
		pid_t tid = parse_pid(de->d_name);
		char *kids, *p, *end;

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, tid);
		kids = read_file_at(AT_FDCWD, path, NULL, 1 << 20);
		for (p = kids; p && *p;) {
			long v = strtol(p, &end, 10);
			pid_t *o;

			if (end == p)
				break;
			p = end;
			o = xrealloc(out, (*n + 1) * sizeof(pid_t));
			if (!o) {
				free(out);
				out = NULL;
				break;
			}
			out = o;
			out[(*n)++] = v;
		}
		free(kids);
	}
	closedir(d);
	return out;
}

/* The state letter of pid in /proc/PID/status, 0 when it is gone. */
static char state_of(pid_t pid)
{
	char st[64];

	return proc_status_line(pid, 0, "State", st, sizeof(st)) ? 0 : st[0];
}

/*
 * A process of the tree changed under the walk in a way that a new walk
 * would not see (one that left without becoming a zombie of its frozen
 * parent, for instance): the failure is kept in t->race, not logged, and
 * tree_seize releases everything and walks again.
 */
static int race(struct dump_tree *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int race(struct dump_tree *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->race, sizeof(t->race), fmt, ap);
	va_end(ap);
	return -1;
}

/* How many threads /proc/PID/task lists. */
static int nr_tasks(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (de = readdir(d)))
		n += parse_pid(de->d_name) > 0;
	if (d)
		closedir(d);
	return n;
}

static int child_exited(struct dump_tree *t, pid_t pid, pid_t parent);

static int add_zombie(struct dump_tree *t, pid_t pid, pid_t parent)
{
	ProcessEntry *pe;

	/* a leader that called pthread_exit shows Z while its other threads run */
	if (nr_tasks(pid) > 1)
		return pr_err("process %d (child of %d): its main thread has exited and %d other threads run: "
			      "not supported", pid, parent, nr_tasks(pid) - 1);
	pe = zombie_entry(pid);
	/*
	 * exit_notify() (kernel/exit.c) marks an exiting task EXIT_ZOMBIE, and
	 * only then, finding that its parent lets it be reaped at once (SIGCHLD
	 * ignored), EXIT_DEAD: such a child shows Z for a moment and is gone
	 * next, maybe before its stat was read. A zombie of the frozen parent
	 * stays Z: look again once its entry is read.
	 */
	if (state_of(pid) != 'Z') {
		if (pe)
			process_entry__free_unpacked(pe, NULL);
		return child_exited(t, pid, parent);
	}
	if (!pe)
		return pr_err("cannot read /proc/%d/stat (zombie)", pid);
	pr_info("child %d of %d is a zombie (status %#x)", pid, parent, pe->exit_status);
	return add_node(t, pid, parent, NULL, pe);
}

/*
 * Child pid of the frozen process parent exited before it was seized, or
 * while: it is a zombie now (its parent cannot reap it), saved as one; or
 * it is gone (its parent lets children be reaped at once), and the tree is
 * as if it had exited before the freeze. Such a child shows as X (dead,
 * being released) for a moment, and one we saw exit as its tracer is let
 * go to its parent only now: wait for it to settle. Anything else is a race.
 */
static int child_exited(struct dump_tree *t, pid_t pid, pid_t parent)
{
	char st = 0;

	for (int i = 0; i < 200; i++) {
		st = state_of(pid);
		if (st == 'Z') {
			pr_info("child %d of %d exited while the tree was being frozen", pid, parent);
			return add_zombie(t, pid, parent);
		}
		if (!st) {
			pr_info("child %d of %d exited and was reaped while the tree was being frozen", pid, parent);
			return 0;
		}
		usleep(500);
	}
	return race(t, "cannot seize process %d: it exited during the freeze (try again; state %c)", pid, st);
}

/* Seize child pid of parent and, recursively, its descendants. */
static int seize_child(struct dump_tree *t, struct dump_ctx *root, pid_t pid, pid_t parent)
{
	struct dump_ctx *c;
	char st[64];
	int r;

	switch (state_of(pid)) {
	case 'Z':
		return add_zombie(t, pid, parent);
	case 'X':
	case 0:
		return child_exited(t, pid, parent);
	}
	if (proc_status_line(pid, 0, "TracerPid", st, sizeof(st)) == 0 && strcmp(st, "0"))
		return pr_err("process %d (child of %d) is traced by process %s: cannot be dumped", pid, parent, st);
	c = xzalloc(sizeof(*c));
	if (!c)
		return -1;
	c->dirfd = c->pidfd = -1;
	c->pid = pid;
	c->tree = t;
	c->leave_running = root->leave_running;
	c->netlock = root->netlock;	/* the root's: one table for the tree */
	snprintf(c->sfx, sizeof(c->sfx), "-%d", dump_vpid(pid, 0));	/* cs-restore knows it by that */
	c->was_stopped = proc_status_line(pid, 0, "State", st, sizeof(st)) == 0 && st[0] == 'T';
	r = pt_seize_child(pid, &c->pt);
	if (r) {
		free(c);
		return r < 0 ? -1 : child_exited(t, pid, parent);
	}
	c->seized = 1;
	if (add_node(t, pid, parent, c, NULL)) {
		pt_release(&c->pt);
		pt_free(&c->pt);
		free(c);
		return -1;
	}
	/* checked once frozen: a process that can no longer exit or change */
	if (check_target(pid))
		return -1;
	c->pidfd = syscall(SYS_pidfd_open, pid, 0);
	c->dirfd = dup(root->dirfd);
	if (c->pidfd < 0 || c->dirfd < 0)
		return pr_perror("cannot open a pidfd for process %d", pid);
	return tree_seize_children(t, root, pid);
}

int tree_seize_children(struct dump_tree *t, struct dump_ctx *root, pid_t pid)
{
	size_t n;
	pid_t *kids = children_of(pid, &n);

	if (!kids)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (tree_has(t, kids[i]))
			continue;
		if (seize_child(t, root, kids[i], pid)) {
			free(kids);
			return -1;
		}
	}
	free(kids);
	return 0;
}

/* Depth-first order from pid: a parent before its children. */
static int order_from(struct dump_tree *t, struct tree_node *out, size_t *k, pid_t pid)
{
	struct tree_node *n = node_of(t, pid);

	if (!n || *k >= t->nr)
		return pr_err("process tree: inconsistent at %d", pid);
	out[(*k)++] = *n;
	for (size_t i = 0; i < t->nr; i++)
		if (t->n[i].ppid == pid && t->n[i].pid != pid && order_from(t, out, k, t->n[i].pid))
			return -1;
	return 0;
}

static int seize_once(struct dump_tree *t, struct dump_ctx *root)
{
	struct tree_node *ord;
	size_t k = 0, before;

	t->nr = 0;
	if (add_node(t, root->pid, 0, root, NULL))
		return -1;
	root->tree = t;
	if (pt_seize(root->pid, &root->pt))
		return -1;
	root->seized = 1;
	/* frozen processes fork no more: read every list again until nothing is new */
	do {
		before = t->nr;
		for (size_t i = 0; i < t->nr; i++)
			if (t->n[i].c && tree_seize_children(t, root, t->n[i].pid))
				return -1;
	} while (t->nr != before);
	/* CS_FAULT=seize-race: every walk races (cs_fault would log an error) */
	if (getenv("CS_FAULT") && !strcmp(getenv("CS_FAULT"), "seize-race"))
		return race(t, "fault injection: step seize-race fails");
	ord = xzalloc(t->nr * sizeof(*ord));
	if (!ord || order_from(t, ord, &k, root->pid)) {
		free(ord);
		return -1;
	}
	free(t->n);
	t->n = ord;
	for (size_t i = 0; i < t->nr; i++)
		if (t->n[i].c)
			t->n[i].c->idx = i;
	if (t->nr > 1)
		pr_info("%zu processes in the tree of %d", t->nr, root->pid);
	return 0;
}

/* Let go of a walk that raced: everything seized is released as it was. */
static void unseize(struct dump_tree *t, struct dump_ctx *root)
{
	tree_release(t);
	pt_free(&root->pt);
	for (size_t i = 0; i < t->nr; i++)
		if (t->n[i].zpe)
			process_entry__free_unpacked(t->n[i].zpe, NULL);
	tree_free(t);
}

int tree_seize(struct dump_tree *t, struct dump_ctx *root)
{
	for (int attempt = 1;; attempt++) {
		t->race[0] = 0;
		if (!seize_once(t, root))
			return 0;
		if (!t->race[0])
			return -1;	/* a real error, logged */
		unseize(t, root);
		if (attempt == TREE_SEIZE_TRIES)
			return pr_err("%s", t->race);
		pr_info("freezing the tree of %d, attempt %d of %d: %s; walking it again", root->pid, attempt,
			TREE_SEIZE_TRIES, t->race);
		/* let the exit that raced with us finish */
		usleep(attempt * 1000);
	}
}

int tree_release(struct dump_tree *t)
{
	int ret = 0;

	/* children first: a parent let go first could wait for them */
	for (size_t i = t->nr; i-- > 0;) {
		struct dump_ctx *c = t->n[i].c;

		if (!c || !c->seized)
			continue;
		if (c->scratch)
			remote_scratch_unmap(c);
		tcp_est_leave(c);
		if (pt_release(&c->pt))
			ret = -1;
		c->seized = 0;
	}
	return ret;
}

/*
 * The ids a process tree can be given again. cs-restore makes a session
 * with setsid(2) and a group with setpgid(2) from inside the tree; a
 * process joins a group or session only while one member of it exists
 * (setpgid(2): same session), and a child gets its parent's at fork.
 * Outside the tree only the root's group and session exist (cs-restore's
 * own, which the root joins).
 */
static ProcessEntry *entry_of(struct tree_node *n)
{
	return n->c ? n->c->proc : n->zpe;
}

int tree_check_ids(struct dump_tree *t)
{
	ProcessEntry *root = entry_of(&t->n[0]);

	for (size_t i = 0; i < t->nr; i++) {
		ProcessEntry *pe = entry_of(&t->n[i]);
		struct tree_node *par = i ? node_of(t, pe->ppid) : NULL;
		ProcessEntry *pp = par ? entry_of(par) : NULL;
		int leader_at = -1;

		if (!i) {
			if (pe->pgid != pe->pid && tree_has(t, pe->pgid))
				return pr_err("process %d is in process group %u of its descendant: not supported",
					      pe->pid, pe->pgid);
			continue;
		}
		if (!pp)
			return pr_err("process %d: its parent %u is not in the tree", pe->pid, pe->ppid);
		/* sessions are inherited at fork: only a new one can be made */
		if (pe->sid != pe->pid && pe->sid != pp->sid)
			return pr_err("process %d is in session %u, and its parent %u in session %u: "
				      "cannot be restored", pe->pid, pe->sid, pp->pid, pp->sid);
		if (pe->sid != pe->pid && !tree_has(t, pe->sid) && pe->sid != root->sid)
			return pr_err("process %d is in session %u, whose leader is outside the tree: "
				      "not supported", pe->pid, pe->sid);
		for (size_t j = 0; j < t->nr; j++)
			if (t->n[j].pid == (pid_t)pe->pgid)
				leader_at = j;
		if (leader_at < 0 && pe->pgid != root->pgid)
			return pr_err("process %d is in process group %u, whose leader is outside the tree: "
				      "not supported", pe->pid, pe->pgid);
		if (leader_at > (int)i)
			return pr_err("process %d is in process group %u, whose leader comes later in the tree: "
				      "not supported yet", pe->pid, pe->pgid);
		if (leader_at >= 0 && entry_of(&t->n[leader_at])->sid != pe->sid)
			return pr_err("process %d is in process group %u of another session: cannot be restored",
				      pe->pid, pe->pgid);
	}
	return 0;
}

/* The first process before `before` holding an fd of inode ino and type; NULL if none. */
static struct dump_ctx *first_holder(struct dump_tree *t, size_t before, uint32_t type, uint64_t ino)
{
	for (size_t i = 0; i < before; i++) {
		struct dump_ctx *p = t->n[i].c;

		for (size_t j = 0; p && j < p->nr_fds; j++)
			if (p->fds[j]->type == type && p->fds[j]->ino == ino)
				return p;
	}
	return NULL;
}

int tree_share_fds(struct dump_ctx *c)
{
	struct dump_tree *t = c->tree;

	if (!t || !c->idx)
		return 0;
	for (size_t k = 0; k < c->nr_fds; k++) {
		FdEntry *e = c->fds[k];

		if (e->has_peer_fd)
			continue;
		/* the same open file description in an earlier process (kcmp(2), KCMP_FILE) */
		for (size_t i = 0; i < c->idx && !e->has_from_pid; i++) {
			struct dump_ctx *p = t->n[i].c;

			for (size_t j = 0; p && j < p->nr_fds; j++) {
				FdEntry *o = p->fds[j];

				if (o->type != e->type || o->ino != e->ino || o->has_peer_fd || o->has_from_pid ||
				    syscall(SYS_kcmp, p->pid, c->pid, KCMP_FILE, o->fd, e->fd))
					continue;
				e->has_from_pid = e->has_from_fd = 1;
				e->from_pid = p->pid;
				e->from_fd = o->fd;
				pr_info("fd %u of %d is fd %u of %d (inherited)", e->fd, c->pid, o->fd, p->pid);
				break;
			}
		}
	}
	return 0;
}

/* Highest fd number of c, parked ones included. */
static uint32_t max_fd(struct dump_ctx *c)
{
	uint32_t m = 0;

	for (size_t j = 0; j < c->nr_fds; j++)
		if (c->fds[j]->fd > m)
			m = c->fds[j]->fd;
	return m;
}

/* The unix socket of an earlier process that e's socket is connected to. */
static struct dump_ctx *unix_peer_holder(struct dump_tree *t, size_t before, const FdEntry *e)
{
	if (!e->usk || !e->usk->has_peer_ino)
		return NULL;
	return first_holder(t, before, FD_UNIX, e->usk->peer_ino);
}

/* The earlier process holding a unix datagram socket connected to inode ino. */
static struct dump_ctx *unix_client_holder(struct dump_tree *t, size_t before, uint64_t ino)
{
	for (size_t i = 0; i < before; i++) {
		struct dump_ctx *p = t->n[i].c;

		for (size_t j = 0; p && j < p->nr_fds; j++)
			if (p->fds[j]->type == FD_UNIX && p->fds[j]->usk && p->fds[j]->usk->type == SOCK_DGRAM &&
			    p->fds[j]->usk->has_peer_ino && p->fds[j]->usk->peer_ino == ino)
				return p;
	}
	return NULL;
}

int tree_park_fds(struct dump_tree *t)
{
	for (size_t i = 1; i < t->nr; i++) {
		struct dump_ctx *c = t->n[i].c;

		for (size_t k = 0; c && k < c->nr_fds; k++) {
			FdEntry *e = c->fds[k], *park, **arr;
			struct dump_ctx *p = NULL;

			if (e->has_peer_fd || e->has_from_pid || e->has_parked)
				continue;
			if (e->type == FD_PIPE)
				p = first_holder(t, i, FD_PIPE, e->ino);
			else if (e->type == FD_UNIX && e->usk && e->usk->xproc)
				continue;	/* connected again across processes at restore */
			else if (e->type == FD_UNIX && !first_holder(t, i, FD_UNIX, e->ino)) {
				/* a datagram socket has no peer's credentials: the earlier
				 * process can make it whatever its name, and connect it */
				p = unix_peer_holder(t, i, e);
				if (!p && e->usk && e->usk->type == SOCK_DGRAM)
					p = unix_client_holder(t, i, e->ino);
				if (p && e->usk->type != SOCK_DGRAM && (e->usk->has_name || e->usk->has_listener_ino))
					return pr_err("fd %u of process %d (unix socket) is connected to a socket of "
						      "process %d: only socketpairs across processes are supported",
						      e->fd, c->pid, p->pid);
			}
			if (!p)
				continue;
			/* p makes the pipe or the pair: it keeps this end for c */
			park = xmalloc(sizeof(*park));
			arr = xrealloc(p->fds, (p->nr_fds + 2) * sizeof(*arr));
			if (!park || !arr)
				return -1;
			p->fds = arr;
			*park = *e;
			park->fd = max_fd(p) + 1;
			park->has_parked = park->parked = 1;
			p->fds[p->nr_fds++] = park;
			e->has_from_pid = e->has_from_fd = 1;
			e->from_pid = p->pid;
			e->from_fd = park->fd;
			pr_info("fd %u of %d is made by %d (parked there as fd %u)", e->fd, c->pid, p->pid, park->fd);
		}
	}
	return 0;
}

int tree_check_pipes(struct dump_tree *t)
{
	/* a pipe end whose other end is outside the tree: its unread bytes
	 * are saved; at restore its partner is closed, so a reader reads them
	 * and then EOF, and a writer gets EPIPE (what else the outside end
	 * does after the dump cannot be kept) */
	for (size_t i = 0; i < t->nr; i++) {
		struct dump_ctx *c = t->n[i].c;

		for (size_t k = 0; c && k < c->nr_fds; k++) {
			FdEntry *e = c->fds[k];
			uint32_t mine = e->flags & O_ACCMODE;
			int other = 0;

			if (e->type != FD_PIPE || mine == O_RDWR)
				continue;
			for (size_t a = 0; a < t->nr && !other; a++) {
				struct dump_ctx *p = t->n[a].c;

				for (size_t j = 0; p && j < p->nr_fds && !other; j++)
					other = p->fds[j]->type == FD_PIPE && p->fds[j]->ino == e->ino &&
						(p->fds[j]->flags & O_ACCMODE) != mine;
			}
			if (other)
				continue;
			e->has_pipe_alone = e->pipe_alone = 1;
			pr_info("fd %u of process %d is the %s end of a pipe (inode %llu) whose other end is outside "
				"the %s: saved with %zu unread bytes; restored with its other end closed", e->fd, c->pid,
				mine == O_WRONLY ? "write" : "read", (unsigned long long)e->ino,
				t->nr > 1 ? "process tree" : "process", e->has_pipe_data ? e->pipe_data.len : 0);
		}
	}
	return 0;
}

int write_pstree(struct dump_tree *t, struct img_sums *sums)
{
	struct img *img = img_create(t->n[0].c->dirfd, "pstree.img", MAGIC_PSTREE);

	if (!img)
		return -1;
	for (size_t i = 0; i < t->nr; i++)
		if (img_write_msg(img, &entry_of(&t->n[i])->base)) {
			img_free(img);
			return -1;
		}
	return img_close(img, sums);
}

int tree_merge_sums(struct dump_tree *t)
{
	struct img_sums *s = &t->n[0].c->sums;

	for (size_t i = 1; i < t->nr; i++) {
		struct img_sums *o = t->n[i].c ? &t->n[i].c->sums : NULL;

		for (size_t j = 0; o && j < o->n; j++) {
			char **nm = xrealloc(s->names, (s->n + 1) * sizeof(*nm));
			uint64_t *sz;
			uint32_t *cr;

			if (!nm)
				return -1;
			s->names = nm;
			sz = xrealloc(s->sizes, (s->n + 1) * sizeof(*sz));
			if (!sz)
				return -1;
			s->sizes = sz;
			cr = xrealloc(s->crcs, (s->n + 1) * sizeof(*cr));
			if (!cr)
				return -1;
			s->crcs = cr;
			s->names[s->n] = o->names[j];
			s->sizes[s->n] = o->sizes[j];
			s->crcs[s->n] = o->crcs[j];
			s->n++;
			o->names[j] = NULL;
		}
		if (o)
			o->n = 0;
	}
	return 0;
}

void tree_free(struct dump_tree *t)
{
	for (size_t i = 1; i < t->nr; i++)
		if (t->n[i].c) {
			dump_ctx_free(t->n[i].c);
			img_sums_free(&t->n[i].c->sums);
			free(t->n[i].c);
		}
	free(t->n);
	t->n = NULL;
	t->nr = 0;
}
