/*
 * cs-restore internals. The restore is ptrace-driven (shared/DESIGN.md): a
 * stub task with the saved PID is forked from cs-restore, sets up what plain
 * C can set up in itself (fds, handlers, cwd, umask), then stops; cs-restore
 * rebuilds its address space, threads and registers with remote syscalls
 * and detaches. We chose this over a freestanding restorer blob because
 * PTRACE_SETREGSET takes the whole xsave area (an rt_sigreturn frame drops
 * AVX state, KERNEL-FACTS.md), and every step keeps libc and a log.
 */
#ifndef CS_RESTORE_H
#define CS_RESTORE_H

#include <stdint.h>
#include <time.h>
#include <sys/types.h>
#include <sys/stat.h>

#include "ptrace.h"
#include "image.h"
#include "proc.h"
#include "inventory.pb-c.h"
#include "core.pb-c.h"
#include "mm.pb-c.h"
#include "fdinfo.pb-c.h"
#include "regfile.pb-c.h"
#include "timens.pb-c.h"

#define HOLE_SIZE (4 * 4096UL)	/* gadget page, scratch page, 2 pages of rsys_batch calls in the stub */

struct rst_ctx {
	int dirfd;
	char **unix_made;		/* socket paths free at the check: unix_undo removes them */
	size_t nr_unix_made;
	pid_t pid;
	InventoryEntry *inv;
	ProcessEntry *proc;
	ThreadCoreEntry **cores;	/* in the order of proc->threads */
	size_t nr_cores;
	MmEntry *mm;
	FdEntry **fds;
	size_t nr_fds;
	GhostFileEntry **ghosts;	/* ghost-files.img: files deleted while open */
	size_t nr_ghosts;
	FileLockEntry **locks;		/* file-locks.img */
	size_t nr_locks;

	struct page_chain *pages;	/* the pages, through the chain of parents */
	const char *dir;		/* the images directory, as given */

	unsigned long hole;		/* gadget page, then scratch page */
	struct pt_proc pt;		/* the stub and, later, its threads */
	int shell_job;
	int file_locks;			/* --file-locks */
	int file_validation;		/* enum file_validation, --file-validation */
	int tcp_established;		/* --tcp-established: restore kept connections */
	int lower_rlimits;		/* --lower-rlimits: clamp hard limits to ours */
	struct inherit_fd *inherit;	/* --inherit-fd, in the order given (fifo.c) */
	size_t nr_inherit;
	pid_t restorer;			/* cs-restore's PID: the stubs take inherited fds from it */

	/* timens.c */
	int timens_mode;		/* enum timens_mode: --timens, --no-timens */
	TimensEntry *clocks;		/* timens.img; NULL in an older dump */
	int timens_on;			/* the stub gets a new time namespace */
	int timens_continue;		/* ... whose clocks continue from the dump's */
	int64_t shift_mono, shift_boot;	/* CS_TEST_CLOCK_SHIFT, ns */
	int64_t my_mono, my_boot;	/* our own time namespace's offsets, ns */
	int64_t off_mono, off_boot;	/* the new namespace's offsets, ns */
	int own_timens_fd;		/* our time namespace while unshared, else -1 */

	/* pidns.c: --pidns (the root's context; copied to every process) */
	int pidns;			/* restore into a new PID (and mount) namespace */
	pid_t pidns_init;		/* its init, our child, by our PID for it; 0: none */
	int pidns_go;			/* socket to the init: one byte once restored; -1 */

	/* stub.c: the process tree */
	struct rst_tree *tree;
	size_t idx;			/* place in tree->p (0: the root) */
	char sfx[24];			/* image name suffix (img_pname): "", "-PID" */
};

/*
 * Every process of pstree.img, in its order (a parent before its
 * children). A zombie's context has only proc (proc->zombie).
 */
struct rst_tree {
	struct rst_ctx **p;
	size_t nr;
};

/* What check_regfile compares between a saved regular file and the file now. */
enum file_validation { FV_MTIME, FV_FILESIZE, FV_NONE };

/* files.c */
int check_files(struct rst_ctx *c);
/* Every event bit a registration can ask for (epoll_ctl(2)). */
#define EPOLL_ALL_EVENTS (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND | \
			  EPOLLMSG | EPOLLRDHUP)
/*
 * epoll_fired - whether a saved registration's events are those of a
 * one-shot registration that has fired: EPOLLONESHOT and no event bit
 * (fs/eventpoll.c keeps only EP_PRIVATE_BITS when it fires). 1 or 0.
 */
int epoll_fired(uint32_t events);
/* stub_files - run in the stub: create every fd at its number. Returns 0 or
 * -1 with a message in err (the stub has no log). *errfd (the pipe that
 * carries that message) is moved above every target fd. */
int stub_files(struct rst_ctx *c, int *errfd, char *err, size_t len);

/* pty.c: pseudo-terminal pairs held in the tree */
/*
 * check_pty - check phase for an FD_PTY_MASTER or FD_PTY_SLAVE entry: the
 * entry is sound and, for the entry that makes a master, /dev/pts/N is
 * free (a taken index is refused, naming it) and /dev/ptmx can be opened.
 * Returns 0 or -1 (logged). Source: pty(7).
 */
