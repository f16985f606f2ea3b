/*
 * seccomp and no_new_privs, per thread, put back at the end of the restore.
 *
 * Installing a filter without no_new_privs needs CAP_SYS_ADMIN (seccomp(2)),
 * which the stub has only until restore_creds: so the filters go in just
 * before the credentials, and every thread is given
 * PTRACE_O_SUSPEND_SECCOMP first, so that the remote syscalls that follow
 * (credentials, the unmap of the gadget) are not filtered. PTRACE_DETACH
 * drops that flag: the process runs filtered from its first instruction.
 *
 * The part of the filter chains that every thread shares is installed once
 * with SECCOMP_FILTER_FLAG_TSYNC, so that the threads share it as they did;
 * the rest is installed in each thread by a remote seccomp() in that thread.
 * TSYNC also gives no_new_privs to every thread when the caller has it
 * (kernel/seccomp.c, seccomp_sync_threads): no_new_privs is set last, in
 * the threads that had it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define LOG_PREFIX "seccomp: "
#include "log.h"
#include "util.h"
#include "seccomp-prog.h"
#include "restore.h"



static int mode_of(const ThreadCoreEntry *tc)
{
	return tc->has_seccomp_mode ? (int)tc->seccomp_mode : SECCOMP_MODE_DISABLED;
}

static int check_filter(const ProcessEntry *pe, size_t i)
{
	const SeccompFilterEntry *e = pe->seccomp_filters[i];
	const struct sock_filter *f = (const void *)e->prog.data;
	size_t n = e->prog.len / sizeof(*f);

	if (e->prog.len % sizeof(*f) || !n || n > SECCOMP_MAX_INSNS)
		return pr_err("pstree.img: seccomp filter %zu has a length of %zu bytes", i, e->prog.len);
	if (e->flags & ~SECCOMP_FILTER_FLAG_LOG)
		return pr_err("pstree.img: seccomp filter %zu has unknown flags %#x", i, e->flags);
	if (e->has_parent && (e->parent < 0 || (size_t)e->parent >= i))
		return pr_err("pstree.img: seccomp filter %zu has a corrupt parent %d", i, e->parent);
	if (seccomp_user_notif(f, n))
		return pr_err("seccomp filter %zu returns SECCOMP_RET_USER_NOTIF: not supported", i);
	return 0;
}

int check_seccomp(struct rst_ctx *c)
{
	ProcessEntry *pe = c->proc;
	int any = 0;
	char buf[64];

	for (size_t i = 0; i < pe->n_seccomp_filters; i++)
		if (check_filter(pe, i))
			return -1;
	for (size_t i = 0; i < c->nr_cores; i++) {
		ThreadCoreEntry *tc = c->cores[i];
		int mode = mode_of(tc);

		if (mode != SECCOMP_MODE_DISABLED && mode != SECCOMP_MODE_STRICT && mode != SECCOMP_MODE_FILTER)
			return pr_err("core-%u.img: unknown seccomp mode %d", tc->tid, mode);
		if ((mode == SECCOMP_MODE_FILTER) != tc->has_seccomp_filter ||
		    (tc->has_seccomp_filter && (tc->seccomp_filter < 0 ||
						(size_t)tc->seccomp_filter >= pe->n_seccomp_filters)))
			return pr_err("core-%u.img: corrupt seccomp filter reference", tc->tid);
		any |= mode != SECCOMP_MODE_DISABLED;
		/* the stub's threads inherit cs-restore's no_new_privs, which
		 * nothing clears (prctl(2) PR_SET_NO_NEW_PRIVS) */
		if (tc->has_no_new_privs && !tc->no_new_privs && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
			return pr_err("thread %u ran without no_new_privs: cs-restore runs with it, which its threads "
				      "would inherit and cannot drop", tc->tid);
	}
	if (!any)
		return 0;
	/* the same conditions as for PTRACE_O_SUSPEND_SECCOMP (ptrace(2)) */
	if (!cap_effective(CAP_SYS_ADMIN))
		return pr_err("process %d ran under seccomp: restoring it needs CAP_SYS_ADMIN", c->pid);
	if (proc_status_line(getpid(), 0, "Seccomp", buf, sizeof(buf)) == 0 && strcmp(buf, "0"))
		return pr_err("process %d ran under seccomp: cs-restore cannot restore it while under seccomp itself",
			      c->pid);
	return 0;
}

/* The filter chain of thread tc, oldest first, into chain; returns its length. */
static size_t chain_of(const ProcessEntry *pe, const ThreadCoreEntry *tc, int *chain)
{
	size_t n = 0;

	if (mode_of(tc) != SECCOMP_MODE_FILTER)
		return 0;
	/* check_seccomp made every parent index smaller than its child's */
	for (int f = tc->seccomp_filter; n < pe->n_seccomp_filters; f = pe->seccomp_filters[f]->parent) {
		chain[n++] = f;
		if (!pe->seccomp_filters[f]->has_parent)
			break;
	}
	for (size_t k = 0; k < n / 2; k++) {
		int t = chain[k];

		chain[k] = chain[n - 1 - k];
		chain[n - 1 - k] = t;
	}
	return n;
}

