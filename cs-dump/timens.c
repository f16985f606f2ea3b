/*
 * Clocks at the freeze. CLOCK_MONOTONIC and CLOCK_BOOTTIME start near zero
 * at every boot, and the Go runtime (like most event loops) schedules every
 * timer on CLOCK_MONOTONIC: a process restored on a host that booted at
 * another time sees its clock jump. timens.img records the clocks as the
 * process read them when it was frozen, so that cs-restore --timens can
 * give it a time namespace in which they continue from there.
 *
 * A process already in a time namespace of its own (restored by cs-restore
 * --timens, or started under unshare --time --fork) is dumped with its
 * offsets: periodic checkpoints must go on after a failover.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#define LOG_PREFIX "timens: "
#include "log.h"
#include "util.h"
#include "clocks.h"
#include "dump.h"
#include "timens.pb-c.h"

int check_timens_target(pid_t pid)
{
	char own[128], kids[128];

	if (timens_id(pid, 0, own, sizeof(own)) || timens_id(pid, 1, kids, sizeof(kids)))
		return 0;	/* no time namespaces in this kernel (or gone: said later) */
	if (strcmp(own, kids))
		return pr_err("process %d has unshared a time namespace for its children (%s, its own is %s): "
			      "not supported", pid, kids, own);
	return 0;
}

int dump_clocks(struct dump_ctx *c)
{
	struct dump_clocks *k = &c->clocks;
	int64_t my_mono = 0, my_boot = 0, mono, boot;
	char mine[128], theirs[128];

	/* read first, while the target is frozen: these are its last values */
	k->mono = clock_ns(CLOCK_MONOTONIC);
	k->boot = clock_ns(CLOCK_BOOTTIME);
	k->real = clock_ns(CLOCK_REALTIME);
	if (k->mono < 0 || k->boot < 0 || k->real < 0)
		return pr_perror("cannot read the clocks");
	if (timens_id(c->pid, 0, theirs, sizeof(theirs)) || timens_id(0, 0, mine, sizeof(mine))) {
		if (errno == ENOENT && !timens_supported())
			return 0;	/* no time namespaces: everyone reads the host's clocks */
		return pr_perror("cannot read the time namespace of %d", c->pid);
	}
	if (!strcmp(mine, theirs))
		return 0;
	/* offsets are relative to the host's clocks, ours included: take ours
	 * out (cs-dump never unshares one for children, so the file is ours) */
	if (timens_offsets(0, &my_mono, &my_boot) || timens_offsets(c->pid, &mono, &boot))
		return pr_perror("cannot read the time namespace offsets of %d", c->pid);
	k->own_ns = 1;
	k->off_mono = mono;
	k->off_boot = boot;
	k->mono += mono - my_mono;
	k->boot += boot - my_boot;
	pr_info("process %d is in its own time namespace %s: offsets monotonic %lld ns, boottime %lld ns", c->pid,
		theirs, (long long)mono, (long long)boot);
	return 0;
}

int write_timens(struct dump_ctx *c)
{
	TimensEntry e = TIMENS_ENTRY__INIT;
	struct img *img;

	e.monotonic_ns = c->clocks.mono;
	e.boottime_ns = c->clocks.boot;
	e.realtime_ns = c->clocks.real;
	e.own_ns = c->clocks.own_ns;
	if (c->clocks.own_ns) {
		e.has_monotonic_offset_ns = e.has_boottime_offset_ns = 1;
		e.monotonic_offset_ns = c->clocks.off_mono;
		e.boottime_offset_ns = c->clocks.off_boot;
	}
	pr_info("clocks at the freeze: monotonic %lld ns, boottime %lld ns, realtime %lld ns",
		(long long)e.monotonic_ns, (long long)e.boottime_ns, (long long)e.realtime_ns);
	img = img_create(c->dirfd, "timens.img", MAGIC_TIMENS);
	if (!img)
		return -1;
	if (img_write_msg(img, &e.base)) {
		img_free(img);
		return -1;
	}
	return img_close(img, &c->sums);
}
