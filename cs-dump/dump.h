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

/* RUN_PRE: saved from a --pre-copy round (track_precopied), not read while frozen */
enum { RUN_COPY, RUN_DEAD, RUN_PARENT, RUN_PRE };

struct dump_ctx {
	pid_t pid;
	struct pt_proc pt;		/* seized threads */
	int dirfd;			/* the temporary image directory */
	struct img_sums sums;
	unsigned long scratch;		/* remote scratch page in the target, 0: none */
	long vmlck_kb;			/* VmLck before the scratch mapping (mlockall(MCL_FUTURE) locks it) */
	long *thread_sb;		/* PR_GET_SECUREBITS of each thread (pt.t order), read by dump_threads */

	ProcessEntry *proc;		/* collected state, written by write_* */
	ThreadCoreEntry **cores;
	MmEntry *mm;
	FdEntry **fds;
	size_t nr_fds;
	FileLockEntry **locks;		/* locks.c, with --file-locks */
	size_t nr_locks;
	GhostFileEntry **ghosts;	/* regfiles.c: files deleted while open */
	size_t nr_ghosts;

	/* pages copied while frozen, compressed after; dead runs and runs left
	 * in the parent checkpoint are not copied */
	struct page_run { uint64_t vaddr, nr; int kind; } *runs;	/* kind: RUN_* */
	size_t nr_runs;
	uint8_t *pagebuf;
	uint64_t pages_present;
	uint64_t pages_dead;

	struct go_rt *go;		/* the Go runtime reader, NULL: whole dump */
	uint64_t cls_pages[5];		/* present anonymous pages by enum go_page_class */
	uint64_t slots_zeroed;		/* bytes of free Go heap slots written as zeros */

	int *repair_fds;		/* our copies of connections dropped by --tcp-close, or kept
					 * by --tcp-established: closed after the kill */
	size_t nr_repair;
	struct tcp_held *tcp_held;	/* --tcp-established: connections in repair mode (sk-tcp.c) */
	size_t nr_tcp_held;
	int leave_running;		/* -R: the target goes on after the dump */
	struct netlock *netlock;	/* --network-lock nftables, kill mode: the connections' drops
					 * (lib/netlock.h); the root's, shared by the tree */
	int pidfd;
	int was_stopped;		/* in a group stop before the seize */

	struct track *track;		/* --track-mem, NULL: not asked */
	uint64_t pages_parent;		/* present pages left in the parent checkpoint */
	uint64_t pages_pre;		/* present pages saved from a --pre-copy round (RUN_PRE) */
	size_t pagebuf_len;		/* bytes mapped at pagebuf */
	uint8_t *prebuf;		/* mm_prefault: memory for pagebuf, faulted in before the freeze */
	size_t prebuf_len;
	/* timens.c: the target's clocks at the freeze, as it read them */
	struct dump_clocks {
		int64_t mono, boot, real;	/* ns */
		int own_ns;			/* in a time namespace other than ours */
		int64_t off_mono, off_boot;	/* that namespace's offsets, ns */
	} clocks;

	/* pstree.c: the process tree this process belongs to */
	struct dump_tree *tree;
	size_t idx;			/* place in tree->n (0: the root) */
	char sfx[24];			/* image name suffix (img_pname): "", "-PID" */
	int seized;			/* pt holds its threads */
};

/* pstree.c: the processes dumped together, in the order cs-restore makes them */
struct tree_node {
	pid_t pid, ppid;
	struct dump_ctx *c;		/* a live process, or NULL for a zombie */
	ProcessEntry *zpe;		/* a zombie's entry */
};
struct dump_tree {
	struct tree_node *n;		/* n[0]: the root; a parent before its children */
	size_t nr;
	char race[200];			/* tree_seize: why the last walk must be done again */
};

/* threads.c */
#include <signal.h>
/* peek_pending - queued siginfos of tid (shared=1: the process-wide queue), appended to *out. */
int peek_pending(pid_t tid, int shared, SiginfoEntry ***out, size_t *n);
int add_siginfo(SiginfoEntry ***arr, size_t *n, const siginfo_t *si);
/* check_dumpable - suspend seccomp (seccomp_suspend) before anything runs
 * in the target. 0 or -1. */
int check_dumpable(struct dump_ctx *c);
int dump_threads(struct dump_ctx *c);
/* dump_pending - pending signals of every thread and of the process, after
 * the last remote syscall. */
int dump_pending(struct dump_ctx *c);
int write_threads(struct dump_ctx *c);