int check_pty(struct rst_ctx *c, const FdEntry *e);
/*
 * make_pty_master - in the stub: open /dev/ptmx until devpts gives the
 * saved index (it gives the lowest free one), close the extra masters,
 * unlock the pair (TIOCSPTLCK) and set the slave's termios (TCSETS2),
 * window size (TIOCSWINSZ) and packet mode (TIOCPKT) through the master.
 * Returns the master's fd (close-on-exec), or -1 with a message in err.
 * Sources: pty(7), ioctl_tty(2).
 */
int make_pty_master(const FdEntry *e, char *err, size_t len);
/* make_pty_slave - in the stub: open /dev/pts/N (its master exists) with
 * the saved flags and O_NOCTTY. Returns the fd, or -1 with err set. */
int make_pty_slave(const FdEntry *e, char *err, size_t len);
/* check_ptys - check phase: the session a pair is the controlling terminal
 * of is led by a process of the tree. 0 or -1 (logged). */
int check_ptys(struct rst_tree *t);
/*
 * stub_ctty - in the stub of a session leader, after stub_files and before
 * it forks the stubs of its children: when the slave of a pair of the tree
 * was its session's controlling terminal, open it and TIOCSCTTY (a process
 * gets a controlling terminal only from its leader at fork, so the
 * children must come after). Returns 0, or -1 with a message in err.
 * Source: ioctl_tty(2) TIOCSCTTY, credentials(7) (controlling terminal).
 */
int stub_ctty(struct rst_ctx *c, char *err, size_t len);
/*
 * restore_ttys - once every stub is seized: in the leader of each session
 * whose controlling terminal is a pair's slave, by remote syscalls, open
 * the slave, TIOCSPGRP (the saved foreground group: it may be a later
 * process's, so this waits until every stub exists) and close it.
 * Returns 0 or -1 (logged). Source: ioctl_tty(2) TIOCSPGRP.
 */
int restore_ttys(struct rst_tree *t);

/* anonfd.c */
/*
 * check_anon_fd - check phase for a timerfd, signalfd or inotify entry: the
 * clock exists, every watched path leads to the inode watched at dump time.
 * Returns 0, -1 (error logged, naming the fd), or 1 when e is none of those.
 */
int check_anon_fd(const FdEntry *e);
/*
 * make_anon_fd - in the stub: create the timerfd (armed, with its unread
 * expirations), signalfd or inotify instance (every watch at its wd) of e.
 * Returns the new fd (any number), -1 with a message in err, or -2 when e
 * is none of those kinds. Sources: timerfd_create(2), signalfd(2), inotify(7).
 */
int make_anon_fd(const FdEntry *e, char *err, size_t len);

/* pidfd.c: pidfds on processes of the tree (feature "pidfd") */
/*
 * check_pidfd - check phase: pidfd e (FD_PIDFD) refers to a process of
 * pstree.img (live or zombie) or, a thread pidfd (O_EXCL), to a thread of
 * a live one. Returns 0, or -1 with an error naming the fd.
 */
int check_pidfd(struct rst_ctx *c, const FdEntry *e);
/*
 * pidfd_watched - whether fd tfd of c is a pidfd (an entry of type
 * FD_PIDFD): stub_files leaves its registrations in epoll sets to
 * restore_pidfds. Runs in the stub too (no log). Returns 1 or 0.
 */
int pidfd_watched(const struct rst_ctx *c, uint32_t tfd);
/*
 * pidfd_epoll_late - whether epoll set e (FD_EPOLL) of c holds a fired
 * one-shot registration of a pidfd: stub_files then leaves the whole set
 * empty and restore_pidfds fills it, fired one-shots first, while it
 * reports nothing else (see epoll_disarmed in files.c). Runs in the stub
 * too. Returns 1 or 0.
 */
int pidfd_epoll_late(const struct rst_ctx *c, const FdEntry *e);
/*
 * restore_pidfds - once every stub of t is seized and every live process
 * has its threads (restore_all, after restore_threads of each): each pidfd
 * of each live process, opened in its stub with pidfd_open(2) (remote
 * syscall; the saved PIDFD_NONBLOCK and PIDFD_THREAD flags) on the restored
 * process or thread, or taken from the lower fd or earlier process that
 * shares it (dup(2), pidfd_getfd(2)), and moved to its number with its
 * FD_CLOEXEC (dup3(2)); then every registration of a pidfd in an epoll set
 * (epoll_ctl(2) EPOLL_CTL_ADD, saved events and data). 0, or -1 with an
 * error naming the process and fd. Sources: pidfd_open(2), pidfd_getfd(2),
 * epoll_ctl(2).
 */
int restore_pidfds(struct rst_tree *t);

/* pidfd-reaped.c: pidfds on processes already reaped (pidfd_reaped) */
/*
 * pidfd_in_stub - whether pidfd e is made by stub_files (a pidfd on a
 * reaped process that the entry itself makes: not one taken from a lower
 * fd or an earlier process, which restore_pidfds takes as for any pidfd).
 * Runs in the stub too. Returns 1 or 0.
 */
