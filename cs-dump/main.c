/*
 * cs-dump: checkpoint a running process into an image directory.
 *
 * The driver is a flat list of steps. Until the image directory is renamed
 * into place, any failure detaches the target unharmed and removes the
 * partial directory; the target is killed only after a complete dump.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#define LOG_PREFIX ""
#include "log.h"
#include "util.h"
#include "dump.h"
#include "sockets.h"
#include "netlock.h"
#include "pages.h"
#include "inventory.pb-c.h"
#include "stats.pb-c.h"
#include "config.h"

enum { RT_AUTO, RT_GO, RT_NONE };

struct dump_opts {
	pid_t pid;
	const char *dir;
	int leave_running;
	int tcp;		/* DUMP_TCP_CLOSE | DUMP_TCP_ESTABLISHED */
	int network_lock;	/* --network-lock: 1 nftables (default), 0 skip */
	int ext_unix_sk;	/* --ext-unix-sk */
	int shell_job;
	int file_locks;
	uint64_t ghost_limit;	/* bytes */
	int link_remap;		/* --link-remap */
	int display_stats;
	int runtime;		/* RT_AUTO, RT_GO, RT_NONE */
	unsigned gc_align_ms;	/* --gc-align: wait up to this for a GC cycle to end, 0: no */
	int track_mem;		/* --track-mem */
	const char *prev_dir;	/* --prev-images-dir */
	int pre_copy;		/* --pre-copy: rounds before the freeze */
	int verbosity;
	const char *log_file;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cs-dump -t PID -D DIR [options]\n"
		"Checkpoint process PID, its threads and its descendants into the image\n"
		"directory DIR.\n"
		"\n"
		"  -t, --tree PID         root of the process tree to dump (-p, --pid is the same)\n"
		"  -D, --images-dir DIR   where to write the images; must not exist or be empty\n"
		"  -R, --leave-running    let the process go on after the dump (default: kill it)\n"
		"      --tcp-close        drop TCP connections, and unix connections of clients\n"
		"                         outside the process, instead of refusing them (with\n"
		"                         --tcp-established: the TCP ones that cannot be kept)\n"
		"      --tcp-established  keep established and half-closed TCP connections (TCP\n"
		"                         repair; needs CAP_NET_ADMIN; restore with\n"
		"                         cs-restore --tcp-established)\n"
		"      --network-lock MODE  with --tcp-established, killing the process:\n"
		"                         nftables (default) drops the kept connections' packets\n"
		"                         until cs-restore has made them again (table\n"
		"                         inet checksync-d*; needs CAP_NET_ADMIN); skip: no lock\n"
		"      --ext-unix-sk      allow unix datagram sockets connected to a named socket\n"
		"                         outside the tree (/dev/log): connected again at restore\n"
		"  -j, --shell-job        allow a process attached to a terminal whose master is\n"
		"                         outside the tree (a pty pair held in the tree needs no -j)\n"
		"      --file-locks       save the flock, POSIX and OFD locks the process holds\n"
		"                         (default: refuse a process holding one)\n"
		"      --ghost-limit SIZE save files deleted while open, mapped or run as the\n"
		"                         executable, up to SIZE bytes each\n"
		"                         (K, M, G suffixes; default 1M, at most 192M)\n"
		"      --link-remap       a file deleted under the name it was opened or mapped by\n"
		"                         but with other hard links: link it again in its directory\n"
		"                         (.cs-link-remap.DEV.INO, for cs-restore to open and\n"
		"                         remove) instead of refusing the dump\n"
		"      --display-stats    print the dump statistics on stderr\n"
		"      --runtime=MODE     auto (default): leave out the Go heap's dead pages when\n"
		"                         the executable is a Go binary the reader understands,\n"
		"                         else save every page (one warning); go: require it;\n"
		"                         none: save every page\n"
		"      --gc-align=MS      Go: wait up to MS ms (1..60000) for the running GC cycle\n"
		"                         to finish its mark phase, then freeze (the garbage it\n"
		"                         found is left out); freeze anyway after MS\n"
		"      --track-mem        track the pages the process writes from now on (with -R:\n"
		"                         a holder process keeps the tracking; see cs-dump(8))\n"
		"      --prev-images-dir DIR  with --track-mem: write only what changed since the\n"
		"                         checkpoint in DIR (relative to -D DIR, or absolute); the\n"
		"                         checkpoint is full, saying why, when that is not known\n"
		"      --pre-copy N       with --track-mem, incremental: N rounds (0..16, default 0)\n"
		"                         of copying the pages written so far while the process\n"
		"                         runs; frozen, only those written since are read\n"
		"  -v[N], --verbosity[=N] log level 0..4 (each -v adds one; default 1: errors and warnings)\n"
		"  -o, --log-file FILE    write the log to FILE (errors still go to stderr)\n"
		"  -h, --help             this help\n"
		"  -V, --version          print the version\n"
		"\n"
		"Exit status: 0 on success, 1 on any error (the processes are left running as before).\n"
		"See cs-dump(8).\n");
}

