/*
 * cs-dump internals: the steps of a dump, one file per kind of state.
 * Each step takes the dump context and what it needs, returns 0 or -1.
 */
#ifndef CS_DUMP_H
#define CS_DUMP_H

#include <stdint.h>
#include <sys/types.h>

#include "ptrace.h"
#include "image.h"
#include "proc.h"
#include "core.pb-c.h"
#include "mm.pb-c.h"
#include "fdinfo.pb-c.h"
#include "stats.pb-c.h"
#include "regfile.pb-c.h"
#include "goruntime.h"

struct dump_ctx {
	pid_t pid;
	struct pt_proc pt;		/* seized threads */
	int dirfd;			/* the temporary image directory */
	struct img_sums sums;
	unsigned long scratch;		/* remote scratch page in the target, 0: none */

	ProcessEntry *proc;		/* collected state, written by write_* */
	ThreadCoreEntry **cores;
	MmEntry *mm;
	FdEntry **fds;
	size_t nr_fds;
	FileLockEntry **locks;		/* locks.c, with --file-locks */
	size_t nr_locks;
	GhostFileEntry **ghosts;	/* regfiles.c: files deleted while open */
	size_t nr_ghosts;

	/* pages copied while frozen, compressed after; dead runs are not copied */
	struct page_run { uint64_t vaddr, nr; int dead; } *runs;
	size_t nr_runs;
	uint8_t *pagebuf;
	uint64_t pages_present;
	uint64_t pages_dead;

	struct go_rt *go;		/* the Go runtime reader, NULL: whole dump */
	uint64_t cls_pages[5];		/* present anonymous pages by enum go_page_class */
	uint64_t slots_zeroed;		/* bytes of free Go heap slots written as zeros */

	int *repair_fds;		/* our copies of connections dropped by --tcp-close */
	size_t nr_repair;
	int pidfd;
	int was_stopped;		/* in a group stop before the seize */

	/* timens.c: the target's clocks at the freeze, as it read them */
	struct dump_clocks {
		int64_t mono, boot, real;	/* ns */
		int own_ns;			/* in a time namespace other than ours */
		int64_t off_mono, off_boot;	/* that namespace's offsets, ns */
	} clocks;
};

/* threads.c */
#include <signal.h>
/* peek_pending - queued siginfos of tid (shared=1: the process-wide queue), appended to *out. */
int peek_pending(pid_t tid, int shared, SiginfoEntry ***out, size_t *n);
int add_siginfo(SiginfoEntry ***arr, size_t *n, const siginfo_t *si);
/* check_dumpable - refuse what cannot be saved yet (seccomp, NoNewPrivs,
 * child processes) before anything runs in the target. */
int check_dumpable(struct dump_ctx *c);
int dump_threads(struct dump_ctx *c);
/* dump_pending - pending signals of every thread and of the process, after
 * the last remote syscall. */
int dump_pending(struct dump_ctx *c);
int write_threads(struct dump_ctx *c);

/* process.c: remote scratch page, per-process state */
int remote_scratch_map(struct dump_ctx *c);
int remote_scratch_unmap(struct dump_ctx *c);
int remote_read(struct dump_ctx *c, unsigned long addr, void *buf, size_t len);
int dump_process(struct dump_ctx *c);
int write_process(struct dump_ctx *c);

/* mm.c */
/* dump_mm - VMAs, mm fields and pages; with c->go, dead pages are left out
 * and the runtime figures go to st. */
int dump_mm(struct dump_ctx *c, DumpStatsEntry *st);
int write_mm(struct dump_ctx *c, uint64_t *pages_written, uint64_t *pages_zero, uint64_t *bytes);

/* files.c */
int dump_files(struct dump_ctx *c, int tcp_close, int shell_job);
int write_files(struct dump_ctx *c);
/* tcp_repair_dropped - put --tcp-close connections in repair mode so that
 * the kill sends no packet and leaves nothing in FIN-WAIT. */
