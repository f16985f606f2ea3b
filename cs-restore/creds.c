/*
 * Credentials, thread by thread: each thread gets its own saved set
 * (thread_core_entry.creds) or, without one, the process's. Linux keeps
 * credentials per task, and every call here is a remote syscall run by
 * that one thread (rsys: the raw syscall, never glibc's wrapper, which
 * would signal every thread to do the same, nptl(7)). The threads start
 * with cs-restore's credentials (the stub was forked from it): a thread
 * whose saved set is exactly that needs nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define LOG_PREFIX "creds: "
#include "log.h"
#include "util.h"
#include "restore.h"

#ifndef SECBIT_KEEP_CAPS
#define SECBIT_KEEP_CAPS (1 << 4)	/* linux/securebits.h */
#endif
#ifndef SECBIT_KEEP_CAPS_LOCKED
#define SECBIT_KEEP_CAPS_LOCKED (1 << 5)
#endif
/* securebits set only once the capabilities are: KEEP_CAPS_LOCKED would
 * freeze KEEP_CAPS on, NO_CAP_AMBIENT_RAISE(_LOCKED) would refuse the
 * ambient set (bits 6 and 7, linux/securebits.h) */
#define SB_LATE (SECBIT_KEEP_CAPS_LOCKED | (1 << 6) | (1 << 7))
#define SB_ALL 0xff		/* the bits linux/securebits.h defines */
#define SB_LOCKS 0xaa		/* the *_LOCKED ones: each locks the bit below it */
#define MAX_GROUPS 1024		/* what the scratch page holds (cs-dump refuses more) */

/* cs-restore's own credentials, which the stub's threads start with. */
struct own_creds {
	uid_t uid[4];
	gid_t gid[4];
	gid_t groups[MAX_GROUPS];
	int n_groups;
	uint64_t eff, prm, inh, bnd, amb;
	unsigned sb;
};

static int own_creds(struct own_creds *o)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	memset(o, 0, sizeof(*o));
	o->n_groups = getgroups(MAX_GROUPS, o->groups);
	if (getresuid(&o->uid[0], &o->uid[1], &o->uid[2]) || getresgid(&o->gid[0], &o->gid[1], &o->gid[2]) ||
	    o->n_groups < 0 || syscall(SYS_capget, &hdr, d))
		return pr_perror("cannot read the credentials of cs-restore");
	/* an invalid id changes nothing and returns the current one (setfsuid(2)) */
	o->uid[3] = syscall(SYS_setfsuid, -1);
	o->gid[3] = syscall(SYS_setfsgid, -1);
	o->eff = d[0].effective | (uint64_t)d[1].effective << 32;
	o->prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	o->inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_READ, cap) == 1)
			o->bnd |= 1ULL << cap;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1)
			o->amb |= 1ULL << cap;
	}
	o->sb = prctl(PR_GET_SECUREBITS);
	return 0;
}

/* Whether cr is exactly o: then the thread needs no remote syscall. */
static int creds_are(const CredsEntry *cr, const struct own_creds *o)
{
	if (cr->n_uid != 4 || cr->n_gid != 4 || cr->n_groups != (size_t)o->n_groups)
		return 0;
	for (int k = 0; k < 4; k++)
		if (cr->uid[k] != o->uid[k] || cr->gid[k] != o->gid[k])
			return 0;
	for (int k = 0; k < o->n_groups; k++)
		if (cr->groups[k] != o->groups[k])
			return 0;
	return cr->cap_eff == o->eff && cr->cap_prm == o->prm && cr->cap_inh == o->inh && cr->cap_amb == o->amb &&
	       cr->cap_bnd == o->bnd && (!cr->has_securebits || cr->securebits == o->sb);
}

/* The set thread i gets: its own, or the process's. */
static const CredsEntry *creds_of(struct rst_ctx *c, size_t i)
{
	return i < c->nr_cores && c->cores[i]->creds ? c->cores[i]->creds : c->proc->creds;
}

/*
 * capset(2) in thread i of c: the three sets, 64-bit masks. Returns 0 or
 * -errno (-EIO when the scratch page cannot be written, said there).
 */
