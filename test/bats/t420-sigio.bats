#!/usr/bin/env bats
# t420-sigio.bats - owners of open file descriptions (test/c/sigio.c): a
# process, a thread and a process group given pipes with O_ASYNC by
# F_SETOWN_EX, with F_SETSIG signals; after the restore the program reads
# them back with F_GETOWN_EX/F_GETSIG and writes into the pipes: each
# signal must reach its owner with its si_fd.
# Refused: an owner outside the dumped tree.

load helpers

@test "sigio: the checks pass on an undisturbed process, and catch a change (controls)" {
	control sigio
	expect_detects_all sigio "owner sig tid"
}

@test "sigio: owners (process, thread, process group) and signals come back and SIGIO reaches them (round trip)" {
	round_trip sigio
	grep -q "ok: 20 values checked" "$T/prog.out"
}

@test "sigio: cs-dump -R leaves the owners as they were, and its image restores" {
	require_cs
	start_prog sigio
	dump_running
	wake_and_wait "$PID"
	assert_prog_ok
	restore_wait --file-validation=none
	wake_and_wait "$RPID"
	assert_prog_ok
}

@test "sigio: refuse an fd whose owner is outside the tree, naming it; the process goes on" {
	require_cs
	start_prog sigio outside
	run "$CS_DUMP" -t "$PID" -D "$T/img"
	[ "$status" = 1 ]
	[ "${#lines[@]}" = 1 ]
	[[ $output == *"sends its SIGIO/SIGURG (F_SETOWN) to process $$, outside the dumped tree"* ]]
	[ ! -e "$T/img/inventory.img" ]
	wake_and_wait "$PID"
	assert_prog_ok
}