static int parse_opts(int argc, char **argv, struct dump_opts *o)
{
	enum { OPT_TCP_CLOSE = 256, OPT_TCP_EST, OPT_STATS, OPT_RUNTIME, OPT_GC_ALIGN, OPT_FILE_LOCKS, OPT_GHOST_LIMIT,
	       OPT_LINK_REMAP, OPT_TRACK_MEM, OPT_PREV_DIR, OPT_PRE_COPY, OPT_NETLOCK, OPT_EXT_UNIX_SK };
	static const struct option lo[] = {
		{ "tree", required_argument, 0, 't' },
		{ "pid", required_argument, 0, 'p' },
		{ "images-dir", required_argument, 0, 'D' },
		{ "leave-running", no_argument, 0, 'R' },
		{ "tcp-close", no_argument, 0, OPT_TCP_CLOSE },
		{ "tcp-established", no_argument, 0, OPT_TCP_EST },
		{ "network-lock", required_argument, 0, OPT_NETLOCK },
		{ "ext-unix-sk", no_argument, 0, OPT_EXT_UNIX_SK },
		{ "shell-job", no_argument, 0, 'j' },
		{ "file-locks", no_argument, 0, OPT_FILE_LOCKS },
		{ "ghost-limit", required_argument, 0, OPT_GHOST_LIMIT },
		{ "link-remap", no_argument, 0, OPT_LINK_REMAP },
		{ "display-stats", no_argument, 0, OPT_STATS },
		{ "runtime", required_argument, 0, OPT_RUNTIME },
		{ "gc-align", required_argument, 0, OPT_GC_ALIGN },
		{ "track-mem", no_argument, 0, OPT_TRACK_MEM },
		{ "prev-images-dir", required_argument, 0, OPT_PREV_DIR },
		{ "pre-copy", required_argument, 0, OPT_PRE_COPY },
		{ "verbosity", optional_argument, 0, 'v' },
		{ "log-file", required_argument, 0, 'o' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 }
	};
	int c;

	o->verbosity = LOG_WARN;
	o->network_lock = 1;
	o->ghost_limit = GHOST_LIMIT_DEFAULT;
	opterr = 0;	/* one line of our own per usage error */
	while ((c = getopt_long(argc, argv, ":t:p:D:Rjv::o:hV", lo, NULL)) != -1) {
		switch (c) {
		case 't':
		case 'p':
			o->pid = parse_pid(optarg);
			if (o->pid < 0) {
				fprintf(stderr, "cs-dump: invalid PID '%s'\n", optarg);
				return -1;
			}
			break;
		case 'D':
			if (!*optarg) {
				fprintf(stderr, "cs-dump: -D needs a directory name\n");
				return -1;
			}
			o->dir = optarg;
			break;
		case 'R':
			o->leave_running = 1;
			break;
		case OPT_TCP_CLOSE:
			o->tcp |= DUMP_TCP_CLOSE;
			break;
		case OPT_TCP_EST:
			o->tcp |= DUMP_TCP_ESTABLISHED;
			break;
		case OPT_NETLOCK:
			if (netlock_parse_mode("cs-dump", optarg, &o->network_lock))
				return -1;
			break;
		case OPT_EXT_UNIX_SK:
			o->ext_unix_sk = 1;
			break;
		case 'j':
			o->shell_job = 1;
			break;
		case OPT_FILE_LOCKS:
			o->file_locks = 1;
			break;
		case OPT_GHOST_LIMIT:
			if (parse_size(optarg, &o->ghost_limit) || o->ghost_limit > GHOST_LIMIT_MAX) {
				fprintf(stderr, "cs-dump: invalid --ghost-limit '%s' (bytes, with K, M or G; "
					"at most 192M)\n", optarg);
				return -1;
			}
			break;
		case OPT_LINK_REMAP:
			o->link_remap = 1;
			break;
		case OPT_STATS:
			o->display_stats = 1;
			break;
		case OPT_RUNTIME:
			if (!strcmp(optarg, "auto"))
				o->runtime = RT_AUTO;
			else if (!strcmp(optarg, "go"))
				o->runtime = RT_GO;
			else if (!strcmp(optarg, "none"))
				o->runtime = RT_NONE;
			else {
				fprintf(stderr, "cs-dump: invalid --runtime '%s' (auto, go or none)\n", optarg);
				return -1;
			}
			break;
		case OPT_GC_ALIGN: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (!isdigit((unsigned char)*optarg) || *end || errno || v < 1 || v > 60000) {
				fprintf(stderr, "cs-dump: invalid --gc-align '%s' (milliseconds, 1..60000)\n", optarg);
				return -1;
			}
			o->gc_align_ms = v;
			break;
		}
		case OPT_TRACK_MEM:
			o->track_mem = 1;
			break;
		case OPT_PREV_DIR:
			if (!*optarg) {
				fprintf(stderr, "cs-dump: --prev-images-dir needs a directory name\n");
				return -1;
			}
			o->prev_dir = optarg;
			break;
		case OPT_PRE_COPY: {
			char *end;
			long v;

			errno = 0;
			v = strtol(optarg, &end, 10);
			if (!isdigit((unsigned char)*optarg) || *end || errno || v < 0 || v > 16) {
				fprintf(stderr, "cs-dump: invalid --pre-copy '%s' (rounds, 0..16)\n", optarg);
				return -1;
			}
			o->pre_copy = v;
			break;
		}
		case 'v':
			if (parse_verbosity("cs-dump", optarg, &o->verbosity))
				return -1;
			break;
		case 'o':
			o->log_file = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("cs-dump %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			fprintf(stderr, "cs-dump: %s option '%s' (try 'cs-dump --help')\n",
				c == ':' ? "missing argument to" : "invalid", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cs-dump: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->gc_align_ms && o->runtime == RT_NONE) {
		fprintf(stderr, "cs-dump: --gc-align needs the Go runtime reader, not --runtime=none\n");
		return -1;
	}
	if (o->prev_dir && !o->track_mem) {
		fprintf(stderr, "cs-dump: --prev-images-dir needs --track-mem\n");
		return -1;
	}
	if (o->pre_copy && !o->track_mem) {
		fprintf(stderr, "cs-dump: --pre-copy needs --track-mem\n");
		return -1;
	}
	if (!o->pid || !o->dir) {
		fprintf(stderr, "cs-dump: %s is required (try 'cs-dump --help')\n", !o->pid ? "-t PID" : "-D DIR");
		return -1;
	}
	return 0;
}

/*
 * The images are written into a hidden sibling directory and renamed onto DIR
 * when complete: an interrupted dump never leaves a DIR that looks valid.
 */
static int prepare_dir(const char *dir, char *tmp, size_t len, int *was_empty)
{
	char *d1 = xstrdup(dir), *d2 = xstrdup(dir);
	struct stat st;
	int ret = -1;

	if (!d1 || !d2)
		goto out;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			pr_err("images directory %s exists and is not a directory", dir);
			goto out;
		}
		/* must be empty: never overwrite a checkpoint. It is removed now
		 * (rename cannot replace it otherwise) and made again on failure. */
		*was_empty = 1;
		if (rmdir(dir)) {
			*was_empty = 0;
			if (errno == ENOTEMPTY || errno == EEXIST)
				pr_err("images directory %s is not empty", dir);
			else
				pr_perror("images directory %s cannot be used", dir);
			goto out;
		}
	} else if (errno != ENOENT) {
		pr_perror("cannot use images directory %s", dir);
		goto out;
	}
	snprintf(tmp, len, "%s/.%s.partial-%d", dirname(d1), basename(d2), getpid());
	if (mkdir(tmp, 0700)) {
		pr_perror("cannot create %s", tmp);
		goto out;
	}
	ret = 0;