/* Install filter f in thread i through the remote buffer buf. */
static int install(struct rst_ctx *c, size_t i, unsigned long buf, int f, unsigned flags)
{
	SeccompFilterEntry *e = c->proc->seccomp_filters[f];
	struct { uint16_t len; uint16_t pad[3]; uint64_t filter; } prog = { e->prog.len / 8, { 0 }, buf + 16 };
	struct iovec l[2] = { { &prog, sizeof(prog) }, { e->prog.data, e->prog.len } };
	struct iovec r = { (void *)buf, sizeof(prog) + e->prog.len };
	long ret;

	if (process_vm_writev(c->pid, l, 2, &r, 1, 0) != (ssize_t)r.iov_len)
		return pr_perror("cannot write seccomp filter %d into process %d", f, c->pid);
	ret = rsys(c, i, SYS_seccomp, SECCOMP_SET_MODE_FILTER, e->flags | flags, buf, 0, 0, 0);
	if (ret > 0)
		return pr_err("cannot install seccomp filter %d in every thread: thread %ld refused", f, ret);
	if (ret)
		return pr_err("thread %u: cannot install seccomp filter %d: %s", c->cores[i]->tid, f, strerror(-ret));
	return 0;
}

static int install_filters(struct rst_ctx *c)
{
	ProcessEntry *pe = c->proc;
	size_t n = pe->n_seccomp_filters, common = 0, len0, maxlen = 0;
	int *chain0 = xzalloc((n + 1) * sizeof(int)), *chain = xzalloc((n + 1) * sizeof(int));
	unsigned long buf = 0, buflen;
	int ret = -1;
	long r;

	if (!chain0 || !chain)
		goto out;
	for (size_t f = 0; f < n; f++)
		if (pe->seccomp_filters[f]->prog.len > maxlen)
			maxlen = pe->seccomp_filters[f]->prog.len;
	buflen = (16 + maxlen + 4095) & ~4095UL;
	r = rsys(c, 0, SYS_mmap, 0, buflen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r < 0 && r > -4096) {
		pr_err("cannot map a buffer for the seccomp filters: %s", strerror(-r));
		goto out;
	}
	buf = r;
	/* the part every thread shares: once, with TSYNC */
	len0 = common = chain_of(pe, c->cores[0], chain0);
	for (size_t i = 1; i < c->nr_cores && common; i++) {
		size_t len = chain_of(pe, c->cores[i], chain), k = 0;

		while (k < common && k < len && chain[k] == chain0[k])
			k++;
		common = k;
	}
	for (size_t k = 0; k < common; k++)
		if (install(c, 0, buf, chain0[k], c->nr_cores > 1 ? SECCOMP_FILTER_FLAG_TSYNC : 0))
			goto out;
	/* and what each thread has on top of it */
	for (size_t i = 0; i < c->nr_cores; i++) {
		size_t len = i ? chain_of(pe, c->cores[i], chain) : len0;

		for (size_t k = common; k < len; k++)
			if (install(c, i, buf, i ? chain[k] : chain0[k], 0))
				goto out;
	}
	pr_info("%zu seccomp filters installed, %zu of them shared by all %zu threads", n, common, c->nr_cores);
	ret = 0;
out:
	if (buf) {
		r = rsys(c, 0, SYS_munmap, buf, buflen, 0, 0, 0, 0);
		if (r && !ret)
			ret = pr_err("cannot unmap the seccomp filter buffer: %s", strerror(-r));
	}
	free(chain0);
	free(chain);
	return ret;
}

int restore_seccomp(struct rst_ctx *c)
{
	int any = 0;
	long r;

	for (size_t i = 0; i < c->nr_cores; i++)
		any |= mode_of(c->cores[i]) != SECCOMP_MODE_DISABLED;
	if (any) {
		for (int i = 0; i < c->pt.nr; i++)
			if (ptrace(PTRACE_SETOPTIONS, c->pt.t[i].tid, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE |
				   PTRACE_O_TRACESYSGOOD | PTRACE_O_SUSPEND_SECCOMP))
				return pr_perror("thread %d: cannot suspend seccomp while it is restored", c->pt.t[i].tid);
		if (c->proc->n_seccomp_filters && install_filters(c))
			return -1;
	}
	for (size_t i = 0; i < c->nr_cores; i++) {
		ThreadCoreEntry *tc = c->cores[i];

		if (mode_of(tc) == SECCOMP_MODE_STRICT) {
			r = rsys(c, i, SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0, 0);
			if (r)
				return pr_err("thread %u: cannot enter seccomp strict mode: %s", tc->tid, strerror(-r));
		}
		if (tc->has_no_new_privs && tc->no_new_privs) {
			r = rsys(c, i, SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
			if (r)
				return pr_err("thread %u: cannot set no_new_privs: %s", tc->tid, strerror(-r));
		}
	}
	return 0;
}