static long capset_remote(struct rst_ctx *c, int i, uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];

	data[0].effective = eff;
	data[1].effective = eff >> 32;
	data[0].permitted = prm;
	data[1].permitted = prm >> 32;
	data[0].inheritable = inh;
	data[1].inheritable = inh >> 32;
	if (scratch_write(c, 0, &hdr, sizeof(hdr)) || scratch_write(c, 64, data, sizeof(data)))
		return -EIO;
	return rsys(c, i, SYS_capset, SCRATCH(c), SCRATCH(c) + 64, 0, 0, 0, 0);
}

/*
 * The file-system id of thread i, after setresuid/setresgid made it the
 * effective one: setfsuid/setfsgid (nr) to id, then read back (they
 * return the previous id, never an error: setfsuid(2)). 0 or -1.
 */
static int set_fsid(struct rst_ctx *c, int i, long nr, uint32_t id)
{
	const char *what = nr == SYS_setfsuid ? "fsuid" : "fsgid";
	long r;

	rsys(c, i, nr, id, 0, 0, 0, 0, 0);
	r = rsys(c, i, nr, (uint32_t)-1, 0, 0, 0, 0, 0);
	if (r != (long)id)
		return pr_err("thread %d: cannot set its %s to %u (it is %ld)", c->pt.t[i].tid, what, id, r);
	return 0;
}

/*
 * Thread i gets cr. The order within the thread: bounding set (dropping
 * needs CAP_SETPCAP), groups and gids (CAP_SETGID), securebits with
 * KEEP_CAPS (CAP_SETPCAP; KEEP_CAPS keeps the permitted set across the
 * uid change), uids (CAP_SETUID), the file-system uid (CAP_SETUID again,
 * made effective for it), capabilities exactly, ambient ones, the late
 * securebits. capabilities(7), credentials(7).
 */
