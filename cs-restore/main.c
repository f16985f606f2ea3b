/*
 * cs-restore: recreate a process from an image directory.
 *
 * Every image is read and verified, and every check made, before anything
 * is created. From the moment the stub exists it is traced with
 * PTRACE_O_EXITKILL: if cs-restore fails or dies, the half-made process dies
 * with it and its PID is reaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define LOG_PREFIX ""
#include "log.h"
#include "util.h"
#include "restore.h"
#include "sockets.h"
#include "netlock.h"
#include "imgfeatures.h"
#include "config.h"

struct restore_opts {
	const char *dir;
	int detach;
	int shell_job;
	int file_locks;
	int file_validation;
	int tcp_established;
	int network_lock;	/* --network-lock: 1 nftables (default), 0 skip */
	struct inherit_fd *inherit;	/* --inherit-fd, repeatable */
	size_t nr_inherit;
	int timens;		/* enum timens_mode */
	int pidns;
	int lower_rlimits;
	int cgroup_mode;	/* enum cgroup_mode, --manage-cgroups */
	int verbosity;
	const char *log_file;
	const char *pidfile;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cs-restore -D DIR [options]\n"
		"Recreate the process saved in the image directory DIR, with its PID and TIDs.\n"
		"\n"
		"  -D, --images-dir DIR      the image directory written by cs-dump\n"
		"  -d, --restore-detached    return once the process runs (default: wait for it\n"
		"                            and exit with its status)\n"
		"  -j, --shell-job           give terminal fds the terminal cs-restore runs on (pty\n"
		"                            pairs held in the tree are made again without it)\n"
		"      --file-locks          take again the file locks saved by cs-dump --file-locks\n"
		"                            (required when the images hold any)\n"
		"      --file-validation=MODE  what must be unchanged in the files the process had\n"
		"                            open: mtime (default: size and mtime), filesize (size\n"
		"                            only) or none\n"
		"      --tcp-established     restore the established and half-closed TCP\n"
		"                            connections kept by cs-dump --tcp-established\n"
		"                            (needs CAP_NET_ADMIN; CAP_NET_RAW for a peer's FIN)\n"
		"      --network-lock MODE   with --tcp-established: nftables (default) drops\n"
		"                            the connections' packets until they are made again\n"
		"                            (table inet checksync-r*), then removes that table\n"
		"                            and cs-dump's; skip: no lock of our own\n"
		"      --timens              put the process in a new time namespace in which\n"
		"                            CLOCK_MONOTONIC and CLOCK_BOOTTIME continue from\n"
		"                            their values at the dump (default when the dump\n"
		"                            comes from another boot, or the process was in a\n"
		"                            time namespace of its own)\n"
		"      --no-timens           never: the process reads this host's clocks\n"
		"      --pidns               restore into a new PID namespace (and mount namespace\n"
		"                            with its own /proc), where the processes keep their\n"
		"                            saved PIDs while ours are taken; its init, a child of\n"
		"                            cs-restore, forwards signals to the root and exits\n"
		"                            with its status (needs CAP_SYS_ADMIN)\n"
		"      --lower-rlimits       lower a saved hard resource limit that is above what\n"
		"                            can be set here to the limit here, with a warning\n"
		"                            (default: refuse the restore)\n"
		"      --manage-cgroups[=MODE]  put the processes back into the cgroups they were\n"
		"                            dumped in: soft (default; and without MODE) creates\n"
		"                            the missing ones with the saved limits and leaves\n"
		"                            the limits of existing ones alone; full sets the\n"
		"                            saved limits on existing ones too; ignore (or none)\n"
		"                            leaves the processes in cs-restore's cgroups\n"
		"      --cgroup-root [CONTROLLER:]PATH  restore the cgroups of the tree under\n"
		"                            PATH instead (in CONTROLLER's hierarchy, 'unified'\n"
		"                            for cgroup v2; none: every other one); repeatable\n"
		"      --pidfile FILE        write the restored PID to FILE (ours for it, with\n"
		"                            --pidns)\n"
		"      --inherit-fd fd[N]:pipe:[INODE]  give the process our fd N in place of\n"
		"                            the end it had of pipe INODE, whose other end was\n"
		"                            outside the dumped tree (repeatable)\n"
		"  -v[N], --verbosity[=N]    log level 0..4 (each -v adds one; default 1)\n"
		"  -o, --log-file FILE       write the log to FILE (errors still go to stderr)\n"
		"  -h, --help                this help\n"
		"  -V, --version             print the version\n"
		"\n"
		"Exit status: with -d, 0 once restored; without, the process's exit status\n"
		"(128+N if killed by signal N); 1 if the restore failed (nothing is left behind).\n"
		"See cs-restore(8).\n");
}