int pidfd_in_stub(const FdEntry *e);
/*
 * stub_reaped_pidfd - in the stub: a pidfd on a process that is dead and
 * reaped. The stub forks a child (raw clone(2), SIGCHLD) that exits at
 * once, opens a pidfd on it while it is a zombie with pidfd_open(2) and
 * e's PIDFD_NONBLOCK (O_NONBLOCK) and PIDFD_THREAD (O_EXCL) flags, then
 * reaps it (waitpid(2)): the pidfd then says Pid: -1 in its fdinfo,
 * waitid(P_PIDFD) is ECHILD and pidfd_send_signal(2) ESRCH (measured on
 * 6.18), as for the dumped one. The child takes one PID for a moment.
 * Returns the pidfd (any number; stub_files moves it and sets FD_CLOEXEC),
 * or -1 with a message in err naming the fd. Sources: pidfd_open(2),
 * fs/pidfs.c pidfd_show_fdinfo.
 */
int stub_reaped_pidfd(const FdEntry *e, char *err, size_t len);

/* timers.c */
/*
 * check_timers - check phase: POSIX timer IDs, clocks and signalled threads,
 * and whether this kernel can give timers chosen IDs (prctl
 * PR_TIMER_CREATE_RESTORE_IDS, Linux 6.17+; else IDs 0.. in order), and the
 * saved sleeps. Returns 0 or -1 (error logged, naming the timer).
 */
int check_timers(struct rst_ctx *c);
/*
 * restore_timers - with remote syscalls, once every thread exists and before
 * the saved pending signals are queued: the interval timers, the POSIX
 * timers with their IDs (a timer whose signal was pending is made to fire
 * at once, so that the kernel queues its own signal again, and its saved
 * siginfo is dropped), and for each thread caught in a relative sleep a
 * restart block with the time it had left. Returns 0 or -1.
 */
int restore_timers(struct rst_ctx *c);
/*
 * sleep_fixup - thread i's registers r as it resumes: a sleep set up by
 * restore_timers continues (restart_syscall), unless a handler runs first
 * (handled: it then sees EINTR, as from the kernel).
 */
void sleep_fixup(struct rst_ctx *c, size_t i, struct user_regs_struct *r, int handled);

/* regfiles.c: regular files and devices */
/* read_ghosts - ghost-files.img, when the inventory lists it. 0 or -1. */
int read_ghosts(struct rst_ctx *c);
/* ghost_of - the ghost (file deleted while open) that fd e reopens, or NULL. */
GhostFileEntry *ghost_of(struct rst_ctx *c, const FdEntry *e);
/*
 * check_regfile - before anything is created: fd e (FD_REG, FD_CHR or
 * FD_DIR, not a peer) can be reopened. A saved file must still be a regular
 * file with the saved size (and mtime, under FV_MTIME), a device must have
 * the saved st_rdev, a directory must still be one; a ghost needs its
 * directory. Returns 0 or -1 with one line
 * naming the fd, the file and what changed.
 */
int check_regfile(struct rst_ctx *c, const FdEntry *e);
/*
 * check_file_same - path, now st, against the size and mtime (ns) saved at
 * the dump (has_*: saved at all), as --file-validation asks (c->file_validation:
 * FV_MTIME both, FV_FILESIZE the size, FV_NONE nothing). what names the
 * user of the file in the message ("fd 9", "mapping at 0x7f..."). Returns 0,
 * or -1 with one line naming it, the file, what changed, and the mode that
 * would accept it. Source: stat(2) st_size, st_mtim.
 */
int check_file_same(struct rst_ctx *c, const char *what, const char *path, const struct stat *st, int has_size,
		    uint64_t size, int has_mtime, int64_t mtime_ns);
/*
 * stub_ghosts - in the stub: recreate each ghost (its saved name when that
 * is free, else a name next to it), open it once per saved open file
 * description with the saved flags and offset into tmp[i] (at or above
 * tmp_min, close-on-exec), and, when it is mapped or the executable, once
 * at its fixed fd for restore_mm (stub_ghost_map), and unlink it, so that
 * every fd and mapping refers to a file with st_nlink 0 (CRIU's "link
 * remap"). An entry with link_remap (cs-dump --link-remap) is not
 * recreated but opened through its link (stub_link_remap_name), which
 * stays. Returns 0 or -1 with err set.
 */
int stub_ghosts(struct rst_ctx *c, int *tmp, int tmp_min, char *err, size_t len);

/* linkremap.c: files cs-dump --link-remap linked again (feature "link-remap") */
/*
 * check_link_remap - read_ghosts, for each entry g: when g has link_remap,
 * the entry is sound (an absolute link, a size, no data) and the link is
 * still a regular file (lstat(2)) of the saved size and mtime, as
 * --file-validation asks (check_file_same). Returns 0 (also for an entry
 * without link_remap) or -1 with one line naming the fd (or mapping), the
 * file, the link and what is wrong.
 */