static int thread_creds(struct rst_ctx *c, int i, const CredsEntry *cr, const struct own_creds *o)
{
	pid_t tid = c->pt.t[i].tid;
	unsigned sb = cr->has_securebits ? cr->securebits : 0;
	int setpcap;
	long r;

	for (int cap = 0; cap < 64; cap++)
		if (!(cr->cap_bnd & (1ULL << cap)) && (o->bnd & (1ULL << cap))) {
			r = rsys(c, i, SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0, 0);
			if (r)
				return pr_err("thread %d: cannot drop capability %d from the bounding set: %s", tid, cap,
					      strerror(-r));
		}
	if (cr->n_groups && scratch_write(c, 0, cr->groups, cr->n_groups * sizeof(uint32_t)))
		return -1;
	r = rsys(c, i, SYS_setgroups, cr->n_groups, SCRATCH(c), 0, 0, 0, 0);
	if (r)
		return pr_err("thread %d: cannot set supplementary groups: %s", tid, strerror(-r));
	r = rsys(c, i, SYS_setresgid, cr->gid[0], cr->gid[1], cr->gid[2], 0, 0, 0);
	if (r)
		return pr_err("thread %d: cannot set gids %u/%u/%u: %s", tid, cr->gid[0], cr->gid[1], cr->gid[2],
			      strerror(-r));
	/* CAP_SETGID is still effective here */
	if (cr->gid[3] != cr->gid[1] && set_fsid(c, i, SYS_setfsgid, cr->gid[3]))
		return -1;
	/* keep capabilities across the uid change, then set them exactly; the
	 * securebits go in while the thread still has CAP_SETPCAP, but SB_LATE
	 * (capabilities(7)) */
	/* also when the saved set is 0: the thread starts with cs-restore's
	 * (a SECBIT_NO_SETUID_FIXUP left there would let it keep its
	 * capabilities across a later setuid away from root) */
	if (sb || o->sb) {
		r = rsys(c, i, SYS_prctl, PR_SET_SECUREBITS, (sb & ~SB_LATE) | (o->sb & SB_LATE) | SECBIT_KEEP_CAPS,
			 0, 0, 0, 0);
		if (r)
			return pr_err("thread %d: cannot set securebits %#x: %s", tid, sb, strerror(-r));
	} else {
		rsys(c, i, SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0, 0);
	}
	r = rsys(c, i, SYS_setresuid, cr->uid[0], cr->uid[1], cr->uid[2], 0, 0, 0);
	if (r)
		return pr_err("thread %d: cannot set uids %u/%u/%u: %s", tid, cr->uid[0], cr->uid[1], cr->uid[2],
			      strerror(-r));
	if (cr->uid[3] != cr->uid[1]) {
		/* leaving euid 0 emptied the effective set (KEEP_CAPS keeps the
		 * permitted one only): CAP_SETUID back for setfsuid, the saved
		 * sets follow */
		r = capset_remote(c, i, o->prm, o->prm, o->inh);
		if (r)
			return pr_err("thread %d: cannot make its capabilities effective for setfsuid: %s", tid,
				      strerror(-r));
		if (set_fsid(c, i, SYS_setfsuid, cr->uid[3]))
			return -1;
	}
	rsys(c, i, SYS_prctl, PR_SET_KEEPCAPS, !!(sb & SECBIT_KEEP_CAPS), 0, 0, 0, 0);
	/* locking the SB_LATE bits needs CAP_SETPCAP (capabilities(7)): a
	 * thread that locked them and then gave it up gets it for as long as
	 * the lock takes, dropped by a second capset (dropping needs nothing) */
	setpcap = (sb & SB_LATE) && !(cr->cap_eff & (1ULL << CAP_SETPCAP));
	r = capset_remote(c, i, cr->cap_eff | (setpcap ? 1ULL << CAP_SETPCAP : 0),
			  cr->cap_prm | (setpcap ? 1ULL << CAP_SETPCAP : 0), cr->cap_inh);
	if (r)
		return pr_err("thread %d: cannot set capabilities: %s", tid, strerror(-r));
	/* the ambient set the thread started with is cs-restore's: capset
	 * keeps what stays in both permitted and inheritable, and an ambient
	 * capability the thread had not would reach the programs it execs */
	if (o->amb & ~cr->cap_amb) {
		r = rsys(c, i, SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0);
		if (r)
			return pr_err("thread %d: cannot clear the ambient capabilities of cs-restore: %s", tid,
				      strerror(-r));
	}
	for (int cap = 0; cap < 64; cap++)
		if (cr->cap_amb & (1ULL << cap)) {
			r = rsys(c, i, SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0, 0);
			if (r)
				return pr_err("thread %d: cannot raise ambient capability %d: %s", tid, cap,
					      strerror(-r));
		}
	if (sb & SB_LATE) {
		r = rsys(c, i, SYS_prctl, PR_SET_SECUREBITS, sb, 0, 0, 0, 0);
		if (r)
			return pr_err("thread %d: cannot lock securebits %#x: %s", tid, sb, strerror(-r));
	}
	if (setpcap) {
		r = capset_remote(c, i, cr->cap_eff, cr->cap_prm, cr->cap_inh);
		if (r)
			return pr_err("thread %d: cannot drop CAP_SETPCAP after the securebits: %s", tid,
				      strerror(-r));
	}
	return 0;
}

int restore_thread_creds(struct rst_ctx *c)
{
	struct own_creds *o = xzalloc(sizeof(*o));
	size_t n = c->nr_cores ? c->nr_cores : 1;
	int ret = -1;

	if (!o || own_creds(o))
		goto out;
	/*
	 * The leader last: scratch_write reaches the stub's memory by its PID
	 * (process_vm_writev(2) checks ptrace access against the leader's
	 * credentials and the dumpable flag, which a change of uid resets),
	 * so the leader keeps cs-restore's while the others take theirs.
	 * Every other step is the thread's own: one thread's loss of a
	 * capability does not touch another's.
	 */
	for (size_t k = 1; k <= n; k++) {
		size_t i = k % n;
		const CredsEntry *cr = creds_of(c, i);

		if (creds_are(cr, o))
			continue;
		if (i && c->cores[i]->creds)
			pr_info("thread %d: credentials of its own: uids %u/%u/%u/%u, gids %u/%u/%u/%u", c->pt.t[i].tid,
				cr->uid[0], cr->uid[1], cr->uid[2], cr->uid[3], cr->gid[0], cr->gid[1], cr->gid[2],
				cr->gid[3]);
		if (thread_creds(c, i, cr, o))
			goto out;
		/* CS_FAULT=creds: with this thread's set given and not the others' */
		if (cs_fault("creds"))
			goto out;
	}
	ret = 0;
out:
	free(o);
	return ret;
}

