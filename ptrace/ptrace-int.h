/*
 * Shared by ptrace.c and batch.c only: the parts of driving a remote
 * syscall that pt_syscall and pt_batch have in common.
 */
#ifndef CS_PTRACE_INT_H
#define CS_PTRACE_INT_H

#include "ptrace.h"

/* pt_keep_signal - thread t is in a signal-delivery-stop for sig during
 * remote syscalls: the signal was dequeued; keep it in t->extra (with *si,
 * or its siginfo read now when si is NULL) for the image and the re-send at
 * release, or re-send it at once with tgkill when t->extra is full. */
void pt_keep_signal(struct pt_proc *p, struct pt_thread *t, int sig, const siginfo_t *si);

/* pt_died - thread tid went away under remote syscall nr (SIGKILL from
 * outside, or its process's exit): one line, and the errors of the
 * unwinding callers, which would only repeat it, to the log file only.
 * Returns -1. */
int pt_died(pid_t tid, long nr);

#endif