int check_link_remap(struct rst_ctx *c, const GhostFileEntry *g);
/*
 * stub_link_remap_name - in the stub (stub_ghosts), for g with link_remap:
 * the name to open it by (malloc'ed): its old path, hard-linked to the
 * link (linkat(2)) when that name is free (*temp 1: the caller unlinks it
 * once opened), else the link itself (*temp 0: left for link_remap_done).
 * NULL with err (len bytes) set when out of memory.
 */
char *stub_link_remap_name(const GhostFileEntry *g, int *temp, char *err, size_t len);
/*
 * link_remap_done - once the whole restore has succeeded, before the
 * processes run: unlink(2) every --link-remap link of the tree's entries,
 * once each. One that cannot be removed is a warning (the restore stands);
 * one already gone is not. Logs each link removed.
 */
void link_remap_done(struct rst_tree *t);

/* ghostmap.c: deleted files mapped, or the executable (feature "ghost-maps") */
/* ghost_map_count - how many of c's ghosts are mapped or the executable:
 * each has one fd in the stub from stub_files to restore_mm. */
int ghost_map_count(const struct rst_ctx *c);
/* ghost_of_vma - the ghost whose vmas list v's start (a file VMA), or NULL. */
GhostFileEntry *ghost_of_vma(const struct rst_ctx *c, const VmaEntry *v);
/* ghost_map_fd - the stub's fd to map v from when v maps a ghost, else -1. */
int ghost_map_fd(const struct rst_ctx *c, const VmaEntry *v);
/* ghost_exe_fd - the stub's fd of the ghost that is the executable, else -1
 * (for PR_SET_MM_MAP exe_fd, prctl(2)). */
int ghost_exe_fd(const struct rst_ctx *c);
/*
 * check_ghost_map - read_ghosts, for each entry g: every start in g->vmas
 * is a file VMA of c->mm listed for g only, at most one ghost is the
 * executable, and a mapped ghost's directory exists (it is recreated
 * there). Returns 0 or -1 with one line naming the file.
 */
int check_ghost_map(const struct rst_ctx *c, const GhostFileEntry *g);
/*
 * stub_ghost_map - in the stub (stub_ghosts), once ghost g exists as name:
 * when g is mapped, open it (O_RDWR if a shared mapping may write to it,
 * VmFlags mw, else O_RDONLY) at its fixed fd, stub_errfd(c) + 1 + its rank
 * among the mapped ghosts, close-on-exec. Returns 0 (also when g is not
 * mapped) or -1 with err (len bytes) set.
 */
int stub_ghost_map(const struct rst_ctx *c, const GhostFileEntry *g, const char *name, char *err, size_t len);
/* ghost_maps_close - restore_mm, once mapped and PR_SET_MM_MAP is done:
 * close the mapped ghosts' fds in the stub (remote close_range(2)). 0 or -1. */
int ghost_maps_close(struct rst_ctx *c);
/* stub_errfd - files.c: the fd number of the stub's error pipe during
 * stub_files: the highest saved fd + 1 + 64 (64 when there is no fd). */
int stub_errfd(const struct rst_ctx *c);

/* locks.c: file locks (--file-locks) */
/* read_locks - file-locks.img, when the inventory lists it. 0 or -1. */
int read_locks(struct rst_ctx *c);
/*
 * check_locks - before anything is created: refuse saved locks without
 * --file-locks, and any lock that another process holds now (tested from
 * a new open file description: F_OFD_GETLK, fcntl(2); flock LOCK_NB,
 * flock(2)), naming the fd, the file and the holder. Returns 0 or -1.
 */
int check_locks(struct rst_ctx *c);
/*
 * restore_locks - take every saved lock by remote flock/fcntl in the stub,
 * non-blocking. POSIX locks belong to the process and are dropped when it
 * closes any fd of the file (fcntl(2)), so this runs after the last remote
 * open/close of a file (restore_mm maps files that way). Returns 0 or -1.
 */
int restore_locks(struct rst_ctx *c);

/* seccomp.c */
/*
 * check_seccomp - check phase: the saved filters and each thread's
 * reference to them are sound, none can return SECCOMP_RET_USER_NOTIF, and
 * cs-restore may suspend seccomp (CAP_SYS_ADMIN, not under seccomp itself).
 * Returns 0 or -1 (logged). Source: ptrace(2), PTRACE_O_SUSPEND_SECCOMP.
 */
int check_seccomp(struct rst_ctx *c);
/*
 * restore_seccomp - once every thread exists, before restore_creds (a
 * filter without no_new_privs needs CAP_SYS_ADMIN): suspend seccomp for the
 * rest of the restore (PTRACE_O_SUSPEND_SECCOMP on every thread, dropped by
 * the detach), install the filters (the chain shared by every thread with
 * SECCOMP_FILTER_FLAG_TSYNC, the rest per thread), strict mode, then
 * no_new_privs in the threads that had it. 0 or -1.
 * Sources: seccomp(2), prctl(2) PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS.
 */
int restore_seccomp(struct rst_ctx *c);

/* sched.c */
/*
 * check_sched - check phase: each thread's policy, priority and nice value
 * can be set (SCHED_FIFO, SCHED_RR and a negative nice need CAP_SYS_NICE),
 * and its saved CPUs include at least one that cs-restore may use.
 * Returns 0 or -1 with an error naming the thread.
 */