/* process.c: remote scratch mapping, per-process state */
/*
 * remote_scratch_map - map the scratch area in the target (one remote mmap,
 * RW: SCRATCH_TABLE bytes of batch table, then SCRATCH_OUT bytes that
 * syscalls write their results into), with pt_batch_map's code page at its
 * end. remote_scratch_unmap unmaps all of it. 0 or -1.
 */
#define SCRATCH_TABLE	8192
#define SCRATCH_OUT	8192
int remote_scratch_map(struct dump_ctx *c);
int remote_scratch_unmap(struct dump_ctx *c);

/* A batch of remote syscalls (pt_batch) whose results land in the scratch
 * area: rbatch_buf hands out SCRATCH_OUT space, rbatch_add appends a call,
 * rbatch_run runs them all in one thread and copies the results back. */
#define RBATCH_MAX (SCRATCH_TABLE / PT_CALL_SIZE)
struct rbatch {
	struct pt_call call[RBATCH_MAX];
	int n;
	size_t used;				/* bytes of out handed out */
	unsigned char out[SCRATCH_OUT];		/* the results, after rbatch_run */
};
/* rbatch_buf - len bytes (rounded up to 8) of result space: the remote
 * address to pass to a syscall, or 0 when full (logged). */
unsigned long rbatch_buf(struct dump_ctx *c, struct rbatch *b, size_t len);
/* rbatch_add - append syscall nr(a1..a6); its index in b->call, or -1 when full (logged). */
int rbatch_add(struct rbatch *b, long nr, unsigned long a1, unsigned long a2, unsigned long a3,
	       unsigned long a4, unsigned long a5, unsigned long a6);
/* rbatch_run - run b's calls in thread t (pt_batch), read the results into
 * b->out. 0 (each b->call[i].ret to look at) or -1 (logged). */
int rbatch_run(struct dump_ctx *c, struct pt_thread *t, struct rbatch *b);
/* rbatch_out - the local copy (in b->out) of result space at remote address a. */
void *rbatch_out(struct dump_ctx *c, struct rbatch *b, unsigned long a);
int remote_read(struct dump_ctx *c, unsigned long addr, void *buf, size_t len);
int dump_process(struct dump_ctx *c);
/*
 * status_key - the value after "Key:" in st, the text of a
 * /proc/PID/status (or task/TID/status) file read once, copied into buf
 * (len bytes, NUL-terminated, truncated to fit). Returns 0, or -1 when
 * there is no such line. Source: proc(5).
 */
int status_key(const char *st, const char *key, char *buf, size_t len);

/* creds.c */
/*
 * dump_creds - after dump_threads (c->cores, c->thread_sb): the leader's
 * credentials into pe->creds (st: its /proc/PID/status text), and into
 * c->cores[i]->creds those of each other thread whose own differ (read
 * from /proc/PID/task/TID/status; securebits from c->thread_sb). Returns
 * 0, or -1 (logged; a thread with more than 1024 supplementary groups is
 * refused, naming it). Sources: proc(5) Uid, Gid, Groups, Cap*;
 * credentials(7) and capabilities(7) (credentials are per thread).
 */
int dump_creds(struct dump_ctx *c, ProcessEntry *pe, const char *st);

/* mm.c */
/* dump_mm - VMAs, mm fields and pages; with c->go, dead pages are left out
 * and the runtime figures go to st. */
int dump_mm(struct dump_ctx *c, DumpStatsEntry *st);
/*
 * mm_prefault - before the freeze, map and fault in the memory the pages
 * will be copied into (their count estimated: RssAnon, or with --track-mem
 * the pages written so far), so that copying them while the target is
 * frozen takes no page fault. Best effort: on failure dump_mm allocates.
 */
void mm_prefault(struct dump_ctx *c);
int write_mm(struct dump_ctx *c, uint64_t *pages_written, uint64_t *pages_zero, uint64_t *bytes);

/* files.c */
#define DUMP_TCP_CLOSE		1	/* --tcp-close: drop connections */
#define DUMP_TCP_ESTABLISHED	2	/* --tcp-established: keep established ones */
/* dump_files - every fd; tcp: DUMP_TCP_* flags saying what to do with TCP
 * connections (none: refuse them). */
int dump_files(struct dump_ctx *c, int tcp, int shell_job);
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

/* pidfd.c: pidfds on processes of the tree */
/*
 * dump_pidfd - fd of c, a pidfd (its link is anon_inode:[pidfd]), into e:
 * type FD_PIDFD, pidfd_pid the process it refers to (our PID, from "Pid:"
 * of its fdinfo). Returns 0, or -1 with an error naming the fd when the
 * process is gone (Pid: -1). Sources: pidfd_open(2), fs/pidfs.c
 * pidfd_show_fdinfo.
 */
