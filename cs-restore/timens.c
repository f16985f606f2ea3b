/*
 * Clocks on another host. CLOCK_MONOTONIC and CLOCK_BOOTTIME restart near
 * zero at every boot, and the Go runtime schedules every timer on
 * CLOCK_MONOTONIC: restored on a host that booted later, a process's timers
 * would fire late by the difference (or never, for practical purposes);
 * on one that booted earlier, all at once.
 *
 * With --timens the stub is created in a new time namespace whose offsets
 * make both clocks read, when it is created, what the process read when it
 * was frozen (timens.img): the time between the freeze and the restore does
 * not count on them, as if the process had been suspended with its host.
 * This is what CRIU does with a dumped time namespace. CLOCK_REALTIME
 * cannot be namespaced: the process sees this host's wall clock, so the
 * frozen interval shows there (and in Go's time.Now wall reading).
 *
 * The namespace is made with unshare(CLONE_NEWTIME) in cs-restore itself:
 * that moves only our future children, so the stub, cloned next with its
 * PID, is the namespace's first task and stays our child (and tracee);
 * offsets can be written until then. We go back to our own namespace for
 * children right after.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "timens: "
#include "log.h"
#include "util.h"
#include "clocks.h"
#include "restore.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080	/* linux/sched.h, Linux 5.6 */
#endif

/* Offsets are kept within what the kernel takes (KTIME_SEC_MAX / 2, about
 * 146 years); a clock value from disk beyond this is corruption. */
#define CLOCK_NS_MAX (INT64_C(1) << 61)

int read_timens(struct rst_ctx *c)
{
	struct img *img;
	int r;

	c->own_timens_fd = -1;
	if (!img_listed("timens.img"))
		return 0;
	img = img_open(c->dirfd, "timens.img", MAGIC_TIMENS);
	if (!img)
		return -1;
	r = img_read_msg(img, &timens_entry__descriptor, (ProtobufCMessage **)&c->clocks);
	img_free(img);
	if (r == 0)
		return pr_err("image timens.img is empty");
	if (r < 0)
		return -1;
	if (c->clocks->monotonic_ns < 0 || c->clocks->monotonic_ns >= CLOCK_NS_MAX || c->clocks->boottime_ns < 0 ||
	    c->clocks->boottime_ns >= CLOCK_NS_MAX)
		return pr_err("timens.img is corrupt: clock values %lld, %lld ns", (long long)c->clocks->monotonic_ns,
			      (long long)c->clocks->boottime_ns);
	return 0;
}

static double secs(int64_t ns)
{
	return ns / 1e9;
}

/* One "SECONDS" value of CS_TEST_CLOCK_SHIFT: decimal, signed, with an
 * optional fraction. */