int check_sched(struct rst_ctx *c);
/*
 * restore_sched - per thread, from cs-restore: nice (setpriority(2)),
 * policy, priority and reset-on-fork (sched_setattr(2)), CPU affinity
 * (sched_setaffinity(2)) reduced to the CPUs available here, with a
 * warning naming the ones missing. 0 or -1.
 */
int restore_sched(struct rst_ctx *c);
/* procattr.c */
/*
 * restore_procattr - after restore_sched, from cs-restore: each thread's I/O
 * priority (ioprio_set(2), when one was set) and timer slack in ns (a write
 * to /proc/TID/timerslack_ns: needs CAP_SYS_NICE, proc(5)), the process's
 * core dump filter (/proc/PID/coredump_filter, core(5)). 0 or -1 (logged,
 * naming the thread and the value).
 */
int restore_procattr(struct rst_ctx *c);
/* timens.c: clocks on another host */
enum timens_mode { TIMENS_AUTO, TIMENS_ON, TIMENS_OFF };
/* read_timens - timens.img into c->clocks, when the inventory lists it. 0 or -1. */
int read_timens(struct rst_ctx *c);
/*
 * check_timens - check phase: decide whether the stub gets a new time
 * namespace (c->timens_mode; by default when the dump's boot ID differs
 * from ours, or the process was in a time namespace of its own), read the
 * CS_TEST_CLOCK_SHIFT test hook, and refuse what cannot be done (no time
 * namespaces in this kernel, no clock record in the images, a realtime
 * shift). Returns 0 or -1 (one line). Source: time_namespaces(7).
 */
int check_timens(struct rst_ctx *c);
/*
 * timens_enter - just before the stub is cloned: unshare(CLONE_NEWTIME), so
 * that our next child is created in a new time namespace (we stay in ours),
 * and write its offsets to /proc/self/timens_offsets, which is only allowed
 * until a task is in it (EACCES after). The offsets make CLOCK_MONOTONIC
 * and CLOCK_BOOTTIME read, at that moment, what the process read when it
 * was frozen. Does nothing unless check_timens decided so. Returns 0 or -1.
 * Sources: unshare(2), time_namespaces(7).
 */
int timens_enter(struct rst_ctx *c);
/*
 * timens_leave - once the stub (pid) exists, or its creation failed (pid
 * 0): our next children are again in our own time namespace (setns(2)).
 * With a stub, checks that it has the offsets written. Returns 0 or -1.
 */
int timens_leave(struct rst_ctx *c, pid_t pid);
/*
 * rst_clock_gettime - clock clk as the restored process reads it: ours,
 * moved by its time namespace's offsets (CLOCK_MONOTONIC, _RAW, _COARSE,
 * CLOCK_BOOTTIME, _ALARM; time_namespaces(7)). 0 or -1 (errno).
 */
int rst_clock_gettime(struct rst_ctx *c, clockid_t clk, struct timespec *ts);

/* stub.c */
/* find_hole - a 1 MiB range free in every process's saved layout and in
 * ours, for the gadget and scratch pages; into c->hole of each. 0 or -1. */
int find_hole(struct rst_ctx *c);
/*
 * create_stub - create the stub of the root c (clone3 with its PID), which
 * creates its children's stubs, and each of those its own, in pstree.img
 * order: each makes its fds (an fd of an earlier process is taken from it
 * with pidfd_getfd(2)), then forks its children one at a time, waiting
 * until one is set up before forking the next; a zombie child exits at
 * once with its saved status and is left unreaped. The root stops traced
 * by us (PTRACE_TRACEME); the others wait to be seized (seize_stubs).
 * Returns 0 or -1 (the error of the stub that failed, logged).
 */
int create_stub(struct rst_ctx *c);
/*
 * seize_stubs - after create_stub: PTRACE_SEIZE (with PTRACE_O_EXITKILL)
 * and interrupt the stub of every process but the root, then close the
 * fds each parked for a later process. 0 or -1.
 */
int seize_stubs(struct rst_tree *t);
/* tree_ctx_before - the live process pid among the first `before` of t, or NULL. */
struct rst_ctx *tree_ctx_before(struct rst_tree *t, uint32_t pid, size_t before);
/* check_tree - check phase: every PID of the tree is free and the ids can be made. 0 or -1. */
int check_tree(struct rst_tree *t);

/*
 * stub_fork_root - under --pidns, in the init of the new namespace: fork
 * the root's stub with its saved PID there and wait until it (with its
 * descendants) is set up. Returns when it is; on a failure the message is
 * on errfd and the caller exits.
 */
void stub_fork_root(struct rst_ctx *c, int errfd);

/* pidns.c: --pidns, a new PID namespace for the tree */
/*
 * check_pidns - check phase, under --pidns: cs-restore has CAP_SYS_ADMIN
 * (clone(2) CLONE_NEWPID and CLONE_NEWNS, mount(2)), this kernel has PID
 * namespaces, and no saved PID is 1 (the init's there). 0, or -1 with one
 * line. Source: pid_namespaces(7).
 */