int dump_pidfd(struct dump_ctx *c, int fd, FdEntry *e);
/*
 * tree_check_pidfds - once every process of t is collected: each pidfd
 * refers to a process of t (a live one or a zombie), or, a thread pidfd
 * (PIDFD_THREAD, O_EXCL in its flags), to any thread of a process of t;
 * its pidfd_pid becomes that PID or TID as the tree sees it (dump_vpid,
 * under --pidns). An epoll set may watch pidfds. Returns 0, or -1 with an
 * error naming the fd and the PID outside the tree. Sources:
 * pidfd_open(2), fs/pidfs.c pidfd_show_fdinfo.
 */
int tree_check_pidfds(struct dump_tree *t);

/* fifo.c: pipes and named FIFOs */
/*
 * dump_pipe_data - the unread bytes (pipe_data, when there are any) and the
 * capacity in bytes (pipe_size, F_GETPIPE_SZ) of the pipe or FIFO behind fd
 * of c, read without consuming them (pipe_peek, lib/pipes.h). copy is our
 * pidfd_getfd(2) copy of fd (the caller's, left open). kind names the
 * fd in messages ("pipe", "named FIFO"). Returns 0, or -1 with an error
 * naming the fd. Sources: tee(2), fcntl(2) F_GETPIPE_SZ, pidfd_getfd(2).
 */
int dump_pipe_data(struct dump_ctx *c, int fd, int copy, FdEntry *e, const char *kind);
/*
 * dump_fifo - fd is named FIFO link (its /proc/PID/fd target; st: its
 * stat(2); copy: our copy of fd, for dump_pipe_data): type FD_FIFO, path,
 * fifo_dev, and dump_pipe_data. A FIFO
 * removed while open (st_nlink 0) is refused. Returns 0 or -1 (error
 * naming the fd). Source: fifo(7), proc(5).
 */
struct stat;
int dump_fifo(struct dump_ctx *c, int fd, int copy, FdEntry *e, const char *link, const struct stat *st);
/*
 * tree_fifo_fill - after every process is collected: the unread bytes and
 * capacity of each FIFO object (fifo_dev, ino) stay on its first own fd in
 * tree order (not a dup, not inherited) and are dropped from the others,
 * so that cs-restore refills the FIFO once. Returns 0.
 */
int tree_fifo_fill(struct dump_tree *t);

/* regfiles.c: regular files reopened by path, files deleted while open */

/*
 * check_reopenable - fd (a number in target c) is a regular file or a
 * directory whose /proc/PID/fd link reads link, st its stat(2): refuses
 * (one logged line, returns -1) what cs-restore could not open again by
 * that path: files of mqueue, nsfs, secretmem and bpf file systems
 * (statfs(2) f_type, linux/magic.h), links that are no path ("net:[N]"),
 * and a path that names another inode or nothing at dump time (a mount
 * over it). A path ending in " (deleted)" is left to dump_ghosts.
 * Returns 0 when the path reopens the same file.
 */
int check_reopenable(struct dump_ctx *c, int fd, const char *link, const struct stat *st);

#define GHOST_LIMIT_DEFAULT (1ULL << 20)	/* bytes, as CRIU's --ghost-limit */
#define GHOST_LIMIT_MAX (192ULL << 20)		/* one record must stay below CS_MAX_RECORD */
/*
 * dump_ghosts - after dump_files: every regular-file fd whose file was
 * deleted while open (its /proc/PID/fd link ends in " (deleted)" and the
 * inode has no link left, st_nlink 0, proc(5)) loses that suffix from its
 * path, and the contents of each such inode are read into c->ghosts, once
 * per inode. limit: bytes; a larger file is refused, naming the fd and the
 * file. A file deleted under that name but with other hard links
 * (st_nlink > 0, the path naming no longer it) is refused, naming the fd
 * and --link-remap, unless link_remap (cs-dump --link-remap) is set: then
 * it is linked again (link_remap_save). Returns 0 or -1 (logged).
 */
int dump_ghosts(struct dump_ctx *c, uint64_t limit, int link_remap);
/*
 * ghost_add - a new entry in c->ghosts for the deleted file st (stat(2))
 * whose name was path: path, dev, ino, mode, owner and mtime filled, no
 * contents yet. Returns the entry, or NULL (out of memory, logged).
 */