static int parse_seconds(const char *s, size_t len, int64_t *ns)
{
	char buf[64], *end;
	double v;

	if (!len || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = 0;
	errno = 0;
	v = strtod(buf, &end);
	if (errno || *end || end == buf || !(v > -1e9 && v < 1e9))	/* NaN too */
		return -1;
	*ns = (int64_t)(v * 1e9 + (v < 0 ? -0.5 : 0.5));
	return 0;
}

/*
 * CS_TEST_CLOCK_SHIFT=SECONDS, or CLOCK=SECONDS[,CLOCK=SECONDS] with CLOCK
 * monotonic or boottime: pretend that this host's clocks read SECONDS more
 * than they do (it booted that long earlier; negative: later), to test a
 * restore "on another host" on this one. See cs-restore(8).
 */
static int parse_shift(struct rst_ctx *c, const char *v)
{
	const char *p = v;

	if (!strchr(v, '=')) {
		if (parse_seconds(v, strlen(v), &c->shift_mono))
			return pr_err("invalid CS_TEST_CLOCK_SHIFT '%s' (seconds, or monotonic=S,boottime=S)", v);
		c->shift_boot = c->shift_mono;
		return 0;
	}
	while (*p) {
		size_t n = strcspn(p, ","), k = strcspn(p, "=");
		int64_t ns;

		if (k >= n || parse_seconds(p + k + 1, n - k - 1, &ns))
			return pr_err("invalid CS_TEST_CLOCK_SHIFT '%s' (seconds, or monotonic=S,boottime=S)", v);
		if (k == 9 && !strncmp(p, "monotonic", 9))
			c->shift_mono = ns;
		else if (k == 8 && !strncmp(p, "boottime", 8))
			c->shift_boot = ns;
		else if (k == 8 && !strncmp(p, "realtime", 8))
			return pr_err("CS_TEST_CLOCK_SHIFT: a time namespace cannot shift CLOCK_REALTIME "
				      "(the kernel has no realtime offset): not supported");
		else
			return pr_err("invalid CS_TEST_CLOCK_SHIFT '%s': clock '%.*s' (monotonic or boottime)", v,
				      (int)k, p);
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* The simulated host's clocks cannot be negative (ERANGE from the kernel). */
static int check_shift(struct rst_ctx *c, const char *env)
{
	int64_t mono = clock_ns(CLOCK_MONOTONIC), boot = clock_ns(CLOCK_BOOTTIME);

	if (mono + c->shift_mono < 0 || boot + c->shift_boot < 0)
		return pr_err("CS_TEST_CLOCK_SHIFT=%s: this host booted only %.3f s ago", env, secs(boot));
	return 0;
}

static void boot_id_here(char *buf, size_t len)
{
	char *b = read_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", NULL, 64);

	snprintf(buf, len, "%s", b ? b : "");
	buf[strcspn(buf, "\n")] = 0;
	free(b);
}

int check_timens(struct rst_ctx *c)
{
	const char *env = getenv("CS_TEST_CLOCK_SHIFT");
	TimensEntry *k = c->clocks;
	char here[64];
	int other_boot, shifted;
	int64_t mono, real;

	if (env && *env && parse_shift(c, env))
		return -1;
	shifted = c->shift_mono || c->shift_boot;
	boot_id_here(here, sizeof(here));
	other_boot = shifted || !c->inv->boot_id || strcmp(c->inv->boot_id, here);
	if (!k) {
		if (c->timens_mode == TIMENS_ON)
			return pr_err("--timens: the images hold no clock record (timens.img): "
				      "they were written by an older cs-dump");
		if (other_boot)
			pr_warn("the dump comes from another boot and holds no clock record: "
				"CLOCK_MONOTONIC and CLOCK_BOOTTIME of the process are this host's");
		c->timens_on = shifted;		/* only the simulated host's clocks */
		if (check_shift(c, env))
			return -1;
		goto support;
	}
	if (c->timens_mode == TIMENS_AUTO)
		c->timens_continue = other_boot || k->own_ns;
	else
		c->timens_continue = c->timens_mode == TIMENS_ON;
	c->timens_on = c->timens_continue || shifted;

	/* the simulated host's clocks must not be negative (ERANGE) */
	if (check_shift(c, env))
		return -1;
	/* what the process would see without one, for the log */
	mono = clock_ns(CLOCK_MONOTONIC) + c->shift_mono;
	real = clock_ns(CLOCK_REALTIME);
	pr_info("dumped on boot %s, this is boot %s%s; the process read CLOCK_MONOTONIC %.3f s, CLOCK_BOOTTIME "
		"%.3f s%s", c->inv->boot_id ? c->inv->boot_id : "(unknown)", here,
		shifted ? " (CS_TEST_CLOCK_SHIFT: another host)" : "", secs(k->monotonic_ns), secs(k->boottime_ns),
		k->own_ns ? " in a time namespace of its own" : "");
	pr_info("frozen for %.3f s by the wall clocks; this host's CLOCK_MONOTONIC is %.3f s", secs(real - k->realtime_ns),
		secs(mono));
	if (real < k->realtime_ns - NSEC_PER_SEC)
		pr_warn("this host's wall clock is %.3f s behind the dump's: the process sees CLOCK_REALTIME go back "
			"(a time namespace cannot move it)", secs(k->realtime_ns - real));
	if (c->timens_continue)
		pr_info("new time namespace: CLOCK_MONOTONIC and CLOCK_BOOTTIME continue from the dump's values");
	else if (c->timens_mode == TIMENS_OFF && (k->own_ns || mono < k->monotonic_ns))
		pr_warn("--no-timens: the process's CLOCK_MONOTONIC jumps by %+.3f s (from %.3f s at the dump)",
			secs(mono - k->monotonic_ns), secs(k->monotonic_ns));
	else
		pr_info("no time namespace: the process reads this host's clocks (CLOCK_MONOTONIC %+.3f s since "
			"the dump)", secs(mono - k->monotonic_ns));
support:
	if (!c->timens_on)
		return 0;
	if (!timens_supported()) {
		if (c->timens_mode == TIMENS_ON)
			return pr_err("--timens: this kernel has no time namespaces (CONFIG_TIME_NS)");
		if (shifted)
			return pr_err("CS_TEST_CLOCK_SHIFT: this kernel has no time namespaces (CONFIG_TIME_NS)");
		return pr_err("the dump comes from another boot (or a time namespace) and this kernel has no time "
			      "namespaces (CONFIG_TIME_NS) to continue its clocks: use --no-timens to restore it "
			      "with this host's clocks");
	}
	if (timens_offsets(0, &c->my_mono, &c->my_boot))
		return pr_perror("cannot read our time namespace offsets");
	return 0;
}

int timens_enter(struct rst_ctx *c)
{
	char buf[128];
	int fd, n;
	int64_t host_mono, host_boot;

	if (!c->timens_on)
		return 0;
	c->own_timens_fd = open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC);
	if (c->own_timens_fd < 0)
		return pr_perror("cannot open our time namespace");
	if (unshare(CLONE_NEWTIME)) {
		pr_perror("cannot create a time namespace (unshare CLONE_NEWTIME)");
		close(c->own_timens_fd);
		c->own_timens_fd = -1;
		return -1;
	}
	/* offsets are from the host's clocks, not ours: take ours out */
	host_mono = clock_ns(CLOCK_MONOTONIC) - c->my_mono;
	host_boot = clock_ns(CLOCK_BOOTTIME) - c->my_boot;
	if (c->timens_continue) {
		/* the shift of a simulated host cancels out: it moves that
		 * host's clocks and our offsets by as much */
		c->off_mono = c->clocks->monotonic_ns - host_mono;
		c->off_boot = c->clocks->boottime_ns - host_boot;
	} else {
		c->off_mono = c->shift_mono;
		c->off_boot = c->shift_boot;
	}
	n = timens_format_offset(buf, sizeof(buf), "monotonic", c->off_mono);
	n += timens_format_offset(buf + n, sizeof(buf) - n, "boottime", c->off_boot);
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, buf, n) != n) {
		pr_perror("cannot set the time namespace offsets (monotonic %lld ns, boottime %lld ns)",
			  (long long)c->off_mono, (long long)c->off_boot);
		if (fd >= 0)
			close(fd);
		timens_leave(c, 0);
		return -1;
	}
	close(fd);
	pr_info("new time namespace for the process: offsets monotonic %+.9f s, boottime %+.9f s", secs(c->off_mono),
		secs(c->off_boot));
	return 0;
}

