/*
 * Credentials: the process's (the leader's, process_entry.creds) and, for
 * each other thread whose own differ, that thread's (thread_core_entry.creds).
 * Linux keeps credentials per task: a raw setresuid(2), setgroups(2) or
 * capset(2) in one thread changes that thread only (glibc's wrappers of
 * the set*id calls signal every thread to do the same, nptl(7); capset has
 * no such wrapper), and PR_SET_SECUREBITS sets the calling thread's. Samba's
 * smbd impersonates users this way. Read from /proc/PID/task/TID/status
 * (proc(5): Uid, Gid, Groups, Cap*); the securebits come from the remote
 * prctl(PR_GET_SECUREBITS) dump_threads runs in each thread.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "creds: "
#include "log.h"
#include "util.h"
#include "dump.h"

/* The scratch page cs-restore writes setgroups' list into holds 1024. */
#define MAX_GROUPS 1024

/* The numbers after "Key:" in st into *out (n of them). 0 or -1 (logged). */
static int parse_ids(pid_t tid, const char *st, const char *key, uint32_t **out, size_t *n, size_t max)
{
	char *buf = xmalloc(16 * MAX_GROUPS), *p = buf;
	int r = -1;

	if (!buf)
		return -1;
	if (status_key(st, key, buf, 16 * MAX_GROUPS)) {
		pr_err("no %s in /proc/%d/status", key, tid);
		goto out;
	}
	*out = xzalloc(sizeof(uint32_t) * (max ? max : 1));
	if (!*out)
		goto out;
	*n = 0;
	while (*p) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);

		if (end == p)
			break;
		if (*n == max) {
			pr_err("thread %d has more than %zu %s: not supported", tid, max,
			       strcmp(key, "Groups") ? key : "supplementary groups");
			goto out;
		}
		(*out)[(*n)++] = v;
		p = end;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	r = 0;
out:
	free(buf);
	return r;
}

static uint64_t status_hex(const char *st, const char *key)
{
	char buf[64];

	if (status_key(st, key, buf, sizeof(buf)))
		return 0;
	return strtoull(buf, NULL, 16);
}

/* A creds_entry from st, the text of tid's status file, and securebits sb. */
static CredsEntry *creds_from_status(pid_t tid, const char *st, long sb)
{
	CredsEntry *cr = xzalloc(sizeof(*cr));

	if (!cr)
		return NULL;
	creds_entry__init(cr);
	if (parse_ids(tid, st, "Uid", &cr->uid, &cr->n_uid, 4) || parse_ids(tid, st, "Gid", &cr->gid, &cr->n_gid, 4) ||
	    parse_ids(tid, st, "Groups", &cr->groups, &cr->n_groups, MAX_GROUPS))
		goto err;
	if (cr->n_uid != 4 || cr->n_gid != 4) {
		pr_err("cannot parse the credentials of thread %d", tid);
		goto err;
	}
	cr->cap_inh = status_hex(st, "CapInh");
	cr->cap_prm = status_hex(st, "CapPrm");
	cr->cap_eff = status_hex(st, "CapEff");
	cr->cap_bnd = status_hex(st, "CapBnd");
	cr->has_cap_amb = 1;
	cr->cap_amb = status_hex(st, "CapAmb");
	cr->has_securebits = 1;
	cr->securebits = sb;
	return cr;
err:
	creds_entry__free_unpacked(cr, NULL);
	return NULL;
}

/* Whether a and b are the same credentials (no_new_privs aside: per thread, field 51). */
static int same_creds(const CredsEntry *a, const CredsEntry *b)
{
	return a->n_uid == b->n_uid && !memcmp(a->uid, b->uid, a->n_uid * sizeof(*a->uid)) && a->n_gid == b->n_gid &&
	       !memcmp(a->gid, b->gid, a->n_gid * sizeof(*a->gid)) && a->n_groups == b->n_groups &&
	       !memcmp(a->groups, b->groups, a->n_groups * sizeof(*a->groups)) && a->cap_inh == b->cap_inh &&
	       a->cap_prm == b->cap_prm && a->cap_eff == b->cap_eff && a->cap_bnd == b->cap_bnd &&
	       a->cap_amb == b->cap_amb && a->securebits == b->securebits;
}

int dump_creds(struct dump_ctx *c, ProcessEntry *pe, const char *st)
{
	char path[64], buf[64];

	pe->creds = creds_from_status(c->pid, st, c->thread_sb[0]);
	if (!pe->creds)
		return -1;
	if (status_key(st, "NoNewPrivs", buf, sizeof(buf)) == 0) {
		pe->creds->has_no_new_privs = 1;
		pe->creds->no_new_privs = atoi(buf);
	}
	for (int i = 1; i < c->pt.nr; i++) {
		pid_t tid = c->pt.t[i].tid;
		CredsEntry *cr;
		char *tst;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", c->pid, tid);
		tst = read_file_at(AT_FDCWD, path, NULL, 1 << 20);
		if (!tst)
			return pr_perror("cannot read %s", path);
		cr = creds_from_status(tid, tst, c->thread_sb[i]);
		free(tst);
		if (!cr)
			return -1;
		if (same_creds(cr, pe->creds)) {
			creds_entry__free_unpacked(cr, NULL);
			continue;
		}
		pr_info("thread %d of %d has credentials of its own: uids %u/%u/%u/%u gids %u/%u/%u/%u, %zu groups, "
			"capabilities %#llx/%#llx/%#llx (eff/prm/inh), securebits %#x", tid, c->pid, cr->uid[0],
			cr->uid[1], cr->uid[2], cr->uid[3], cr->gid[0], cr->gid[1], cr->gid[2], cr->gid[3],
			cr->n_groups, (unsigned long long)cr->cap_eff, (unsigned long long)cr->cap_prm,
			(unsigned long long)cr->cap_inh, cr->securebits);
		c->cores[i]->creds = cr;
	}
	return 0;
}
