/*
 * Shared by ptrace.c and batch.c only: the parts of driving a remote
 * syscall that pt_syscall and pt_batch have in common.
 */
#ifndef CS_PTRACE_INT_H
#define CS_PTRACE_INT_H

#include "ptrace.h"

/* pt_died - thread tid went away under remote syscall nr (SIGKILL from
 * outside, or its process's exit): one line, and the errors of the
 * unwinding callers, which would only repeat it, to the log file only.
 * Returns -1. */
int pt_died(pid_t tid, long nr);

#endif