int timens_leave(struct rst_ctx *c, pid_t pid)
{
	int64_t mono = 0, boot = 0;
	int ret = 0;

	if (c->own_timens_fd < 0)
		return 0;
	if (setns(c->own_timens_fd, CLONE_NEWTIME))
		ret = pr_perror("cannot go back to our own time namespace");
	close(c->own_timens_fd);
	c->own_timens_fd = -1;
	if (pid && !ret) {
		if (timens_offsets(pid, &mono, &boot))
			return pr_perror("cannot read the time namespace offsets of %d", pid);
		if (mono != c->off_mono || boot != c->off_boot)
			return pr_err("process %d has time namespace offsets %lld, %lld ns, not the %lld, %lld ns written",
				      pid, (long long)mono, (long long)boot, (long long)c->off_mono,
				      (long long)c->off_boot);
	}
	return ret;
}

int rst_clock_gettime(struct rst_ctx *c, clockid_t clk, struct timespec *ts)
{
	int64_t d = 0, ns;

	if (clock_gettime(clk, ts))
		return -1;
	if (!c->timens_on)
		return 0;
	switch (clk) {
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_MONOTONIC_COARSE:
		d = c->off_mono - c->my_mono;
		break;
	case CLOCK_BOOTTIME:
	case CLOCK_BOOTTIME_ALARM:
		d = c->off_boot - c->my_boot;
		break;
	}
	ns = ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec + d;
	ts->tv_sec = ns / NSEC_PER_SEC;
	ts->tv_nsec = ns % NSEC_PER_SEC;
	return 0;
}
