/*
 * What cs-dump and cs-restore both need to know of a seccomp filter program
 * (classic BPF, struct sock_filter; seccomp(2), <linux/seccomp.h>).
 */
#ifndef CS_SECCOMP_PROG_H
#define CS_SECCOMP_PROG_H
#include <stddef.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef SECCOMP_RET_USER_NOTIF
#define SECCOMP_RET_USER_NOTIF 0x7fc00000U
#endif
#ifndef SECCOMP_RET_ACTION_FULL
#define SECCOMP_RET_ACTION_FULL 0xffff0000U
#endif
#ifndef SECCOMP_FILTER_FLAG_LOG
#define SECCOMP_FILTER_FLAG_LOG (1UL << 1)
#endif
#ifndef PTRACE_O_SUSPEND_SECCOMP
#define PTRACE_O_SUSPEND_SECCOMP (1 << 21)
#endif

#define SECCOMP_MAX_INSNS 4096	/* BPF_MAXINSNS: the kernel takes no longer program */

/*
 * seccomp_user_notif - whether the n instructions of f hold a constant
 * return of SECCOMP_RET_USER_NOTIF (whose listener, in whatever process
 * holds it, cannot be restored). Returns 1 or 0.
 */
static inline int seccomp_user_notif(const struct sock_filter *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (f[i].code == (BPF_RET | BPF_K) && (f[i].k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF)
			return 1;
	return 0;
}
#endif
