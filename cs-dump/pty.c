/*
 * Pseudo-terminal pairs held inside the tree (pty(7)): a program such as
 * script(1), tmux or an expect-style supervisor holds a master
 * (/dev/ptmx, char 5:2) and a child has the slave /dev/pts/N (char
 * 136..143) as its controlling terminal. Reopening /dev/ptmx by path
 * would make a new, unrelated pair, so the pair is saved by its index
 * and state and cs-restore makes it again with the same index.
 *
 * The master is asked through a pidfd_getfd(2) copy (the same open file:
 * opening /proc/PID/fd/N of a master would open /dev/ptmx again, a new
 * pair). A master's termios and window-size ioctls act on its slave
 * (tty_mode_ioctl, tiocgwinsz on tty_pair_get_tty: drivers/tty/tty_io.c,
 * tty_ioctl.c), and TIOCGSID/TIOCGPGRP on a master answer for the slave
 * whatever our own controlling terminal is.
 *
 * Bytes queued in either direction cannot be read back without consuming
 * them: such a pair is refused. A slave whose master is not in the tree
 * (the terminal the job runs on) stays under --shell-job.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <asm/termbits.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>

#define LOG_PREFIX "pty: "
#include "log.h"
#include "util.h"
#include "dump.h"

#define PTS_MAJOR_FIRST 136	/* UNIX98_PTY_SLAVE_MAJOR, 8 majors (Documentation/admin-guide/devices.txt) */
#define PTS_MAJOR_LAST	143
#define PTMX_MAJOR	5
#define PTMX_MINOR	2

/* unread bytes a slave holds (FIONREAD at dump_pty), kept until tree_check_ptys */
struct slave_q {
	pid_t pid;
	int fd;
	uint32_t index;
	int inq;
};
static struct slave_q *slave_qs;
static size_t nr_slave_qs;

/* /dev/tty fds (char 5:0) and the terminal they lead to (TIOCGDEV), checked in tree_check_ptys */
struct dev_tty {
	pid_t pid;
	int fd;
	uint32_t index;
};
static struct dev_tty *dev_ttys;
static size_t nr_dev_ttys;

static int is_master(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) == PTMX_MAJOR && minor(st->st_rdev) == PTMX_MINOR;
}

static int is_slave(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) >= PTS_MAJOR_FIRST && major(st->st_rdev) <= PTS_MAJOR_LAST;
}

static uint32_t slave_index(dev_t rdev)
{
	return (major(rdev) - PTS_MAJOR_FIRST) * 256 + minor(rdev);
}

/* /proc/PID/stat tty_nr of a slave (new_encode_dev, include/linux/kdev_t.h) */
static unsigned long long tty_nr_of(uint32_t index)
{
	unsigned maj = PTS_MAJOR_FIRST + index / 256, min = index % 256;

	return (maj << 8) | (min & 0xff) | ((unsigned long long)(min & ~0xffu) << 12);
}

static int copy_fd(struct dump_ctx *c, int fd, const char *link)
{
	int r = syscall(SYS_pidfd_getfd, c->pidfd, fd, 0);

	if (r < 0)
		pr_perror("cannot copy fd %d (%s) of process %d (pidfd_getfd)", fd, link, c->pid);
	return r;
}

