/*
 * cgroup.h - control groups as both commands see them: the lines of
 * /proc/PID/cgroup and where each hierarchy is mounted here.
 *
 * A hierarchy is named by the second field of a /proc/PID/cgroup line
 * (cgroups(7)): "" for the cgroup v2 (unified) hierarchy, the
 * comma-separated controllers of a v1 hierarchy ("memory", "cpu,cpuacct"),
 * or "name=X" for a named v1 hierarchy without controllers. The hierarchy
 * ID (the first field) differs between hosts and is not used.
 */
#ifndef CS_CGROUP_H
#define CS_CGROUP_H

#include <stddef.h>
#include <sys/types.h>

/* One line of /proc/PID/cgroup. */
struct cg_line {
	char *ctrl;	/* "" for v2, else "memory", "cpu,cpuacct", "name=systemd" */
	char *path;	/* "/a/b", relative to our cgroup namespace's root */
};

/*
 * cg_read - the lines of /proc/pid/cgroup, or of /proc/pid/task/tid/cgroup
 * when tid > 0, into a new array (*out, *nr; free with cg_free). Returns 0,
 * or -1 with errno (ENOENT: the task is gone). Source: cgroups(7), "/proc
 * files".
 */
int cg_read(pid_t pid, pid_t tid, struct cg_line **out, size_t *nr);
/* cg_free - an array from cg_read. */
void cg_free(struct cg_line *l, size_t nr);

/*
 * cg_dir - the directory here of cgroup path in hierarchy ctrl (as in a
 * /proc/PID/cgroup line): the mount point of that hierarchy in our mount
 * namespace (/proc/self/mountinfo: fstype cgroup2 for "", else fstype
 * cgroup whose super options name exactly the controllers of ctrl, the
 * controllers known from /proc/cgroups), joined with path below the
 * mount's root. Returns a malloc'ed path, or NULL with errno: ENOENT when
 * the hierarchy is not mounted here, EXDEV when path lies outside what its
 * mount shows. Source: proc(5) mountinfo, cgroups(7).
 */
char *cg_dir(const char *ctrl, const char *path);

/* cg_is_v2 - ctrl names the cgroup v2 hierarchy (""). */
int cg_is_v2(const char *ctrl);

/*
 * cg_limit_files - the limit files saved for a cgroup, NULL-terminated, in
 * the order they are to be written back (cpu.cfs_period_us before
 * cpu.cfs_quota_us, which is checked against it). Each is saved when it
 * exists in the cgroup's directory and is not empty: cpuset.cpus and
 * cpuset.mems (a new v1 cpuset cgroup takes no task until both are set),
 * v2 memory.max, memory.high, pids.max,
 * cpu.max, cpu.weight; v1 memory.limit_in_bytes, pids.max, cpu.shares,
 * cpu.cfs_period_us, cpu.cfs_quota_us. Source: the kernel's
 * Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/.
 */
extern const char *const cg_limit_files[];

/* cg_read_value - file name in directory dir, without its trailing newline,
 * into buf. Returns 0, or -1 with errno. */
int cg_read_value(const char *dir, const char *name, char *buf, size_t len);
/* cg_write_value - write value to file name in directory dir, in one
 * write(2) as the kernel wants it. Returns 0, or -1 with errno. */
int cg_write_value(const char *dir, const char *name, const char *value);

#endif