out:
	free(d1);
	free(d2);
	return ret;
}

static void remove_dir(const char *path)
{
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char name[64];

	if (dfd < 0)
		return;
	/* only our own image names live there */
	static const char *fixed[] = { "inventory.img", "pstree.img", "mm.img", "pagemap.img", "pages.img",
				       "files.img", "stats-dump.img", "file-locks.img", "ghost-files.img", "parent",
				       "timens.img", "shmem.img", "cgroup.img" };
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		unlinkat(dfd, fixed[i], 0);
	{
		DIR *d = fdopendir(dup(dfd));
		struct dirent *de;

		static const char *per_pid[] = { "core-", "mm-", "pagemap-", "pages-", "files-", "ghost-files-",
						 "file-locks-" };

		while (d && (de = readdir(d)))
			for (size_t i = 0; i < ARRAY_SIZE(per_pid); i++) {
				if (strncmp(de->d_name, per_pid[i], strlen(per_pid[i])))
					continue;
				snprintf(name, sizeof(name), "%s", de->d_name);
				unlinkat(dfd, name, 0);
				break;
			}
		if (d)
			closedir(d);
	}
	close(dfd);
	rmdir(path);
}

/* fsync the directory holding path, so that a rename into it is durable. */
static int sync_parent(const char *path)
{
	char *d = xstrdup(path);
	int fd, ret = -1;

	if (!d)
		return -1;
	fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		ret = fsync(fd);
		close(fd);
	}
	free(d);
	return ret;
}