int check_pidns(struct rst_tree *t);
/*
 * pidns_clone - create the init of a new PID and mount namespace, our
 * child (clone3(2) CLONE_NEWPID | CLONE_NEWNS; it is PID 1 there), and the
 * socketpair through which pidns_go lets it go on. Returns as fork(2) does: the
 * init's PID for us (also in c->pidns_init), 0 in the init, -1 (logged).
 */
pid_t pidns_clone(struct rst_ctx *c);
/*
 * pidns_init_main - the init: mounts a proc(5) of the new namespace on
 * /proc (its mounts made slaves of ours first, so nothing leaks out), forks
 * the root's stub with stub_fork_root, closes errfd and every other fd,
 * and waits for pidns_go; then forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT,
 * SIGUSR1, SIGUSR2, SIGCONT and SIGWINCH to the root, reaps every process
 * that ends up its child, and exits with the root's status (128+N when
 * killed by signal N) when the root ends. If cs-restore goes away first,
 * it exits 1 (and the kernel kills the namespace). Never returns.
 */
void pidns_init_main(struct rst_ctx *c, int errfd) __attribute__((noreturn));
/*
 * pidns_host_pids - once every stub is set up: find each process of the
 * tree among the init's descendants by its PID in the namespace (the last
 * NSpid of /proc/PID/status, proc(5)) and make its context's pid our PID
 * for it, which ptrace(2), /proc and kill(2) take. 0 or -1 (logged).
 */
int pidns_host_pids(struct rst_tree *t);
/* pidns_host_tid - our TID for thread tid (as the process sees it) of c, or 0 (logged). */
pid_t pidns_host_tid(struct rst_ctx *c, pid_t tid);
/* pidns_go - the restore is complete: the init takes over. 0 or -1 (logged). */
int pidns_go(struct rst_ctx *c);
/* pidns_kill_init - kill the init (the kernel kills the whole namespace) and reap it. */
void pidns_kill_init(struct rst_ctx *c);

/* mm.c */
int check_mm(struct rst_ctx *c);
int restore_mm(struct rst_ctx *c);

/* threads.c */
int check_threads(struct rst_ctx *c);
int restore_threads(struct rst_ctx *c);
int finish_threads(struct rst_ctx *c);

/* process.c */
/* check_process - ids, credentials, rlimits and, for a chroot, that the
 * saved root directory still exists. 0 or -1 (logged). */
int check_process(struct rst_ctx *c);
/*
 * restore_root - chroot(2) the stub to the saved root directory, by a remote
 * syscall after the last remote syscall that opens a file by its host path
 * and before restore_creds (it needs CAP_SYS_CHROOT). The working directory,
 * set by the stub from its host path, is left where it is. 0 or -1.
 */
int restore_root(struct rst_ctx *c);
/*
 * restore_creds - after everything that needs the stub's privileges:
 * mlockall's future flag, every thread's credentials (restore_thread_creds),
 * oom_score_adj, the parent-death signal, then child subreaper, dumpable
 * (a change of uid reset it) and MDWE in the process. 0 or -1 (logged).
 */
int restore_creds(struct rst_ctx *c);

/* creds.c: credentials, per thread */
/*
 * check_tree_creds - the last step of the check phase: for each live
 * process of t, its credentials and each thread's own
 * (thread_core_entry.creds) are sound
 * and can be given here: their permitted capabilities are in cs-restore's
 * permitted set, their inheritable ones inside the bounding set they get,
 * and cs-restore has CAP_SETUID, CAP_SETGID and CAP_SETPCAP where an id,
 * the groups, the securebits or the bounding set must change. Refuses
 * with one line naming the process or thread; a bounding-set capability
 * cs-restore lacks is a warning (it cannot be given, and only limits what
 * a later execve(2) may gain). Returns 0 or -1. Sources: capset(2),
 * setresuid(2), setfsuid(2), capabilities(7).
 */
struct rst_tree;
int check_tree_creds(struct rst_tree *t);
/*
 * restore_thread_creds - each thread, the leader last, gets its own saved
 * credentials or else the process's, by remote syscalls in that thread:
 * bounding set, groups, gids and fsgid, securebits with KEEP_CAPS, uids
 * and fsuid, capabilities, ambient capabilities, locked securebits. A
 * thread whose set is cs-restore's own is left alone. Returns 0, or -1
 * with one line naming the thread and the call. Sources: credentials(7),
 * capabilities(7), nptl(7) (credentials are per thread).
 */
int restore_thread_creds(struct rst_ctx *c);
/*
 * fown.c: restore_fown - each fd's saved owner (F_SETOWN_EX) and signal
 * (F_SETSIG), by remote fcntl(2) in c's process, after restore_creds and
 * once every thread exists (an owner may be a thread). 0, or -1 with one
 * line naming the fd and the errno.
 */
int restore_fown(struct rst_ctx *c);
int restore_signals(struct rst_ctx *c);

/* shmem.c: shared anonymous memory and memfd (shmem.img), made once for the tree */
/* read_shmem - shmem.img, when the inventory lists it, and the page
 * records of each object (inside the object). 0 or -1 (logged). */