void tcp_repair_dropped(struct dump_ctx *c);

/* timers.c */
/*
 * dump_timers - the armed interval timers and every POSIX timer into pe,
 * and, per thread, a relative nanosleep interrupted by the freeze (into
 * c->cores). Runs remote syscalls (getitimer, timer_gettime,
 * timer_getoverrun): after dump_threads, with the scratch page mapped.
 * Returns 0, or -1 with an error naming the timer that cannot be restored.
 * Sources: getitimer(2), timer_gettime(2), proc(5) /proc/PID/timers.
 */
int dump_timers(struct dump_ctx *c, ProcessEntry *pe);

/* anonfd.c */
/*
 * dump_anon_fd - fd (link: its /proc/PID/fd target) if it is a timerfd,
 * signalfd or inotify instance: fills e (type FD_TIMERFD, FD_SIGNALFD,
 * FD_INOTIFY). Returns 1 when fd is none of those (e untouched), 0 when
 * saved, -1 with an error naming the fd when it cannot be saved.
 * Sources: timerfd_create(2), signalfd(2), inotify(7), proc(5) fdinfo.
 */
int dump_anon_fd(struct dump_ctx *c, int fd, const char *link, FdEntry *e);

/* regfiles.c: files deleted while open */
#define GHOST_LIMIT_DEFAULT (1ULL << 20)	/* bytes, as CRIU's --ghost-limit */
#define GHOST_LIMIT_MAX (192ULL << 20)		/* one record must stay below CS_MAX_RECORD */
/*
 * dump_ghosts - after dump_files: every regular-file fd whose file was
 * deleted while open (its /proc/PID/fd link ends in " (deleted)" and the
 * inode has no link left, st_nlink 0, proc(5)) loses that suffix from its
 * path, and the contents of each such inode are read into c->ghosts, once
 * per inode. limit: bytes; a larger file is refused, naming the fd and the
 * file. Returns 0 or -1 (logged).
 */
int dump_ghosts(struct dump_ctx *c, uint64_t limit);
/* write_ghosts - ghost-files.img, only when there is a ghost. 0 or -1. */
int write_ghosts(struct dump_ctx *c);

/* locks.c */
/*
 * dump_locks - after dump_files: the flock, POSIX and OFD locks of the
 * process, from the "lock:" lines of /proc/PID/fdinfo/FD (one open file
 * description at a time: fds with a peer_fd are skipped) checked against
 * /proc/locks (proc(5), "/proc/locks"). Without file_locks, any lock is
 * refused, naming the fd, the file and the lock kind; so are leases and
 * locks on fds that are not regular files or devices. Returns 0 or -1.
 */
int dump_locks(struct dump_ctx *c, int file_locks);
/* write_locks - file-locks.img, only when there is a lock. 0 or -1. */
int write_locks(struct dump_ctx *c);

/* timens.c: clocks and time namespaces */
/*
 * check_timens_target - before seizing: pid may be in a time namespace of
 * its own (a process restored with cs-restore --timens is), but not one that
 * has unshared another for its children (its /proc/PID/ns/time and
 * time_for_children differ: its next child would get offsets that a restore
 * cannot give back). Returns 0 or -1 (one line naming pid).
 * Source: time_namespaces(7), unshare(2) CLONE_NEWTIME.
 */
int check_timens_target(pid_t pid);
/*
 * dump_clocks - right after the freeze: CLOCK_MONOTONIC, CLOCK_BOOTTIME and
 * CLOCK_REALTIME as the target reads them (ours, minus our time namespace's
 * offsets, plus the target's: /proc/PID/timens_offsets), into c->clocks.
 * Returns 0 or -1 (logged).
 */
int dump_clocks(struct dump_ctx *c);
/* write_timens - timens.img from c->clocks. 0 or -1. */
int write_timens(struct dump_ctx *c);

void dump_ctx_free(struct dump_ctx *c);

#endif
