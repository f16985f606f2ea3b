#!/usr/bin/env bats
# t100-memory.bats - a process's memory comes back byte for byte, with its
# protections and VMA flags: a 64 MiB anonymous region, mprotect-split pages
# (rw, r, PROT_NONE with data under it, r-x code), sparse pages, the brk heap,
# a large stack array, copy-on-write file mappings, and MADV_DONTFORK /
# MADV_HUGEPAGE / MADV_NOHUGEPAGE regions.  See test/c/memory.c.

load helpers

@test "memory: the checks pass on an undisturbed process (control)" {
	control memory
}

@test "memory: the checks catch broken memory (negative control)" {
	expect_detects_all memory "page prot none zero heap brk stack cow file vmflags thp wipe mlock"
}

@test "memory: contents, protections and VmFlags survive dump and restore" {
	round_trip memory
}

@test "memory: cs-dump -R leaves the running process intact" {
	require_cs
	start_prog memory
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
}