int read_shmem(struct rst_ctx *c);
/* check_shmem_vma - check phase: VMA v (VK_ANON_SHARED or VK_MEMFD) maps an
 * object of shmem.img of its kind. 0 or -1 (one line naming the VMA). */
int check_shmem_vma(struct rst_ctx *c, const VmaEntry *v);
/* check_shmem_fd - check phase: fd e (FD_SHMEM) opens an object of shmem.img. 0 or -1. */
int check_shmem_fd(struct rst_ctx *c, const FdEntry *e);
/*
 * shmem_create - after the check phase, before the first stub: make every
 * object in cs-restore (memfd_create(2) with its name, or shared anonymous
 * memory reopened through /proc/self/map_files), fill it from its page
 * images, give a memfd its owner and mode, and its seals unless a shared
 * mapping may be written (those wait for shmem_seal_late). Returns 0, or
 * -1 (logged; whatever was made is closed).
 */
int shmem_create(struct rst_ctx *c);
/* shmem_seal_late - once every process is rebuilt: the seals left. 0 or -1. */
int shmem_seal_late(void);
/* shmem_close - cs-restore's fds of the objects (the processes hold their own). */
void shmem_close(void);
/*
 * shmem_open_vma - in map_vmas: open v's object in the stub by a remote
 * openat of /proc/<cs-restore>/fd/N (read-write for a shared mapping with
 * VmFlags "mw", else read-only). Returns the stub's fd, or -1 (logged).
 */
int shmem_open_vma(struct rst_ctx *c, const VmaEntry *v);
/*
 * stub_shmem_fd - in the stub: a new open file description of e's object
 * with e's flags, at e's offset. Returns the fd, or -1 with err set.
 */
int stub_shmem_fd(const FdEntry *e, char *err, size_t len);

/* fifo.c: named FIFOs, the capacity of pipes, --inherit-fd */
/* --inherit-fd fd[N]:pipe:[INODE]: cs-restore's fd N stands for pipe INODE */
struct inherit_fd {
	int fd;			/* cs-restore's descriptor */
	uint64_t ino;		/* the pipe's inode at dump time (fd_entry.ino) */
};
/*
 * inherit_fd_parse - one --inherit-fd argument, "fd[N]:pipe:[INODE]"
 * (N a descriptor number, INODE the pipe's inode as cs-dump saw it, as in
 * /proc/PID/fd links; decimal digits only, INODE not 0), appended to *list.
 * Call it before cs-restore opens anything: it checks that fd N is open
 * (fcntl(2) F_GETFD), so that a number the caller did not open is not taken
 * for one of cs-restore's own. Returns 0, or -1 after one line on stderr (a
 * usage error: not that form, fd N not open, or out of memory).
 */
int inherit_fd_parse(const char *arg, struct inherit_fd **list, size_t *nr);
/*
 * check_inherit_fds - check phase, after every process's images are read:
 * each --inherit-fd names an open descriptor of cs-restore that is a pipe
 * or FIFO (fstat(2), S_ISFIFO) open with the access mode the saved end had
 * (F_GETFL: O_RDONLY for a read end, O_WRONLY for a write end), and a pipe
 * (type 3) of the images whose other end was outside the dumped tree
 * (pipe_alone); no --inherit-fd with
 * --pidns (the stubs could not reach cs-restore's descriptors there). 0, or
 * -1 with one line naming the argument.
 */
struct rst_tree;
int check_inherit_fds(struct rst_ctx *c, struct rst_tree *t);
/*
 * close_inherited - cs-restore lets go of an --inherit-fd descriptor once
 * every stub took its copy (so that it holds no pipe end open past the
 * process's EOF). fd 0..2 become /dev/null instead of a hole, which the
 * next open(2) of cs-restore would fill and its messages then go to.
 */
void close_inherited(int fd);
/*
 * stub_inherited_fd - in the stub: when --inherit-fd names e's pipe, a copy
 * of cs-restore's descriptor for it (pidfd_getfd(2) on c->restorer, Linux
 * 5.6), which e then stands for: not refilled, its capacity not changed.
 * Returns the fd; -2 when no --inherit-fd names e; -1 with err set.
 */
int stub_inherited_fd(struct rst_ctx *c, const FdEntry *e, char *err, size_t len);
/*
 * check_fifo - check phase: fd e (FD_FIFO) names a path that is a FIFO now
 * (stat(2) follows symlinks, as the open will). 0, or -1 with one line
 * naming the fd and the path (gone, not a FIFO any more).
 */
int check_fifo(const FdEntry *e);
/*
 * pipe_set_size - give the pipe or FIFO behind fd e's saved capacity
 * (pipe_size, bytes) when it has one and it differs. 0, or -1 with errno
 * from F_SETPIPE_SZ (EPERM above /proc/sys/fs/pipe-max-size without
 * CAP_SYS_RESOURCE, EBUSY below the bytes queued). Source: fcntl(2).
 */