static int parse_opts(int argc, char **argv, struct restore_opts *o)
{
	enum { OPT_PIDFILE = 256, OPT_FILE_LOCKS, OPT_FILE_VALIDATION, OPT_TCP_EST, OPT_TIMENS, OPT_NO_TIMENS,
	       OPT_PIDNS, OPT_LOWER_RLIMITS, OPT_NETLOCK, OPT_INHERIT_FD, OPT_MANAGE_CGROUPS, OPT_CGROUP_ROOT };
	static const struct option lo[] = {
		{ "images-dir", required_argument, 0, 'D' },
		{ "restore-detached", no_argument, 0, 'd' },
		{ "shell-job", no_argument, 0, 'j' },
		{ "file-locks", no_argument, 0, OPT_FILE_LOCKS },
		{ "file-validation", required_argument, 0, OPT_FILE_VALIDATION },
		{ "pidfile", required_argument, 0, OPT_PIDFILE },
		{ "tcp-established", no_argument, 0, OPT_TCP_EST },
		{ "network-lock", required_argument, 0, OPT_NETLOCK },
		{ "timens", no_argument, 0, OPT_TIMENS },
		{ "no-timens", no_argument, 0, OPT_NO_TIMENS },
		{ "pidns", no_argument, 0, OPT_PIDNS },
		{ "lower-rlimits", no_argument, 0, OPT_LOWER_RLIMITS },
		{ "inherit-fd", required_argument, 0, OPT_INHERIT_FD },
		{ "manage-cgroups", optional_argument, 0, OPT_MANAGE_CGROUPS },
		{ "cgroup-root", required_argument, 0, OPT_CGROUP_ROOT },
		{ "verbosity", optional_argument, 0, 'v' },
		{ "log-file", required_argument, 0, 'o' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 }
	};
	int c;

	o->verbosity = LOG_WARN;
	o->network_lock = 1;
	opterr = 0;	/* one line of our own per usage error */
	while ((c = getopt_long(argc, argv, ":D:djv::o:hV", lo, NULL)) != -1) {
		switch (c) {
		case 'D':
			o->dir = optarg;
			break;
		case 'd':
			o->detach = 1;
			break;
		case 'j':
			o->shell_job = 1;
			break;
		case OPT_FILE_LOCKS:
			o->file_locks = 1;
			break;
		case OPT_FILE_VALIDATION:
			if (!strcmp(optarg, "mtime"))
				o->file_validation = FV_MTIME;
			else if (!strcmp(optarg, "filesize"))
				o->file_validation = FV_FILESIZE;
			else if (!strcmp(optarg, "none"))
				o->file_validation = FV_NONE;
			else {
				fprintf(stderr, "cs-restore: invalid --file-validation '%s' (mtime, filesize or none)\n",
					optarg);
				return -1;
			}
			break;
		case OPT_PIDFILE:
			o->pidfile = optarg;
			break;
		case OPT_TCP_EST:
			o->tcp_established = 1;
			break;
		case OPT_NETLOCK:
			if (netlock_parse_mode("cs-restore", optarg, &o->network_lock))
				return -1;
			break;
		case OPT_TIMENS:
		case OPT_NO_TIMENS:
			if (o->timens && o->timens != (c == OPT_TIMENS ? TIMENS_ON : TIMENS_OFF)) {
				fprintf(stderr, "cs-restore: --timens and --no-timens exclude each other\n");
				return -1;
			}
			o->timens = c == OPT_TIMENS ? TIMENS_ON : TIMENS_OFF;
			break;
		case OPT_PIDNS:
			o->pidns = 1;
			break;
		case OPT_LOWER_RLIMITS:
			o->lower_rlimits = 1;
			break;
		case OPT_INHERIT_FD:
			if (inherit_fd_parse(optarg, &o->inherit, &o->nr_inherit))	/* fifo.c */
				return -1;
			break;
		case OPT_MANAGE_CGROUPS:
			if (cgroup_parse_mode(optarg, &o->cgroup_mode))	/* cgroup.c */
				return -1;
			break;
		case OPT_CGROUP_ROOT:
			if (cgroup_parse_root(optarg))
				return -1;
			break;
		case 'v':
			if (parse_verbosity("cs-restore", optarg, &o->verbosity))
				return -1;
			break;
		case 'o':
			o->log_file = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("cs-restore %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			fprintf(stderr, "cs-restore: %s option '%s' (try 'cs-restore --help')\n",
				c == ':' ? "missing argument to" : "invalid", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cs-restore: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!o->dir) {
		fprintf(stderr, "cs-restore: -D DIR is required (try 'cs-restore --help')\n");
		return -1;
	}
	return 0;
}

static int read_one(int dirfd, const char *name, uint32_t magic, const ProtobufCMessageDescriptor *d,
		    ProtobufCMessage **out)
{
	struct img *img = img_open(dirfd, name, magic);
	int r;

	if (!img)
		return -1;
	r = img_read_msg(img, d, out);
	img_free(img);
	if (r == 0)
		return pr_err("image %s is empty", name);
	return r < 0 ? -1 : 0;
}

/* The images of one live process: mm, its threads' cores, files. */
static int read_proc_images(struct rst_ctx *c)
{
	struct img *img;
	char n[64];
	int r;

	if (read_one(c->dirfd, img_pname(n, sizeof(n), "mm", c->sfx), MAGIC_MM, &mm_entry__descriptor,
		     (ProtobufCMessage **)&c->mm))
		return -1;
	c->nr_cores = c->proc->n_threads;
	if (!c->nr_cores || c->nr_cores > 65536)
		return pr_err("pstree.img: corrupt thread list");
	c->cores = xzalloc(c->nr_cores * sizeof(*c->cores));
	if (!c->cores)
		return -1;
	for (size_t i = 0; i < c->nr_cores; i++) {
		char name[64];

		snprintf(name, sizeof(name), "core-%u.img", c->proc->threads[i]);
		if (read_one(c->dirfd, name, MAGIC_CORE, &thread_core_entry__descriptor,
			     (ProtobufCMessage **)&c->cores[i]))
			return -1;
		if (c->cores[i]->tid != c->proc->threads[i])
			return pr_err("%s: holds thread %u", name, c->cores[i]->tid);
	}
	img = img_open(c->dirfd, img_pname(n, sizeof(n), "files", c->sfx), MAGIC_FILES);
	if (!img)
		return -1;
	for (;;) {
		FdEntry *e, **arr;

		r = img_read_msg(img, &fd_entry__descriptor, (ProtobufCMessage **)&e);
		if (r <= 0)
			break;
		arr = xrealloc(c->fds, (c->nr_fds + 1) * sizeof(*arr));
		if (!arr) {
			r = -1;
			break;
		}
		c->fds = arr;
		arr[c->nr_fds++] = e;
	}
	img_free(img);
	return r < 0 ? -1 : 0;
}

static int unmap_hole(struct rst_ctx *c);

/*
 * pstree.img: one record per process, the root first. Every process gets a
 * context of its own, with the options of the root (c) and its own images.
 */
static int read_images(struct rst_ctx *c, struct rst_tree *t)
{
	struct img *img;
	char why[256];
	int r;

	if (inventory_load(c->dirfd, &c->inv))
		return -1;
	/* a newer cs-dump's images this cs-restore would restore in part */
	if (features_check(c->inv->features, c->inv->n_features, c->inv->tool_version, why, sizeof(why)))
		return pr_err("cannot restore %s: %s", c->dir, why);
	img = img_open(c->dirfd, "pstree.img", MAGIC_PSTREE);
	if (!img)
		return -1;
	for (;;) {
		ProcessEntry *pe;
		struct rst_ctx *k, **arr;

		r = img_read_msg(img, &process_entry__descriptor, (ProtobufCMessage **)&pe);
		if (r <= 0)
			break;
		k = t->nr ? xmalloc(sizeof(*k)) : c;
		arr = xrealloc(t->p, (t->nr + 1) * sizeof(*arr));
		if (!k || !arr || t->nr >= 65536) {
			r = -1;
			break;
		}
		if (k != c)
			*k = *c;	/* the options and the directory; its own state is read below */
		t->p = arr;
		t->p[t->nr] = k;
		k->proc = pe;
		k->pid = pe->pid;
		k->tree = t;
		k->idx = t->nr++;
		snprintf(k->sfx, sizeof(k->sfx), k->idx ? "-%u" : "", pe->pid);
	}
	img_free(img);
	if (r < 0)
		return -1;
	if (!t->nr)
		return pr_err("image pstree.img is empty");
	if (c->proc->zombie)
		return pr_err("pstree.img: the root process is a zombie");
	for (size_t i = 0; i < t->nr; i++)
		if (!t->p[i]->proc->zombie && read_proc_images(t->p[i]))
			return -1;
	return 0;
}

/* The checks of every live process; the clocks are the root's. */
static int check_all(struct rst_ctx *c, struct rst_tree *t)
{
	/* first: the PID checks below mean nothing for such images */
	if (c->inv->pidns && !c->pidns)
		return pr_err("process %u was dumped inside a PID namespace of cs-restore --pidns (the images have "
			      "its PIDs there): restore it with --pidns", c->inv->root_pid);
	if (read_timens(c) || read_shmem(c))
		return -1;
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *p = t->p[i];

		if (p->proc->zombie)
			continue;
		if (read_ghosts(p) || read_locks(p) || check_process(p) || check_threads(p) || check_mm(p) ||
		    check_files(p) || check_timers(p) || check_locks(p) || check_sched(p) || check_seccomp(p))
			return -1;
	}
	/* the credentials last: a missing capability that a check above names
	 * more precisely (CAP_NET_ADMIN for kept connections) is said there */
	return check_pidns(t) || check_tree(t) || check_ptys(t) || check_timens(c) || check_inherit_fds(c, t) ||
	       check_tree_creds(t);
}

/* Everything the stubs cannot do themselves: the memory and threads of every
 * process first, then the pidfds (they may name any thread), then the rest,
 * process by process. */
static int restore_all(struct rst_tree *t)
{
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *p = t->p[i];

		if (p->proc->zombie)
			continue;
		if (restore_mm(p) || cs_fault("threads") || restore_threads(p) || restore_cgroup_threads(p))
			return -1;
	}
	/* every process and thread exists: pidfds can name any of them (pidfd.c) */
	if (restore_pidfds(t))
		return -1;
	for (size_t i = 0; i < t->nr; i++) {
		struct rst_ctx *p = t->p[i];

		if (p->proc->zombie)
			continue;
		if (restore_timers(p) ||
		    restore_signals(p) || restore_locks(p) || restore_root(p) || restore_sched(p) || restore_procattr(p) ||
		    restore_seccomp(p) || restore_creds(p) || restore_fown(p) || unmap_hole(p) || finish_threads(p))
			return -1;
	}
	if (cs_fault("finish"))
		return -1;
	for (size_t i = 0; i < t->nr; i++)
		if (!t->p[i]->proc->zombie && tcp_est_finish(t->p[i]))
			return -1;
	return 0;
}