GhostFileEntry *ghost_add(struct dump_ctx *c, const struct stat *st, const char *path);
/*
 * ghost_save - a new entry in c->ghosts for the deleted file open at the
 * /proc path src (an fd, map_files or exe link), st its stat(2), path its
 * name without " (deleted)": its contents read through src (O_NOATIME
 * when allowed). what names its user in messages ("fd 3", "VMA 0x..-0x..").
 * A file larger than limit bytes is refused, naming --ghost-limit.
 * Returns the entry, or NULL (one line logged).
 */
GhostFileEntry *ghost_save(struct dump_ctx *c, const char *src, const struct stat *st, const char *path,
			   const char *what, uint64_t limit);
/* ghostmap.c: mappings and the executable of deleted files */
/* ends_deleted - 1 when path (may be NULL) ends in " (deleted)", as
 * d_path(9) marks an unlinked file in /proc/PID/maps and exe, else 0. */
int ends_deleted(const char *path);
/*
 * dump_ghost_maps - after dump_mm, while frozen: each file VMA of c->mm
 * whose path ends in " (deleted)" (and whose inode has no link left,
 * st_nlink 0), and the executable (mm->exe, /proc/PID/exe) when deleted,
 * lose that suffix, and the contents of their inode are read through
 * /proc/PID/map_files/START-END or /proc/PID/exe (proc(5); CAP_SYS_ADMIN)
 * into c->ghosts, once per inode, sharing the entry of an fd on the same
 * inode (dump_ghosts); the entry lists the VMAs by start and the
 * executable. limit: bytes, as for dump_ghosts; a larger file is refused,
 * naming the mapping, the size and --ghost-limit. A VMA or executable path
 * not deleted must name the mapped inode now (stat(2) st_dev, st_ino), else
 * refused. One deleted under its name but with other hard links is refused
 * unless link_remap, as in dump_ghosts. Returns 0 or -1 (one line logged).
 */
int dump_ghost_maps(struct dump_ctx *c, uint64_t limit, int link_remap);
/* write_ghosts - ghost-files.img, only when there is a ghost. 0 or -1. */

/* linkremap.c: --link-remap, files deleted under one name with other hard links */
/*
 * link_remap_save - a new entry in c->ghosts for the regular file open at
 * the /proc path src (an fd, map_files or exe link), st its stat(2) with
 * st_nlink > 0, path its old name without " (deleted)": not read, but
 * linked again, once per inode for every process of the dump, with
 * linkat(2) of src and AT_SYMLINK_FOLLOW (which needs no
 * CAP_DAC_READ_SEARCH, unlike AT_EMPTY_PATH), as
 * DIR/.cs-link-remap.DEV.INO (DEV, INO: st_dev, st_ino in decimal; ".N"
 * added, N 1..99, when that name is another file), DIR being path's
 * directory when it still exists on st_dev, else the root of the file's
 * mount (statx(2) STATX_MNT_ID, proc(5) mountinfo). A link of that name to
 * the same inode already there (an earlier cs-dump -R) is used as it is.
 * The entry has link_remap (the link's path), size (st_size, bytes),
 * mtime_ns, mode, owner, and no data. what names the user in messages
 * ("fd 3", "VMA 0x..-0x.."). Fault step "link-remap" (CS_FAULT, cs-dump(8))
 * fails here once the link exists. Returns the entry, or NULL (one line
 * logged naming what, the file and why the link could not be made).
 */
GhostFileEntry *link_remap_save(struct dump_ctx *c, const char *src, const struct stat *st, const char *path,
				const char *what);
/* link_remap_undo - a failed dump: unlink every link link_remap_save made
 * (not one found there), if it still names the same inode; then
 * link_remap_free. Logs what it removed. */
void link_remap_undo(void);
/* link_remap_free - forget the links (a successful dump leaves them for cs-restore). */
void link_remap_free(void);
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

/*
 * proc_locks_prefetch - once the whole tree is frozen: start reading
 * /proc/locks in a thread of its own (reading it waits for an RCU grace
 * period, 10-20 ms: fs/locks.c locks_start), for dump_locks to use.
 * If the thread cannot be made, dump_locks reads the file itself.
 * proc_locks_free - wait for that thread, free what it read.
 * proc_locks_warm - right before the freeze: read one byte of
 * /proc/locks, so that the read after the freeze finds the rwsem's
 * grace period passed (rcu_sync, kernel/rcu/sync.c) and does not wait.
 */
void proc_locks_warm(void);
void proc_locks_prefetch(void);
void proc_locks_free(void);
/* write_locks - file-locks.img, only when there is a lock. 0 or -1. */
int write_locks(struct dump_ctx *c);