static void boot_id(char *buf, size_t len)
{
	char *b = read_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", NULL, 64);

	snprintf(buf, len, "%s", b ? b : "");
	buf[strcspn(buf, "\n")] = 0;
	free(b);
}

static int write_stats(struct dump_ctx *c, DumpStatsEntry *s)
{
	struct img *img = img_create(c->dirfd, "stats-dump.img", MAGIC_STATS);

	if (!img)
		return -1;
	if (img_write_msg(img, &s->base)) {
		img_free(img);
		return -1;
	}
	return img_close(img, &c->sums);
}

static int write_inventory(struct dump_ctx *c)
{
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	struct utsname u;
	char bid[64];

	uname(&u);
	boot_id(bid, sizeof(bid));
	inv.format_version = CS_FORMAT_VERSION;
	inv.root_pid = c->pid;
	inv.tool_version = PACKAGE_VERSION;
	inv.kernel = u.release;
	inv.boot_id = bid;
	inv.has_xfeatures = 1;
	inv.xfeatures = c->cores[0]->xfeatures;
	track_inventory(c, &inv);
	pidns_inventory(&inv);
	if (c->netlock)
		inv.netlock_table = (char *)netlock_name(c->netlock);
	dump_features(c, &inv);
	return inventory_write(c->dirfd, &inv, &c->sums);
}

/* What can be told before seizing: refuse early, naming the reason. */
int check_target(pid_t pid)
{
	static const char *ns[] = { "mnt", "net", "pid", "uts", "ipc", "user", "cgroup" };	/* time: timens.c */
	char buf[64], path[64], a[128], b[128];

	if (pid == 1)
		return pr_err("refusing to dump PID 1 (init)");
	if (proc_status_line(pid, 0, "Tgid", buf, sizeof(buf)))
		return pr_err("no process with PID %d", pid);
	if (atoi(buf) != pid)
		return pr_err("%d is a thread of process %s: give the process's PID", pid, buf);
	if (proc_status_line(pid, 0, "State", buf, sizeof(buf)) == 0 && (buf[0] == 'Z' || buf[0] == 'X'))
		return pr_err("process %d is a zombie: nothing to dump", pid);
	/* a child is checked once seized: by us */
	if (proc_status_line(pid, 0, "TracerPid", buf, sizeof(buf)) == 0 && strcmp(buf, "0") && atoi(buf) != getpid())
		return pr_err("process %d is already traced by process %s", pid, buf);
	/* NSpid with more than one PID: it lives in a PID namespace below ours,
	 * where its PIDs are not these: only that of cs-restore --pidns (pidns.c) */
	if (proc_status_line(pid, 0, "NSpid", buf, sizeof(buf)) == 0 && strpbrk(buf, " \t") &&
	    pidns_check_target(pid, buf))
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		ssize_t la, lb;
		/* --pidns: its pid and mnt namespaces are those of its init */
		pid_t ref = !strcmp(ns[i], "pid") || !strcmp(ns[i], "mnt") ? pidns_ref() : 0;

		snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, ns[i]);
		la = readlink(path, a, sizeof(a) - 1);
		if (ref)
			snprintf(path, sizeof(path), "/proc/%d/ns/%s", ref, ns[i]);
		else
			snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i]);
		lb = readlink(path, b, sizeof(b) - 1);
		if (la < 0 || lb < 0)
			continue;	/* namespace kind not built in */
		a[la] = b[lb] = 0;
		if (strcmp(a, b))
			return pr_err("process %d is in another %s namespace (%s): namespaces are not supported yet",
				      pid, ns[i], a);
	}
	return check_timens_target(pid);
}