static int unmap_hole(struct rst_ctx *c)
{
	long r = rsys(c, 0, SYS_munmap, c->hole, HOLE_SIZE, 0, 0, 0, 0);

	if (r)
		return pr_err("cannot unmap the restore gadget: %s", strerror(-r));
	return 0;
}

static int detach_all(struct rst_ctx *c)
{
	for (int i = 0; i < c->pt.nr; i++)
		if (ptrace(PTRACE_DETACH, c->pt.t[i].tid, 0, 0))
			return pr_perror("cannot detach thread %d", c->pt.t[i].tid);
	return 0;
}

static void kill_stub(struct rst_ctx *c)
{
	if (!c->pt.pid)
		return;
	/* every thread is reaped, the leader last: its PID is free on return */
	pt_kill(&c->pt);
	c->pt.pid = 0;
}

/*
 * After a failure, once every stub is killed: reap what is left. A child's
 * stub is its parent stub's child, not ours; killed after it, the parent
 * leaves its zombie to be reparented, and init may take seconds to reap it
 * while it still holds the PID. cs-restore is a child subreaper
 * (PR_SET_CHILD_SUBREAPER, prctl(2)) during the restore, so such orphans
 * come to us. Bounded: 5 s.
 */
static void reap_orphans(void)
{
	uint64_t end = now_us() + 5000000;
	int st;

	while (now_us() < end) {
		pid_t r = waitpid(-1, &st, __WALL | WNOHANG);

		if (r < 0 && errno != EINTR)
			return;		/* ECHILD: none left */
		if (r == 0)
			usleep(5000);
	}
}