/* pidns.c: a tree restored by cs-restore --pidns, dumped again */
/*
 * pidns_detect - before anything else: is pid in a PID namespace one level
 * below ours whose init is cs-restore --pidns's ("cs-init", the executable
 * cs-restore)? If so, remember that namespace: check_target accepts it and
 * its processes get their inside PIDs in the images. Returns 0 (also when
 * not: check_target refuses a foreign namespace), -1 (logged) when pid is
 * that init itself.
 * Sources: proc(5) NSpid, PPid, /proc/PID/ns/pid; pid_namespaces(7).
 */
int pidns_detect(pid_t pid);
/* pidns_ref - the process whose pid and mnt namespaces a target must share:
 * the --pidns init (our PID for it), or 0 (ours, /proc/self). */
pid_t pidns_ref(void);
/*
 * pidns_check_target - pid has several NSpid levels (nspid: the line, for
 * the message): 0 when it is in the namespace pidns_detect found, else -1
 * with one line (a foreign PID namespace, a container: not supported).
 */
int pidns_check_target(pid_t pid, const char *nspid);
/*
 * dump_vpid - the PID of process pid (tid 0), or the TID of its thread tid,
 * both ours, as the tree sees it: the last NSpid of /proc/PID[/task/TID]/
 * status (proc(5)) under pidns_detect, 0 when not seen in the namespace;
 * without a namespace: tid, or pid.
 */
pid_t dump_vpid(pid_t pid, pid_t tid);

/*
 * fown.c: dump_fown - the owner (F_GETOWN_EX) and signal (F_GETSIG) of fd
 * of c's process into e's fown_* fields, when either is set (fcntl(2)),
 * read through copy, our pidfd_getfd(2) copy of fd (the same open file
 * description; the caller keeps it open).
 * The owner must be a process or thread of c->tree or a process group led
 * by one; it is recorded by its ID as the tree sees it (dump_vpid).
 * Returns 0, or -1 with one line naming the fd (an owner outside the
 * tree, or fcntl fails).
 */
int dump_fown(struct dump_ctx *c, int fd, int copy, FdEntry *e);
/*
 * pidns_translate - once every entry is collected, the tree still frozen:
 * rewrite the PIDs of t's entries (pid, ppid, pgid, sid from NSpgid/NSsid,
 * threads, thread cores, POSIX timer TIDs, from_pid of fds, lock holders)
 * into the namespace's (shmem.img's pid, information, stays ours). Nothing without a namespace. 0 or -1.
 */
int pidns_translate(struct dump_tree *t);
/* pidns_inventory - root_pid inside, and the pidns flag (cs-restore wants --pidns). */
void pidns_inventory(struct InventoryEntry *inv);

/* track.c: --track-mem, dirty pages through userfaultfd write-protection */
struct InventoryEntry;
/*
 * track_open - before the freeze: find the holder of pid's tracking
 * (holder.c) and decide whether this checkpoint can be incremental on prev
 * (--prev-images-dir, relative to the images directory, or NULL): prev
 * must be a checkpoint of the same process, and the last one the holder
 * saw complete. Otherwise the checkpoint is full and one log line says
 * why. Returns 0, or -1 when prev is unusable (missing, damaged, another
 * process) or the holder does not answer.
 */
int track_open(struct dump_ctx *c, const char *prev);
/*
 * track_frozen - with the target frozen, before dump_mm: make the uffd in
 * the target if no holder has one, register every private VMA not
 * registered yet, and scan (PAGEMAP_SCAN) the written pages, protecting
 * them again. Returns 0 or -1 (target untouched apart from the scan).
 */
int track_frozen(struct dump_ctx *c);
/*
 * track_precopy - --pre-copy: before the freeze, with the target running,
 * `rounds` times: scan (PAGEMAP_SCAN, write-protecting again) the pages
 * of the registered VMAs written since the previous scan, then copy them
 * with process_vm_readv into memory of ours. Scanning first makes a page
 * written during or after its copy show up in the next scan (the freeze's
 * at the latest), which supersedes the copy. Only for an incremental
 * checkpoint (the holder's uffd is there to scan with); otherwise nothing
 * is done. Sources: Documentation/admin-guide/mm/pagemap.rst
 * (PAGEMAP_SCAN), process_vm_readv(2). Returns 0, or -1 when a scan
 * fails (the holder's state is already invalid: the next one is full).
 */
int track_precopy(struct dump_ctx *c, int rounds);
/*
 * track_precopied - after track_frozen: the bytes of the page at addr
 * (present now, not dead, not in the parent) as a pre-copy round saw
 * them, when they are still its contents: the page lies in a VMA
 * registered since before the rounds (a VMA made or moved since is not),
 * was not written since the last round, and the last round that found it
 * written could read it. NULL otherwise: the page is read while frozen.
 * PAGE_SIZE bytes, valid until track_free.
 */