/* Wait (bounded) until the killed PID is really gone: a zombie still holds it. */
static int wait_gone(pid_t pid, int secs)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d", pid);
	for (int i = 0; i < secs * 100; i++) {
		if (access(path, F_OK) && errno == ENOENT)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* CPU time (user + system) of this process so far, in microseconds. */
static uint64_t cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ULL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static void print_stats(const DumpStatsEntry *s)
{
	fprintf(stderr, "cs-dump: freeze_us=%llu frozen_us=%llu dump_us=%llu pages_present=%llu "
		"pages_written=%llu pages_zero=%llu pages_dead=%llu bytes_written=%llu bytes_raw=%llu "
		"memdump_us=%llu runtime=%s",
		(unsigned long long)s->freeze_us, (unsigned long long)s->frozen_us,
		(unsigned long long)s->dump_us, (unsigned long long)s->pages_present,
		(unsigned long long)s->pages_written, (unsigned long long)s->pages_zero,
		(unsigned long long)s->pages_dead, (unsigned long long)s->bytes_written,
		(unsigned long long)s->bytes_raw, (unsigned long long)s->memdump_us,
		s->runtime ? s->runtime : "none");
	if (s->go_version)
		fprintf(stderr, " go_version=%s gc_phase=%u unswept_spans=%llu classify_us=%llu pages_heap_live=%llu "
			"pages_heap_dead=%llu pages_stack_live=%llu pages_stack_dead=%llu pages_runtime_other=%llu "
			"bytes_slots_zeroed=%llu spans_marked=%llu", s->go_version, s->gc_phase,
			(unsigned long long)s->unswept_spans, (unsigned long long)s->classify_us,
			(unsigned long long)s->pages_heap_live, (unsigned long long)s->pages_heap_dead,
			(unsigned long long)s->pages_stack_live, (unsigned long long)s->pages_stack_dead,
			(unsigned long long)s->pages_runtime_other, (unsigned long long)s->bytes_slots_zeroed,
			(unsigned long long)s->spans_marked);
	if (s->has_gc_aligned)
		fprintf(stderr, " gc_aligned=%d gc_align_us=%llu", s->gc_aligned, (unsigned long long)s->gc_align_us);
	if (s->checkpoint)
		fprintf(stderr, " checkpoint=%s pages_parent=%llu pages_untracked=%llu track_us=%llu", s->checkpoint,
			(unsigned long long)s->pages_parent, (unsigned long long)s->pages_untracked,
			(unsigned long long)s->track_us);
	if (s->has_precopy_rounds)
		fprintf(stderr, " precopy_rounds=%u precopy_us=%llu pages_precopied=%llu pages_precopy_kept=%llu",
			s->precopy_rounds, (unsigned long long)s->precopy_us, (unsigned long long)s->pages_precopied,
			(unsigned long long)s->pages_precopy_kept);
	fputc('\n', stderr);
}

/* The Go runtime reader, set up before the freeze (ELF and DWARF parsing is slow). */
static int open_runtime(struct dump_ctx *c, int mode, DumpStatsEntry *st)
{
	char path[64], why[256];

	if (mode == RT_NONE) {
		st->runtime = xstrdup("none");
		st->runtime_why = xstrdup("--runtime=none");
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", c->pid);
	c->go = go_rt_open(path, why, sizeof(why));
	if (c->go)
		return 0;
	if (mode == RT_GO)
		return pr_err("--runtime=go: the executable of %d cannot be read as a Go program: %s", c->pid, why);
	st->runtime = xstrdup("none");	/* the warning comes once the dump succeeded */
	st->runtime_why = xstrdup(why);
	return 0;
}

static int dump_main(int argc, char **argv);

int main(int argc, char **argv)
{
	int r;

	if (argc > 1 && !strcmp(argv[1], "--holder"))
		return holder_main(argc, argv);
	/* ^C, timeout(1), systemd: at the next step, never inside a remote syscall */
	cs_defer_signals();
	r = dump_main(argc, argv);
	/* one that came meanwhile ends us now, the work done or undone */
	cs_undefer_signals();
	return r;
}

static int dump_main(int argc, char **argv)
{
	struct dump_opts o = { 0 };
	struct dump_ctx c = { 0 };
	struct dump_tree tree = { 0 };
	DumpStatsEntry st = DUMP_STATS_ENTRY__INIT;
	char tmp[PATH_MAX];
	uint64_t t0, t_start = now_us(), t_frozen, t_write, cpu0 = 0;
	int seized = 0, released = 0, dir_made = 0, was_empty = 0;

	c.dirfd = c.pidfd = -1;
	if (parse_opts(argc, argv, &o))
		return 1;
	if (log_init(o.verbosity, o.log_file)) {
		fprintf(stderr, "cs-dump: cannot open log file %s: %m\n", o.log_file);
		return 1;
	}
	log_banner("cs-dump");
	c.pid = o.pid;
	c.leave_running = o.leave_running;
	/* killed at the end, the target is frozen until the pages are written:
	 * its CPUs are free for compressing them (with -R it runs meanwhile) */
	if (!o.leave_running) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		pw_set_workers(n > 1 ? (n > 4 ? 4 : (int)n) : 0);
	}
	/* each image is made durable at the end, all at once (image.h) */
	img_defer_sync(1);
	if (o.pid == getpid())
		return pr_err("cannot dump myself"), 1;
	if (kill(o.pid, 0) && errno == ESRCH)
		return pr_err("no process with PID %d", o.pid), 1;
	if (pidns_detect(o.pid) || check_target(o.pid))
		return 1;
	if (prepare_dir(o.dir, tmp, sizeof(tmp), &was_empty))
		return 1;
	dir_made = 1;
	c.dirfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	c.pidfd = syscall(SYS_pidfd_open, o.pid, 0);
	if (c.dirfd < 0 || c.pidfd < 0) {
		pr_perror("cannot open %s", c.dirfd < 0 ? tmp : "a pidfd for the target");
		goto err;
	}

	/* before anything is frozen: a lock that cannot be taken refuses the dump */
	if ((o.tcp & DUMP_TCP_ESTABLISHED) && o.network_lock) {
		if (o.leave_running)
			pr_info("network lock: none with -R (the connections live on; see sk-tcp.c)");
		else if (!(c.netlock = netlock_create('d')))
			goto err;
	}
	if (open_runtime(&c, o.runtime, &st) || (o.track_mem && track_open(&c, o.prev_dir)))
		goto err;
	/* before --gc-align's wait: the freeze follows that right away */
	if (o.pre_copy && (cs_fault("precopy") || track_precopy(&c, o.pre_copy)))
		goto err;
	/* the memory the pages go into: ready before --gc-align's wait, which
	 * the freeze must follow at once (the Go sweeper runs on meanwhile: the
	 * longer the gap, the fewer spans are left unswept at the freeze) */
	mm_prefault(&c);
	if (c.go && o.gc_align_ms) {
		uint64_t waited;
		int r = go_rt_wait_gc(c.go, o.pid, o.gc_align_ms, &waited);

		if (r < 0) {
			pr_perror("--gc-align: cannot read the memory of %d", o.pid);
			goto err;
		}
		st.has_gc_align_us = st.has_gc_aligned = 1;
		st.gc_align_us = waited;
		st.gc_aligned = r;
		pr_info("--gc-align: %s after %llu us", r ? "a GC cycle ended" : "no GC cycle ended",
			(unsigned long long)waited);
	}
	{
		char state[64];

		c.was_stopped = proc_status_line(o.pid, 0, "State", state, sizeof(state)) == 0 && state[0] == 'T';
	}
	proc_locks_warm();
	t0 = now_us();
	cpu0 = cpu_us();
	seized = 1;
	/* the whole tree is frozen before anything is read */
	if (cs_fault("seize") || tree_seize(&tree, &c))
		goto err;
	if (dump_clocks(&c) || cs_fault("cgroups") || dump_cgroups(&tree))
		goto err;
	proc_locks_prefetch();
	st.freeze_us = now_us() - t0;
	pr_info("froze %d threads of %d (%zu processes) in %llu us", c.pt.nr, o.pid, tree.nr,
		(unsigned long long)st.freeze_us);
	if (tree.nr > 1 && o.track_mem) {
		pr_err("--track-mem: process %d has child process %d: not supported for process trees yet", o.pid,
		       tree.n[1].pid);
		goto err;
	}

	for (size_t i = 0; i < tree.nr; i++) {
		struct dump_ctx *p = tree.n[i].c;

		if (!p)
			continue;	/* a zombie: pstree.c has what there is */
		uint64_t ts[4];

		ts[0] = now_us();
		if (check_dumpable(p) || remote_scratch_map(p))
			goto err;
		ts[1] = now_us();
		if (cs_fault("threads") || dump_threads(p))
			goto err;
		ts[2] = now_us();
		if (cs_fault("process") || dump_process(p) || remote_scratch_unmap(p))
			goto err;
		ts[3] = now_us();
		pr_info("steps of %d: scratch %llu us, threads %llu us, process %llu us", p->pid,
			(unsigned long long)(ts[1] - ts[0]), (unsigned long long)(ts[2] - ts[1]),
			(unsigned long long)(ts[3] - ts[2]));
		if (cs_fault("files") || dump_files(p, o.tcp, o.shell_job) || dump_ghosts(p, o.ghost_limit, o.link_remap) ||
		    dump_locks(p, o.file_locks))
			goto err;
	}
	if (tree_check_ids(&tree) || tree_check_ptys(&tree, o.shell_job) || tree_check_pidfds(&tree) ||
	    check_unix_peers(&c, !!(o.tcp & DUMP_TCP_CLOSE), o.ext_unix_sk) ||
	    tree_park_fds(&tree) || unix_check_dgram_senders() || tree_check_pipes(&tree) || tree_fifo_fill(&tree))
		goto err;
	{
		uint64_t memdump_us = 0;

		for (size_t i = 0; i < tree.nr; i++) {
			struct dump_ctx *p = tree.n[i].c;

			if (!p)
				continue;
			/* pending: after the last remote syscall */
			if ((p->track && (cs_fault("track") || track_frozen(p))) || dump_mm(p, &st) ||
			    dump_ghost_maps(p, o.ghost_limit, o.link_remap) || dump_pending(p))
				goto err;
			st.pages_present += p->pages_present;
			st.pages_dead += p->pages_dead;
			memdump_us += st.memdump_us;
		}
		st.memdump_us = memdump_us;
	}

	/* --pidns: the PIDs inside, read while the tree is frozen */
	if (pidns_translate(&tree))
		goto err;
	if (o.leave_running) {
		/* every page is in our buffer: let the targets go before compressing */
		if (tree_release(&tree))
			goto err;
		released = 1;
		st.frozen_us = now_us() - t0;
		/* the rest of the frozen time was spent waiting: for the CPU, or for the target's threads */
		pr_info("released %d after %llu us frozen, %llu us of it on the CPU", o.pid,
			(unsigned long long)st.frozen_us, (unsigned long long)(cpu_us() - cpu0));
	}
	t_write = now_us();
	if (cs_fault("write") || write_pstree(&tree, &c.sums) || write_timens(&c) || write_shmem(&c) ||
	    write_cgroups(&c))
		goto err;
	/* the pages first: the bulk of the writing, where a full disk shows */
	for (size_t i = 0; i < tree.nr; i++) {
		struct dump_ctx *p = tree.n[i].c;
		uint64_t pw, pz, bw;

		if (!p)
			continue;
		if (write_mm(p, &pw, &pz, &bw))
			goto err;
		st.pages_written += pw;
		st.pages_zero += pz;
		st.bytes_written += bw;
	}
	/* killed after the dump: unix connections not accepted yet, with data,
	 * taken from the process only now, when little is left that can fail
	 * (sk-unix-icons.c); their data goes in files.img */
	if (!o.leave_running && (cs_fault("icons") || unix_icons_take()))
		goto err;
	for (size_t i = 0; i < tree.nr; i++) {
		struct dump_ctx *p = tree.n[i].c;

		if (!p)
			continue;
		if (write_threads(p) || write_files(p) || write_ghosts(p) || write_locks(p))
			goto err;
	}
	if (tree_merge_sums(&tree))
		goto err;
	{
		uint64_t t = now_us();

		if (cs_fault("sync") || img_sync_deferred())
			goto err;
		pr_debug("images written in %llu us, then synced in %llu us", (unsigned long long)(t - t_write),
			 (unsigned long long)(now_us() - t));
	}
	st.has_bytes_raw = 1;
	st.bytes_raw = st.pages_written * PAGE_SIZE;
	if (st.has_bytes_slots_zeroed)
		st.bytes_slots_zeroed = c.slots_zeroed;
	t_frozen = now_us();
	if (!o.leave_running)
		st.frozen_us = t_frozen - t0;	/* the kill follows right after the rename */
	st.dump_us = t_frozen - t_start;
	if (c.netlock && !netlock_count(c.netlock)) {
		/* no connection was kept: nothing to hold */
		netlock_remove(c.netlock);
		c.netlock = NULL;
		for (size_t i = 0; i < tree.nr; i++)
			if (tree.n[i].c)
				tree.n[i].c->netlock = NULL;
	}
	if (track_finish(&c, &st) || write_stats(&c, &st) || cs_fault("inventory") || write_inventory(&c) ||
	    img_sync_deferred())
		goto err;
	if (cs_fault("rename"))
		goto err;
	if (fsync(c.dirfd) || rename(tmp, o.dir) || sync_parent(o.dir)) {
		pr_perror("cannot rename %s to %s", tmp, o.dir);
		goto err;
	}
	dir_made = 0;
	track_commit(&c, o.leave_running);
	link_remap_free();	/* the links stay for cs-restore (linkremap.c) */

	if (!o.leave_running) {
		for (size_t i = 0; i < tree.nr; i++)
			if (tree.n[i].c) {
				tcp_repair_dropped(tree.n[i].c);
				pt_kill(&tree.n[i].c->pt);	/* still frozen: it does nothing after the dump */
				tree.n[i].c->seized = 0;
			}
		released = 1;
		/* zombies of the tree go with their parent (init reaps them) */
		for (size_t i = 0; i < tree.nr; i++)
			if (wait_gone(tree.n[i].pid, 10)) {
				unsigned long long f[53] = { 0 };

				proc_stat_fields(tree.n[i].pid, f);
				pr_err("process %d was killed but is still there after 10 s (parent %llu has not reaped it)",
				       tree.n[i].pid, f[4]);
				goto out_fail;
			}
	}
	if (c.netlock) {
		/* the point of the lock: it outlives us, until cs-restore */
		pr_info("network lock: table inet %s holds %zu connection(s) until cs-restore --tcp-established",
			netlock_name(c.netlock), netlock_count(c.netlock));
		netlock_forget(c.netlock);
		c.netlock = NULL;
	}
	if (st.runtime_why && o.runtime != RT_NONE)
		pr_warn("runtime: every page of %d was saved: %s", o.pid, st.runtime_why);
	if (o.display_stats)
		print_stats(&st);
	pr_info("dump of %d complete in %s", o.pid, o.dir);
	tree_free(&tree);
	dump_ctx_free(&c);
	shmem_free();
	proc_locks_free();
	return 0;
err:
	img_drop_deferred();
	/* before the release: nothing of a failed dump is left in the file system */
	link_remap_undo();
	unix_icons_failed();
	if (seized && !released)
		tree_release(&tree);
	/* the target runs on with its connections: nothing to hold */
	netlock_remove(c.netlock);
	c.netlock = NULL;
	if (dir_made) {
		remove_dir(tmp);
		if (was_empty)
			mkdir(o.dir, 0700);
	}
	pr_info("dump of process %d failed%s", o.pid, seized ? "; it was left running" : "");
out_fail:
	netlock_forget(c.netlock);	/* set only when the target was killed */
	tree_free(&tree);
	dump_ctx_free(&c);
	shmem_free();
	proc_locks_free();
	return 1;
}