/* Children first: a stub whose parent dies first is killed by PR_SET_PDEATHSIG anyway. */
static void kill_stubs(struct rst_tree *t)
{
	for (size_t i = t->nr; i-- > 0;)
		if (!t->p[i]->proc->zombie)
			kill_stub(t->p[i]);
}

int main(int argc, char **argv)
{
	struct restore_opts o = { 0 };
	struct rst_ctx c = { 0 };
	struct rst_tree tree = { 0 };
	struct netlock *lock = NULL;	/* --network-lock: ours, until the connections are made */
	uint64_t t0 = now_us();
	int status;

	if (parse_opts(argc, argv, &o))
		return 1;
	if (log_init(o.verbosity, o.log_file)) {
		fprintf(stderr, "cs-restore: cannot open log file %s: %m\n", o.log_file);
		return 1;
	}
	log_banner("cs-restore");
	/* the stub makes every fd below the saved ones' highest number + 64,
	 * before the saved rlimits apply: allow what the hard limit allows */
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	c.shell_job = o.shell_job;
	c.lower_rlimits = o.lower_rlimits;
	c.file_locks = o.file_locks;
	c.file_validation = o.file_validation;
	c.dir = o.dir;
	c.tcp_established = o.tcp_established;
	c.timens_mode = o.timens;
	c.pidns = o.pidns;
	c.pidns_go = -1;
	c.inherit = o.inherit;
	c.nr_inherit = o.nr_inherit;
	c.restorer = getpid();
	c.dirfd = open(o.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.dirfd < 0)
		return pr_perror("cannot open images directory %s", o.dir), 1;

	/* 1. check: nothing is created until all of this passed */
	if (read_images(&c, &tree) || check_all(&c, &tree) || cs_fault("check") || find_hole(&c))
		goto err;
	/* may create cgroups: the last check but the lock; an error undoes them */
	if (cgroup_prepare(&c, o.cgroup_mode))
		goto err;
	/* the lock is the last check: nftables must be usable */
	if (o.tcp_established && o.network_lock && rst_netlock_take(&tree, &lock))
		goto err;
	/* 2. create, 3. state; orphaned stubs of a failed restore come to us */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (shmem_create(&c) || create_stub(&c) || seize_stubs(&tree) || restore_ttys(&tree) ||
	    restore_unix_icons(&tree) || cs_fault("create"))
		goto err;
	/* every stub took its copy: ours must not keep a pipe from its EOF */
	for (size_t i = 0; i < c.nr_inherit; i++)
		close_inherited(c.inherit[i].fd);	/* fifo.c */
	if (restore_all(&tree) || shmem_seal_late())
		goto err;
	/* the connections are made and out of repair mode: let their packets through */
	rst_netlock_release(lock, c.inv, 1);
	lock = NULL;
	/* half-closed connections: the peer's FIN would meet the lock's rule */
	if (tcp_half_finish(&tree))
		goto err;
	shmem_close();
	if (o.pidfile) {
		FILE *f = fopen(o.pidfile, "w");

		if (!f || fprintf(f, "%d\n", c.pid) < 0 || fclose(f)) {
			pr_perror("cannot write pidfile %s", o.pidfile);
			goto err;
		}
	}
	/* every process holds what it needs and nothing can fail any more
	 * (linkremap.c): a failed restore would have left the links */
	link_remap_done(&tree);
	/* nothing was orphaned: the restored tree's orphans go where they would */
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	/* 4. go: children first, the root last */
	for (size_t i = tree.nr; i-- > 0;) {
		struct rst_ctx *p = tree.p[i];

		if (p->proc->zombie)
			continue;
		if (detach_all(p))
			goto err;
		p->pt.pid = 0;
		if (p->proc->has_stopped && p->proc->stopped)
			kill(p->pid, SIGSTOP);	/* it was stopped when dumped */
	}
	if (pidns_go(&c))
		goto err_ran;
	pr_info("process %d restored in %llu us%s", c.pid, (unsigned long long)(now_us() - t0),
		tree.nr > 1 ? " with its descendants" : "");
	if (c.pidns)
		pr_info("in a new PID namespace, as process %u; its init is %d", c.proc->pid, c.pidns_init);
	if (o.detach)
		return 0;
	/* under --pidns, the init stands for the root: it exits with its status */
	while (waitpid(c.pidns ? c.pidns_init : c.pid, &status, 0) < 0) {
		if (errno != EINTR)
			return pr_perror("cannot wait for process %d", c.pid), 1;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
err:
	kill_stubs(&tree);
err_ran:
	pidns_kill_init(&c);	/* with the namespace, whatever is in it */
	reap_orphans();
	cgroup_undo();		/* their processes are gone */
	shmem_close();
	for (size_t i = 0; i < tree.nr; i++)
		unix_undo(tree.p[i]);
	if (c.inv)
		rst_netlock_release(lock, c.inv, 0);
	pr_info("restore from %s failed; nothing was left running", o.dir);
	return 1;
}