static int dump_master(struct dump_ctx *c, int fd, const char *link, FdEntry *e)
{
	PtyEntry *p = xzalloc(sizeof(*p));
	struct termios2 t;
	struct winsize ws;
	unsigned n;
	int m, v, inq = 0, ret = -1;
	pid_t sid = 0, pgrp = 0;

	if (!p)
		return -1;
	pty_entry__init(p);
	e->pty = p;
	e->type = FD_PTY_MASTER;
	/* the devpts of /dev/pts, where cs-restore makes the pair again; another instance's indexes are its own */
	if (strcmp(link, "/dev/ptmx") && strcmp(link, "/dev/pts/ptmx"))
		return pr_err("fd %d of process %d is a pty master opened through %s, of another devpts instance "
			      "than /dev/pts: not supported", fd, c->pid, link);
	m = copy_fd(c, fd, link);
	if (m < 0)
		return -1;
	if (ioctl(m, TIOCGPTN, &n)) {
		pr_perror("fd %d (%s, pty master) of process %d: cannot read its index (TIOCGPTN)", fd, link, c->pid);
		goto out;
	}
	p->index = n;
	if (ioctl(m, FIONREAD, &inq) == 0 && inq > 0) {
		pr_err("fd %d of process %d (pty master of /dev/pts/%u) has %d unread bytes from its slave: "
		       "they cannot be saved without reading them; cannot dump it", fd, c->pid, n, inq);
		goto out;
	}
	/* every slave closed since one was opened: TTY_OTHER_CLOSED, POLLHUP (n_tty_poll); reads give EIO */
	{
		struct pollfd pf = { m, POLLIN, 0 };

		if (poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP)) {
			p->has_hup = 1;
			p->hup = 1;
		}
	}
	/* packet mode: a status change not read yet shows as POLLPRI (n_tty_poll) and is no byte of FIONREAD */
	if (ioctl(m, TIOCGPKT, &v) == 0 && v) {
		struct pollfd pf = { m, POLLPRI, 0 };

		if (poll(&pf, 1, 0) == 1 && (pf.revents & POLLPRI)) {
			pr_err("fd %d of process %d (pty master of /dev/pts/%u, packet mode) has a status change "
			       "not read yet: it cannot be saved without reading it; cannot dump it", fd, c->pid, n);
			goto out;
		}
	}
	if (ioctl(m, TCGETS2, &t)) {
		pr_perror("fd %d (pty master of /dev/pts/%u): cannot read the termios (TCGETS2)", fd, n);
		goto out;
	}
	p->has_iflag = p->has_oflag = p->has_cflag = p->has_lflag = p->has_line = 1;
	p->iflag = t.c_iflag;
	p->oflag = t.c_oflag;
	p->cflag = t.c_cflag;
	p->lflag = t.c_lflag;
	p->line = t.c_line;
	p->has_cc = 1;
	p->cc.len = sizeof(t.c_cc);
	p->cc.data = xmalloc(sizeof(t.c_cc));
	if (!p->cc.data)
		goto out;
	memcpy(p->cc.data, t.c_cc, sizeof(t.c_cc));
	p->has_ispeed = p->has_ospeed = 1;
	p->ispeed = t.c_ispeed;
	p->ospeed = t.c_ospeed;
	if (ioctl(m, TIOCGWINSZ, &ws)) {
		pr_perror("fd %d (pty master of /dev/pts/%u): cannot read the window size", fd, n);
		goto out;
	}
	p->has_rows = p->has_cols = p->has_xpixel = p->has_ypixel = 1;
	p->rows = ws.ws_row;
	p->cols = ws.ws_col;
	p->xpixel = ws.ws_xpixel;
	p->ypixel = ws.ws_ypixel;
	/* TIOCGPKT and TIOCGPTLCK: Linux 3.8 */
	if (ioctl(m, TIOCGPKT, &v) == 0 && v) {
		p->has_packet = 1;
		p->packet = 1;
	}
	if (ioctl(m, TIOCGPTLCK, &v) == 0 && v) {
		p->has_locked = 1;
		p->locked = 1;
	}
	/* ENOTTY: the slave is nobody's controlling terminal */
	if (ioctl(m, TIOCGSID, &sid) == 0 && sid > 0) {
		p->has_sid = 1;
		p->sid = sid;
		if (ioctl(m, TIOCGPGRP, &pgrp) == 0 && pgrp > 0) {
			p->has_fg_pgrp = 1;
			p->fg_pgrp = pgrp;
		}
	}
	pr_info("fd %d: pty master of /dev/pts/%u (session %d, foreground group %d)", fd, n, sid, pgrp);
	ret = 0;
out:
	close(m);
	return ret;
}