/* One set (who: "thread N" or "process N", for messages) against what cs-restore can give (o). 0 or -1. */
static int check_one(const CredsEntry *cr, const char *who, const struct own_creds *o)
{
	uint64_t missing;
	unsigned sb = cr->has_securebits ? cr->securebits : 0;
	int setuid, setgid, setpcap;

	if (cr->n_uid != 4 || cr->n_gid != 4 || cr->n_groups > MAX_GROUPS || (sb & ~SB_ALL) ||
	    (cr->cap_eff & ~cr->cap_prm) || (cr->cap_amb & ~(cr->cap_prm & cr->cap_inh)))
		return pr_err("%s: corrupt credentials in the images", who);
	if (creds_are(cr, o))
		return 0;
	setuid = !!(o->eff & (1ULL << CAP_SETUID));
	setgid = !!(o->eff & (1ULL << CAP_SETGID));
	setpcap = !!(o->eff & (1ULL << CAP_SETPCAP));
	/* without CAP_SETUID an id can only become one of the current ones */
	for (int k = 0; k < 4 && !setuid; k++)
		if (cr->uid[k] != o->uid[0] && cr->uid[k] != o->uid[1] && cr->uid[k] != o->uid[2])
			return pr_err("%s: uid %u cannot be given back: cs-restore lacks CAP_SETUID", who, cr->uid[k]);
	if (!setgid)
		return pr_err("%s: its gids and groups cannot be set: cs-restore lacks CAP_SETGID", who);
	missing = cr->cap_prm & ~o->prm;
	if (missing)
		return pr_err("%s: capabilities %#llx of its permitted set are not in cs-restore's (%#llx): "
			      "they cannot be given back", who, (unsigned long long)missing, (unsigned long long)o->prm);
	/* capset(2): the inheritable set may not leave the bounding set,
	 * which the saved one has replaced by then */
	missing = cr->cap_inh & ~(o->inh | (o->bnd & cr->cap_bnd));
	if (missing)
		return pr_err("%s: capabilities %#llx of its inheritable set are outside the bounding set it gets "
			      "(%#llx): they cannot be given back", who, (unsigned long long)missing,
			      (unsigned long long)(o->bnd & cr->cap_bnd));
	/* a lock bit (the odd ones) cannot be cleared, nor the bit it locks
	 * changed (capabilities(7), security/commoncap.c cap_task_prctl);
	 * KEEP_CAPS, which the uid change needs, must not be locked off */
	if ((o->sb & SB_LOCKS & ~sb) || (((o->sb & SB_LOCKS) >> 1) & (o->sb ^ (sb | SECBIT_KEEP_CAPS))))
		return pr_err("%s: its securebits %#x cannot be set: cs-restore runs with securebits %#x locked",
			      who, sb, o->sb);
	if (((sb != o->sb) || (cr->cap_bnd & o->bnd) != o->bnd) && !setpcap)
		return pr_err("%s: its securebits %#x or bounding set cannot be set: cs-restore lacks CAP_SETPCAP",
			      who, sb);
	missing = cr->cap_bnd & ~o->bnd;
	if (missing)
		pr_warn("%s: capabilities %#llx of its bounding set are not in cs-restore's: it loses them", who,
			(unsigned long long)missing);
	return 0;
}

/* The process's set and each thread's own. 0 or -1. */
static int check_creds(struct rst_ctx *c, const struct own_creds *o)
{
	char who[48];

	snprintf(who, sizeof(who), "process %u", c->proc->pid);
	if (check_one(c->proc->creds, who, o))
		return -1;
	for (size_t i = 0; i < c->nr_cores; i++) {
		if (!c->cores[i]->creds)
			continue;
		snprintf(who, sizeof(who), "thread %u", c->cores[i]->tid);
		if (check_one(c->cores[i]->creds, who, o))
			return -1;
	}
	return 0;
}

int check_tree_creds(struct rst_tree *t)
{
	struct own_creds *o = xzalloc(sizeof(*o));
	int ret = -1;

	if (!o || own_creds(o))
		goto out;
	for (size_t i = 0; i < t->nr; i++)
		if (!t->p[i]->proc->zombie && check_creds(t->p[i], o))
			goto out;
	ret = 0;
out:
	free(o);
	return ret;
}