const uint8_t *track_precopied(struct dump_ctx *c, uint64_t addr);
/*
 * track_written_pages - before the freeze, how many pages of the tracked
 * VMAs were written since the parent's scan so far (PAGEMAP_SCAN without
 * write-protecting anything). Returns the count, -1 when not incremental or
 * unknown.
 */
int64_t track_written_pages(struct dump_ctx *c);
/* track_in_parent - 1 when the page at addr (present now) is left to the parent checkpoint. */
int track_in_parent(struct dump_ctx *c, uint64_t addr);
/*
 * track_may_copy - 0 when no page of [start, end) (bytes) can be copied by
 * this checkpoint because it is incremental, the range lies in a tracked
 * VMA and nothing in it was written since the parent; 1 otherwise. A page
 * the parent left out as dead is still copied (track_in_parent), with the
 * contents it has. After track_frozen.
 */
int track_may_copy(struct dump_ctx *c, uint64_t start, uint64_t end);
/* track_inventory - series, seq, start time and parent into inv. */
void track_inventory(struct dump_ctx *c, struct InventoryEntry *inv);
/* track_finish - the --track-mem figures into st, and the parent link in the image directory. 0 or -1. */
int track_finish(struct dump_ctx *c, DumpStatsEntry *st);
/*
 * track_commit - after the image directory is in place: tell the holder
 * this checkpoint is complete, or start a holder (leave_running only).
 * Failures are warnings: the dump is complete, the next one will be full.
 */
void track_commit(struct dump_ctx *c, int leave_running);
void track_free(struct dump_ctx *c);

/* holder.c: the process that keeps the uffd between checkpoints */
#define SERIES_LEN 33			/* 32 hex digits and a NUL */
struct hold_state {
	int valid;			/* the last checkpoint completed, nothing scanned since */
	char series[SERIES_LEN];
	uint32_t seq;
	pid_t holder;
};
/*
 * holder_begin - connect to the holder of (pid, start_time) and take the
 * uffd (*uffd) and state (*hs); the connection stays open in *sock for
 * holder_commit. Returns 1, 0 when there is no holder (a stale socket is
 * removed), -1 when one exists but does not answer (error logged).
 */
int holder_begin(pid_t pid, uint64_t start_time, int *sock, int *uffd, struct hold_state *hs);
/*
 * holder_commit - checkpoint series/seq is complete; uffd >= 0: a new uffd
 * (the old one's address space is gone) that the holder keeps from now on.
 * 0 or -1 (logged).
 */
int holder_commit(int sock, const char *series, uint32_t seq, int uffd);
/*
 * holder_start - start a holder for (pid, start_time) keeping uffd, with
 * series/seq as its last complete checkpoint; returns once it answers on
 * its socket. 0 or -1 (logged; nothing left behind).
 */
int holder_start(pid_t pid, uint64_t start_time, int uffd, const char *series, uint32_t seq);
/* holder_main - `cs-dump --holder ...`, exec'd by holder_start. Returns the exit status. */
int holder_main(int argc, char **argv);

/* seccomp.c */
/*
 * seccomp_suspend - right after the seize, before any remote syscall: when
 * a thread runs under seccomp (strict or filter mode), set
 * PTRACE_O_SUSPEND_SECCOMP on every thread so that remote syscalls are not
 * filtered; PTRACE_DETACH drops it again. Returns 0, or -1 with an error
 * naming the thread (EPERM: cs-dump lacks CAP_SYS_ADMIN or is under
 * seccomp). Source: ptrace(2), PTRACE_O_SUSPEND_SECCOMP.
 */
int seccomp_suspend(struct dump_ctx *c);
/*
 * dump_seccomp - after dump_threads: per thread, the seccomp mode, the
 * no_new_privs flag and, in filter mode, its filter chain (into
 * pe->seccomp_filters, merged by content and position; the thread's core
 * names its most recent filter). A filter that can return
 * SECCOMP_RET_USER_NOTIF is refused, naming the thread and the filter.
 * Returns 0 or -1. Sources: ptrace(2) PTRACE_SECCOMP_GET_FILTER and
 * PTRACE_SECCOMP_GET_METADATA, proc(5) Seccomp, Seccomp_filters, NoNewPrivs.
 */
int dump_seccomp(struct dump_ctx *c, ProcessEntry *pe);

