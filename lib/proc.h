/* /proc parsers for a process being dumped. */
#ifndef CS_PROC_H
#define CS_PROC_H

#include <stdint.h>
#include <sys/types.h>

struct vma {
	uint64_t start, end;	/* bytes, page aligned, [start, end) */
	uint64_t pgoff;		/* bytes into the file */
	uint32_t prot;		/* PROT_* */
	int shared;		/* 's' in perms */
	uint64_t dev, ino;
	char path[4096];	/* "" for anonymous; "[heap]", "[stack]", "[vdso]"... */
	char vmflags[128];	/* the VmFlags line of smaps, space separated */
};

/*
 * proc_vmas - parse /proc/PID/smaps. Returns a malloc'ed array and its length
 * in *n, or NULL (error logged). Paths with " (deleted)" keep that suffix.
 */
struct vma *proc_vmas(pid_t pid, int *n);

/*
 * proc_maps - the same from /proc/PID/maps: no VmFlags (vmflags is empty),
 * but much cheaper, since smaps walks the page tables of every VMA to count
 * its pages (proc(5)). Returns the array and *n, or NULL (error logged).
 */
struct vma *proc_maps(pid_t pid, int *n);

/* vma_has_flag - whether the two-letter VmFlags word fl is set. */
int vma_has_flag(const struct vma *v, const char *fl);

/*
 * proc_stat_fields - fields of /proc/PID/stat (1-based numbering of proc(5)),
 * after the comm field. out[i] gets field i for i in 1..52; out[2] (comm) and
 * out[3] (state) are left 0. Returns 0, or -1 (logged unless the process
 * is gone: errno ENOENT or ESRCH).
 */
int proc_stat_fields(pid_t pid, unsigned long long out[53]);

/*
 * proc_status_line - the value text after "Key:" in /proc/PID/status (or
 * /proc/PID/task/TID/status when tid > 0), copied to buf. Returns 0 or -1
 * (key missing).
 */
int proc_status_line(pid_t pid, pid_t tid, const char *key, char *buf, size_t len);

/*
 * proc_fdinfo_field - the value of "key:" in /proc/PID/fdinfo/FD as a string.
 * Returns 0 or -1.
 */
int proc_fdinfo_field(pid_t pid, int fd, const char *key, char *buf, size_t len);

#endif
