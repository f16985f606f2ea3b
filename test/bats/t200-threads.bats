#!/usr/bin/env bats
# t200-threads.bats - per-thread and per-task CPU and kernel state:
#   threads   TIDs, stacks, TLS, FS base, robust lists, rseq, clear_child_tid,
#             threads blocked in futex, nanosleep, read and a condvar
#   regs      x87, MXCSR, XMM, YMM upper halves, ZMM and k (when AVX-512 is
#             enabled), PKRU, EFLAGS.DF and ten GPRs, inside rt_sigsuspend
#   sigstate  dispositions, masks, sigaltstacks, process-wide and per-thread
#             pending signals with their siginfo, thread names, umask, cwd
# Each program has a control (no dump: its checks pass), a negative control
# (CS_TEST_CORRUPT: its checks fail), a kill-dump-restore round trip and a
# cs-dump -R run that must leave the live process undisturbed.

load helpers

# A test that also leaves the process running through cs-dump -R.
dump_R_intact() {
	require_cs
	start_prog "$@"
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
}

# --- threads -----------------------------------------------------------------

@test "threads: the checks pass on an undisturbed process (control)" {
	control threads 4
}

@test "threads: the checks pass with 9 threads and with 1 (control)" {
	control threads 9
	control threads 1
}

@test "threads: the checks catch broken thread state (negative control)" {
	expect_detects_all threads "tid stack tls robust rseq mask ctid" 4
}

@test "threads: 4 threads keep TIDs, stacks, TLS and can be joined after dump and restore" {
	round_trip threads 4
}

@test "threads: 9 threads, each kind of sleep twice, after dump and restore" {
	round_trip threads 9
}

@test "threads: cs-dump -R leaves the running threads intact" {
	dump_R_intact threads 4
}

# --- regs ----------------------------------------------------------------------

@test "regs: the checks pass on an undisturbed process (control)" {
	control regs
}

@test "regs: the checks catch each broken register class (negative control)" {
	expect_detects_all regs \
		"rbx rbp rdx r8 r10 r12 r15 rdi df xmm3 xmm15 st2 fcw mxcsr ymmh7 zmmh9 zmm20 k5 pkru"
}

@test "regs: FPU, vector, PKRU, flags and general registers survive dump and restore" {
	round_trip regs
}

@test "regs: cs-dump -R leaves the registers of the running process intact" {
	dump_R_intact regs
}

# --- sigstate ----------------------------------------------------------------------

@test "sigstate: the checks pass on an undisturbed process (control)" {
	control sigstate nanosleep
	control sigstate sigsuspend
}

@test "sigstate: the checks catch broken signal state (negative control)" {
	expect_detects_all sigstate \
		"sigaction ign mask altstack pending name umask cwd threadmask threadname"
}

@test "sigstate: handlers, masks, altstacks, pending signals, names, umask, cwd survive dump and restore" {
	round_trip sigstate nanosleep
}

@test "sigstate: the real signal mask survives a dump taken inside sigsuspend" {
	round_trip sigstate sigsuspend
}

@test "sigstate: cs-dump -R leaves the running process's signal state intact" {
	dump_R_intact sigstate nanosleep
}