/* sched.c */
/*
 * dump_sched - after dump_threads: per thread, the scheduling policy, its
 * real-time priority, SCHED_FLAG_RESET_ON_FORK, the nice value and the CPU
 * affinity, read from outside. SCHED_DEADLINE is refused, naming the
 * thread. Returns 0 or -1. Sources: sched_getattr(2), getpriority(2),
 * sched_getaffinity(2).
 */
int dump_sched(struct dump_ctx *c);

/* procattr.c */
/*
 * dump_procattr - after dump_threads: per thread, the I/O priority
 * (ioprio_get(2), IOPRIO_WHO_PROCESS: class << 13 | level, 0 when none was
 * set) and the timer slack in ns (/proc/TID/timerslack_ns, proc(5)); the
 * core dump filter bits of the process into pe (/proc/PID/coredump_filter,
 * core(5)). Read from outside. Returns 0 or -1 (logged).
 */
int dump_procattr(struct dump_ctx *c, ProcessEntry *pe);

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

/* pstree.c */
/*
 * tree_seize - seize root (its pid, dirfd and pidfd set) and every
 * descendant, each frozen as pt_seize does, re-reading the children lists
 * of the frozen processes until nothing is new; zombies are recorded, not
 * seized. A child that exits while the walk reaches it is recorded as the
 * zombie it becomes (its parent is frozen), or left out when its parent
 * has it reaped at once. When the tree changes in a way the walk cannot
 * follow, everything seized is released and the walk starts again, at
 * most TREE_SEIZE_TRIES times; the last failure is then the error. A
 * descendant that is traced or in other namespaces is refused.
 * t gets the processes in depth-first order. Returns 0, or -1 (logged;
 * whatever was seized is released by tree_release).
 * Source: proc(5) /proc/PID/task/TID/children; ptrace(2) (a task that has
 * exited cannot be attached: EPERM, ESRCH once reaped).
 */
#define TREE_SEIZE_TRIES 5
int tree_seize(struct dump_tree *t, struct dump_ctx *root);
int tree_seize_children(struct dump_tree *t, struct dump_ctx *root, pid_t pid);
/* tree_release - detach every seized process of t, children first. 0 or -1. */
int tree_release(struct dump_tree *t);
/* tree_has - 1 when pid is a process (or zombie) of t. */
int tree_has(const struct dump_tree *t, pid_t pid);
/*
 * tree_check_ids - after dump_process of each: every process group and
 * session can be made again by setsid/setpgid from inside the tree (a group
 * or session led from outside is refused, except the root's own). 0 or -1.
 */
int tree_check_ids(struct dump_tree *t);
/*
 * tree_share_fds - in dump_files of a process other than the root: each
 * fd that is the same open file description as an fd of an earlier
 * process (kcmp(2) KCMP_FILE) gets from_pid/from_fd. 0 or -1.
 */
int tree_share_fds(struct dump_ctx *c);
/*
 * tree_park_fds - after dump_files of all: a pipe end or socketpair end
 * whose pipe or peer an earlier process holds is made by that process,
 * which keeps it (a parked entry above its own fds) for the later one.
 * Returns 0, or -1 (a named unix socket connected across processes).
 */
int tree_park_fds(struct dump_tree *t);
/*
 * tree_check_pipes - marks pipe_alone every pipe end whose other end is
 * outside the tree (`producer | target`, `target | logger`): it is saved
 * with its unread bytes and restored with its partner closed. Logs each
 * one; returns 0.
 */
int tree_check_pipes(struct dump_tree *t);
/* write_pstree - pstree.img: one ProcessEntry per process of t, in order. 0 or -1. */
int write_pstree(struct dump_tree *t, struct img_sums *sums);
/* tree_merge_sums - the image sums of every process into the root's. 0 or -1. */
int tree_merge_sums(struct dump_tree *t);
/* tree_free - free every process of t but the root (which the caller owns). */
void tree_free(struct dump_tree *t);

/* shmem.c: shared anonymous memory and memfd, once per object of the tree */
struct stat;
/*
 * dump_shmem_vma - in dump_vma: when v maps a shared memory object, i.e.
 * shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, smaps path
 * "/dev/zero (deleted)" with the s flag) or a memfd (MAP_SHARED or
 * MAP_PRIVATE, "/memfd:NAME (deleted)"), sets e->kind (VK_ANON_SHARED,
 * VK_MEMFD) and e->shmid; the object's pages, size, name and seals are read
 * (through /proc/PID/map_files) the first time any process of the tree
 * shows its inode. Returns 1 when v is no such mapping (e untouched), 0,
 * or -1 with an error naming the VMA (a memfd of huge pages is refused).
 * Sources: proc(5) map_files, memfd_create(2), fcntl(2) F_GET_SEALS.
 */
