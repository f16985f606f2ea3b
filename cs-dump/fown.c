/*
 * The owner of an fd's open file description: the process, thread or
 * process group that gets SIGIO (O_ASYNC) and SIGURG for it, and the
 * signal sent instead of SIGIO (fcntl(2): F_GETOWN_EX, F_GETSIG). Read
 * through the pidfd_getfd copy dump_fd took (files.c): the owner belongs
 * to the open file description, which the copy shares.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "fown: "
#include "log.h"
#include "util.h"
#include "proc.h"
#include "dump.h"

static int in_tree(const struct dump_tree *t, pid_t pid)
{
	for (size_t i = 0; i < t->nr; i++)
		if (t->n[i].pid == pid)
			return 1;
	return 0;
}

int dump_fown(struct dump_ctx *c, int fd, int copy, FdEntry *e)
{
	struct f_owner_ex own = { 0 };
	int sig, ok;
	pid_t id = 0;
	char tgid[32];
	const char *kind;

	if (fcntl(copy, F_GETOWN_EX, &own) < 0 || (sig = fcntl(copy, F_GETSIG)) < 0)
		return pr_perror("fd %d: cannot read its owner (F_GETOWN_EX, F_GETSIG)", fd);
	if (!own.pid && !sig)
		return 0;
	switch (own.type) {
	case F_OWNER_TID:
		kind = "thread";
		ok = own.pid && proc_status_line(own.pid, 0, "Tgid", tgid, sizeof(tgid)) == 0 &&
		     in_tree(c->tree, atoi(tgid));
		if (ok)
			id = dump_vpid(atoi(tgid), own.pid);
		break;
	case F_OWNER_PID:
		kind = "process";
		ok = in_tree(c->tree, own.pid);
		if (ok)
			id = dump_vpid(own.pid, 0);
		break;
	case F_OWNER_PGRP:
		kind = "process group";
		ok = in_tree(c->tree, own.pid);	/* its leader is in the tree */
		if (ok)
			id = dump_vpid(own.pid, 0);
		break;
	default:
		return pr_err("fd %d: owner of unknown type %d (F_GETOWN_EX)", fd, own.type);
	}
	if (own.pid && (!ok || !id))
		return pr_err("fd %d sends its SIGIO/SIGURG (F_SETOWN) to %s %d, outside the dumped tree: "
			      "not supported", fd, kind, own.pid);
	e->has_fown_type = e->has_fown_id = e->has_fown_sig = 1;
	e->fown_type = own.type;
	e->fown_id = own.pid ? id : 0;
	e->fown_sig = sig;
	pr_debug("fd %d: owner %s %d (%d here), signal %d", fd, kind, own.pid, e->fown_id, sig);
	return 0;
}