int pipe_set_size(int fd, const FdEntry *e);
/*
 * stub_fifo_fd - in the stub: open e's FIFO again with e's access mode,
 * never blocking (an O_RDWR holder open of the path is held meanwhile,
 * fifo(7)); when e carries them, set the FIFO's capacity and put its saved
 * bytes back (refused when the FIFO holds other bytes already). Returns the
 * fd (O_NONBLOCK set; stub_files sets the saved status flags), or -1 with
 * err set naming the fd and path.
 */
int stub_fifo_fd(const FdEntry *e, char *err, size_t len);

/* cgroup.c: --manage-cgroups, --cgroup-root (cgroup.img) */
enum cgroup_mode { CG_SOFT, CG_FULL, CG_IGNORE };
/* cgroup_parse_mode - --manage-cgroups[=MODE]: NULL or "soft", "full",
 * "ignore" or "none" into *mode. 0, or -1 after one line on stderr. */
int cgroup_parse_mode(const char *arg, int *mode);
/*
 * cgroup_parse_root - one --cgroup-root [CONTROLLER:]PATH (repeatable):
 * the cgroups of the tree in the hierarchy with CONTROLLER ("memory",
 * "name=systemd", "unified" for v2; none: every other hierarchy) go under
 * PATH, which takes the place of the deepest cgroup that holds all of
 * them. 0, or -1 after one line on stderr.
 */
int cgroup_parse_root(const char *arg);
/*
 * cgroup_prepare - last step of the check phase, mode an enum
 * cgroup_mode: read cgroup.img (when listed), find each hierarchy here
 * (mountinfo), create every missing cgroup (mkdir(2)) with its saved
 * limits, v2 type and subtree controllers, under CG_FULL write the saved
 * limits into the existing ones too, then fork a child that joins every
 * target cgroup once (writing 0 to cgroup.procs, or tasks for a v1
 * thread target) and exits. Returns 0, or -1 with one line naming the
 * cgroup and the reason; what was created is removed by cgroup_undo.
 * Sources: cgroups(7), the kernel's cgroup-v2.rst ("no internal process"
 * rule, threaded cgroups) and cgroup-v1/cgroups.rst.
 */
int cgroup_prepare(struct rst_ctx *c, int mode);
/*
 * stub_cgroup_join - in c's stub, right after its fork: join its cgroups
 * (write 0 to cgroup.procs in each hierarchy cgroup_prepare mapped), so
 * that what it faults in from then on is charged there. 0, or -1 with err set.
 */
int stub_cgroup_join(struct rst_ctx *c, char *err, size_t len);
/*
 * restore_cgroup_threads - once c's threads exist: move each thread whose
 * cgroups differed from its process's (its TID to tasks in v1, to
 * cgroup.threads in v2). 0, or -1 naming the thread and cgroup.
 */
int restore_cgroup_threads(struct rst_ctx *c);
/* cgroup_undo - a failed restore, once its processes are gone: rmdir(2)
 * what cgroup_prepare created, the newest first. */
void cgroup_undo(void);

/* remote helpers (stub.c): a syscall in the stub's main thread / write to scratch */
long rsys(struct rst_ctx *c, int thread, long nr, unsigned long a1, unsigned long a2, unsigned long a3,
	  unsigned long a4, unsigned long a5, unsigned long a6);
int scratch_write(struct rst_ctx *c, unsigned long off, const void *buf, size_t len);
#define SCRATCH(c) ((c)->hole + 4096)

/*
 * One call of rsys_batch, as the stub's loop reads it (64 bytes): the
 * syscall number, six arguments, and the result (a value or -errno).
 */
struct rsys_call {
	long nr;
	unsigned long a[6];
	long ret;
};
#define RSYS_BATCH_MAX 128	/* calls, in the two pages after the scratch page */
/*
 * rsys_batch - run calls[0..n) one after the other in the stub's main
 * thread, in one ptrace round trip instead of one a call: the stub's
 * gadget page holds a loop (written by the stub itself, stub.c) that
 * makes each syscall and stores its result, then stops on int3. Every
 * call runs whatever the one before returned: use it for calls whose
 * failure only fails the restore. n <= RSYS_BATCH_MAX. Sets each ret;
 * returns 0, or -1 (logged) when the batch could not be run.
 */
int rsys_batch(struct rst_ctx *c, struct rsys_call *calls, size_t n);

/* netlock.c: --network-lock (lib/netlock.h) */
struct netlock;
/*
 * rst_netlock_take - before anything is created: a new lock table dropping
 * the packets of every established TCP connection in the images (both
 * ways, by 4-tuple). *out: the lock, or NULL when there is no connection.
 * Returns 0, or -1 after one error line (nftables not usable: no
 * CAP_NET_ADMIN; a malformed address in the images). Sources: nft(8),
 * libnftables(3).
 */
int rst_netlock_take(struct rst_tree *t, struct netlock **out);
/*
 * rst_netlock_release - remove our own table (own may be NULL) and, when
 * done (the connections are made and out of repair mode), the dump's table
 * named in inv if it is on this host. A failed restore (done 0) leaves the
 * dump's table, which holds the peers for another try. Returns 0, or -1
 * when a table could not be removed (a warning names it).
 */
int rst_netlock_release(struct netlock *own, const InventoryEntry *inv, int done);

#endif