int dump_shmem_vma(struct dump_ctx *c, const struct vma *v, VmaEntry *e);
/*
 * dump_shmem_fd - in dump_ghosts: fd e (FD_REG, st its stat) when it is a
 * memfd ("/memfd:NAME (deleted)", or a shared anonymous object opened
 * through map_files): becomes FD_SHMEM with e->shmid, the object read as
 * dump_shmem_vma does. Returns 1 when it is no such fd, 0, or -1 (logged).
 */
int dump_shmem_fd(struct dump_ctx *c, FdEntry *e, const struct stat *st);
/* write_shmem - shmem.img and each object's page images
 * (pagemap-shmem-ID.img, pages-shmem-ID.img), when there is an object. 0 or -1. */
int write_shmem(struct dump_ctx *c);
void shmem_free(void);

/* pty.c: pseudo-terminal pairs held in the tree */
struct stat;
/*
 * dump_pty - in dump_fd, for a character device fd (link: its
 * /proc/PID/fd target, st: its stat): a pty master (/dev/ptmx, char 5:2)
 * becomes FD_PTY_MASTER with the pair's index (TIOCGPTN), the slave's
 * termios (TCGETS2), window size (TIOCGWINSZ), packet mode (TIOCGPKT),
 * lock (TIOCGPTLCK), and the session and foreground group the slave is
 * the controlling terminal of (TIOCGSID, TIOCGPGRP), all asked through a
 * pidfd_getfd(2) copy, and whether every slave was closed (POLLHUP); a
 * slave (char 136..143) becomes FD_PTY_SLAVE with its index and exclusive
 * mode (TIOCGEXCL) (tree_check_ptys turns it back into FD_CHR when its
 * master is outside the tree); a /dev/tty fd (char 5:0) is noted with the
 * terminal it leads to (TIOCGDEV) for tree_check_ptys. Returns 1 when fd
 * is no master or slave (e untouched but for path and rdev), 0, or -1
 * with one line naming the fd (a master with unread bytes, FIONREAD, or a
 * packet-mode status not read, POLLPRI, is refused). Sources: pty(7),
 * ioctl_tty(2), drivers/tty/n_tty.c n_tty_poll.
 */
int dump_pty(struct dump_ctx *c, int fd, const char *link, const struct stat *st, FdEntry *e);
/*
 * tree_check_ptys - after dump_files of every process: a slave whose
 * master is outside the tree is a terminal under --shell-job (refused
 * without shell_job); a pair in the tree is refused, naming the fd, when
 * its slave holds unread bytes, when no process holds its slave (unless
 * every slave was closed), when its master is only in a later process
 * than a slave, when the session it is the controlling terminal of (or
 * its foreground group) has no leader (member) in the tree or its leader
 * comes before the master's process, when a process of that session has
 * another tty_nr in /proc/PID/stat (proc(5)), or when a /dev/tty fd leads
 * to its slave. Returns 0 or -1.
 */
int tree_check_ptys(struct dump_tree *t, int shell_job);

/* check_target (main.c) - what can be told of pid before seizing it (a child of
 * the tree: once seized, so a TracerPid of ours is fine). 0 or -1 (logged). */
int check_target(pid_t pid);

void dump_ctx_free(struct dump_ctx *c);

/* cgroup.c: control groups (cgroup.img) */
/*
 * dump_cgroups - once the tree is frozen: the cgroups of every live
 * process of t in each hierarchy (/proc/PID/cgroup) and of each thread
 * whose groups differ (/proc/PID/task/TID/cgroup), and their ancestors.
 * Returns 0, or -1 (logged, naming the process or thread).
 * Source: cgroups(7).
 */
int dump_cgroups(struct dump_tree *t);
/*
 * write_cgroups - read, for each cgroup dump_cgroups found, the limit
 * files of cg_limit_files (lib/cgroup.h), v2 cgroup.type and
 * cgroup.subtree_control where the hierarchy is mounted here, and write
 * cgroup.img into c's directory, listed in c->sums. 0 or -1.
 */
int write_cgroups(struct dump_ctx *c);

/* features.c */
/*
 * dump_features - inv->features: the names (lib/imgfeatures.h) of the image
 * semantics this dump used, read from inv (pidns, netlock_table, parent:
 * set them first), the images listed in c->sums (after tree_merge_sums)
 * and what the tree's processes hold; plus CS_TEST_FEATURE, a test hook
 * (cs-dump(8) ENVIRONMENT). The names point to static storage, valid
 * until the next call. Returns 0.
 */
int dump_features(struct dump_ctx *c, struct InventoryEntry *inv);

#endif