static int dump_slave(struct dump_ctx *c, int fd, const char *link, const struct stat *st, FdEntry *e)
{
	PtyEntry *p = xzalloc(sizeof(*p));
	struct slave_q *q = xrealloc(slave_qs, (nr_slave_qs + 1) * sizeof(*q));
	struct stat pts;
	int s, inq = 0, excl = 0;

	if (!p || !q)
		return -1;
	slave_qs = q;
	/* of another devpts instance: no master of the tree is its (dump_master), a terminal under -j */
	if (stat("/dev/pts", &pts) || pts.st_dev != st->st_dev) {
		free(p);
		return 1;
	}
	pty_entry__init(p);
	p->index = slave_index(st->st_rdev);
	e->pty = p;
	e->type = FD_PTY_SLAVE;
	s = copy_fd(c, fd, link);
	if (s < 0)
		return -1;
	/* in canonical mode the line discipline counts only complete lines (n_tty_ioctl, inq_canon) */
	if (ioctl(s, FIONREAD, &inq))
		inq = 0;
	/* TIOCGEXCL: Linux 3.8 */
	if (ioctl(s, TIOCGEXCL, &excl) == 0 && excl) {
		p->has_excl = 1;
		p->excl = 1;
	}
	close(s);
	q[nr_slave_qs].pid = c->pid;
	q[nr_slave_qs].fd = fd;
	q[nr_slave_qs].index = p->index;
	q[nr_slave_qs].inq = inq;
	nr_slave_qs++;
	return 0;
}

/* /dev/tty: which terminal it leads to, for tree_check_ptys */
static int note_dev_tty(struct dump_ctx *c, int fd, const char *link)
{
	struct dev_tty *d = xrealloc(dev_ttys, (nr_dev_ttys + 1) * sizeof(*d));
	unsigned dev = 0, maj, min;
	int s;

	if (!d)
		return -1;
	dev_ttys = d;
	s = copy_fd(c, fd, link);
	if (s < 0)
		return -1;
	/* TIOCGDEV: the device number of the tty the file is on (new_encode_dev, tty_io.c) */
	if (ioctl(s, TIOCGDEV, &dev))
		dev = 0;
	close(s);
	maj = (dev >> 8) & 0xfff;
	min = (dev & 0xff) | ((dev >> 12) & 0xfff00);
	if (maj >= PTS_MAJOR_FIRST && maj <= PTS_MAJOR_LAST) {
		d[nr_dev_ttys].pid = c->pid;
		d[nr_dev_ttys].fd = fd;
		d[nr_dev_ttys].index = (maj - PTS_MAJOR_FIRST) * 256 + min;
		nr_dev_ttys++;
	}
	return 1;
}

int dump_pty(struct dump_ctx *c, int fd, const char *link, const struct stat *st, FdEntry *e)
{
	if (is_master(st))
		return dump_master(c, fd, link, e);
	if (is_slave(st))
		return dump_slave(c, fd, link, st, e);
	if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(5, 0))
		return note_dev_tty(c, fd, link);
	return 1;
}

/* The first master entry of index n in the tree, its process in *at; NULL if none. */
static FdEntry *master_of(struct dump_tree *t, uint32_t n, size_t *at)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct dump_ctx *p = t->n[i].c;

		for (size_t j = 0; p && j < p->nr_fds; j++)
			if (p->fds[j]->type == FD_PTY_MASTER && p->fds[j]->pty->index == n) {
				*at = i;
				return p->fds[j];
			}
	}
	return NULL;
}

static ProcessEntry *live_proc(struct dump_tree *t, pid_t pid)
{
	for (size_t i = 0; i < t->nr; i++)
		if (t->n[i].pid == pid)
			return t->n[i].c ? t->n[i].c->proc : NULL;
	return NULL;
}

static int check_master(struct dump_tree *t, struct dump_ctx *c, FdEntry *e)
{
	PtyEntry *p = e->pty;
	int slave = 0;
	ProcessEntry *leader;
	unsigned long long f[53];

	for (size_t i = 0; i < t->nr && !slave; i++) {
		struct dump_ctx *o = t->n[i].c;

		for (size_t j = 0; o && j < o->nr_fds && !slave; j++)
			slave = o->fds[j]->type == FD_PTY_SLAVE && o->fds[j]->pty->index == p->index;
	}
	/* a slave never opened, or open outside the tree, cannot be told apart;
	 * one opened and closed again (hup) is made so again */
	if (!slave && !p->hup)
		return pr_err("fd %u of process %d is the pty master of /dev/pts/%u, whose slave no process of the "
			      "tree has open: not supported yet", e->fd, c->pid, p->index);
	if (p->locked && (slave || p->has_sid))
		return pr_err("fd %u of process %d is the pty master of /dev/pts/%u, locked again (TIOCSPTLCK) "
			      "while its slave is open or a controlling terminal: not supported", e->fd, c->pid,
			      p->index);
	if (!p->has_sid)
		return 0;
	leader = live_proc(t, p->sid);
	if (!leader || leader->sid != p->sid)
		return pr_err("/dev/pts/%u (pty master fd %u of process %d) is the controlling terminal of session "
			      "%u, whose leader is not in the tree: not supported", p->index, e->fd, c->pid, p->sid);
	for (size_t i = 0; i < t->nr; i++) {
		ProcessEntry *pe = t->n[i].c ? t->n[i].c->proc : NULL;

		if (!pe || pe->sid != p->sid)
			continue;
		if (pe->pid == p->sid && i < c->idx)
			return pr_err("/dev/pts/%u is the controlling terminal of session %u, whose leader comes "
				      "before process %d, which holds its master: not supported yet", p->index,
				      p->sid, c->pid);
		/* the leader's children get it at fork: a process of the
		 * session without it (forked before TIOCSCTTY) cannot be made */
		if (proc_stat_fields(pe->pid, f) == 0 && f[7] != tty_nr_of(p->index))
			return pr_err("process %u is in session %u, whose controlling terminal is /dev/pts/%u, but "
				      "has %s (tty_nr %#llx): not supported", pe->pid, p->sid, p->index,
				      f[7] ? "another one" : "none", f[7]);
	}
	if (p->has_fg_pgrp) {
		int found = 0;

		for (size_t i = 0; i < t->nr && !found; i++) {
			ProcessEntry *pe = t->n[i].c ? t->n[i].c->proc : NULL;

			found = pe && pe->pgid == p->fg_pgrp && pe->sid == p->sid;
		}
		if (!found)
			return pr_err("/dev/pts/%u: its foreground process group %u has no process of session %u "
				      "in the tree: cannot be restored", p->index, p->fg_pgrp, p->sid);
	}
	return 0;
}

int tree_check_ptys(struct dump_tree *t, int shell_job)
{
	int ret = 0;

	for (size_t i = 0; i < t->nr && !ret; i++) {
		struct dump_ctx *c = t->n[i].c;

		for (size_t k = 0; c && k < c->nr_fds && !ret; k++) {
			FdEntry *e = c->fds[k];
			size_t at = 0;

			if (e->type == FD_PTY_MASTER && !e->has_peer_fd && !e->has_from_pid) {
				ret = check_master(t, c, e);
				continue;
			}
			if (e->type != FD_PTY_SLAVE)
				continue;
			if (!master_of(t, e->pty->index, &at)) {
				/* the terminal the job runs on: today's --shell-job */
				if (!shell_job) {
					ret = pr_err("fd %u is terminal %s: use --shell-job to dump a process attached "
						     "to a terminal", e->fd, e->path);
					break;
				}
				pty_entry__free_unpacked(e->pty, NULL);
				e->pty = NULL;
				e->type = FD_CHR;
				continue;
			}
			if (at > i) {
				ret = pr_err("fd %u of process %d is the slave /dev/pts/%u, whose master only a later "
					     "process (%d) holds: not supported yet", e->fd, c->pid, e->pty->index,
					     t->n[at].pid);
				break;
			}
			for (size_t q = 0; q < nr_slave_qs; q++)
				if (slave_qs[q].pid == c->pid && slave_qs[q].fd == (int)e->fd && slave_qs[q].inq > 0) {
					ret = pr_err("fd %u of process %d (pty slave /dev/pts/%u) has %d unread bytes "
						     "from its master: they cannot be saved without reading them; cannot "
						     "dump it", e->fd, c->pid, e->pty->index, slave_qs[q].inq);
					break;
				}
		}
	}
	for (size_t i = 0; i < nr_dev_ttys && !ret; i++) {
		size_t at;

		if (master_of(t, dev_ttys[i].index, &at))
			ret = pr_err("fd %d of process %d is /dev/tty, leading to /dev/pts/%u of a pseudo-terminal pair "
				     "in the tree: not supported yet", dev_ttys[i].fd, dev_ttys[i].pid,
				     dev_ttys[i].index);
	}
	free(slave_qs);
	slave_qs = NULL;
	nr_slave_qs = 0;
	free(dev_ttys);
	dev_ttys = NULL;
	nr_dev_ttys = 0;
	return ret;
}
