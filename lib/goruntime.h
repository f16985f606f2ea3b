/*
 * Reading a Go 1.19+ runtime's heap metadata from outside the process, to
 * tell which pages hold no live object (shared/GO-RUNTIME.md: rules A, S, K
 * and the manual-span rule). Addresses come from .symtab, every offset, size
 * and constant from DWARF; anything unexpected refuses rather than guesses.
 */
#ifndef CS_GORUNTIME_H
#define CS_GORUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Class of a 4 KiB page inside the Go heap arenas. */
enum go_page_class {
	GO_OUTSIDE = 0,		/* not in a heap arena: runtime or other memory, live */
	GO_HEAP_LIVE,
	GO_HEAP_DEAD,		/* free page, or in-use span page overlapping no allocated object */
	GO_STACK_LIVE,		/* manual span memory: stacks in use, free stack chunks, GC buffers */
	GO_STACK_DEAD,		/* below SP of a parked goroutine */
};

struct go_rt;

struct go_stats {
	uint32_t gc_phase;		/* runtime.gcphase at the freeze (0: _GCoff) */
	uint64_t unswept_spans;		/* in-use spans not swept in this cycle yet (or being swept) */
	uint64_t spans_marked;		/* of those, judged by their mark bits (rule M) */
	uint64_t spans;			/* in-use and manual spans */
	uint64_t spans_skipped;		/* in-use spans not classified: need() said no */
	char version[32];		/* runtime.buildVersion, e.g. "go1.19.8" */
};

/*
 * go_rt_open - parse the ELF symbols and DWARF of the executable at path
 * (e.g. /proc/PID/exe), before the process is frozen. Returns a handle, or
 * NULL with why (len bytes) saying what is missing: "not an ELF file",
 * "not a Go binary", "no DWARF (built with -ldflags=-w?)", "DWARF has no
 * runtime.mspan.allocBits", "PIE binaries are not supported"...
 */
struct go_rt *go_rt_open(const char *path, char *why, size_t len);
void go_rt_close(struct go_rt *rt);

/*
 * go_rt_classify - with every thread of pid stopped, read mheap_, its spans
 * and allocation bitmaps, and allgs (process_vm_readv, 1024 iovecs a call),
 * and build the class of every page of the heap arenas. sp[] holds the RSP
 * of each of the nsp threads (rule K lowers a parked goroutine's SP to a
 * thread's RSP inside the same stack). need, when not NULL, is asked for
 * each in-use span [start, end) (bytes) whether any of its pages will be
 * saved; a span it answers 0 for is neither read further nor judged: its
 * pages are GO_HEAP_LIVE and go_rt_free_slots skips it (an incremental
 * checkpoint needs only the spans written since its parent). Returns 0, or
 * -1 with why set when the metadata is inconsistent (the caller then saves
 * every page).
 */
int go_rt_classify(struct go_rt *rt, pid_t pid, const uint64_t *sp, int nsp,
		   int (*need)(uint64_t start, uint64_t end, void *arg), void *arg, struct go_stats *st,
		   char *why, size_t len);

/* go_rt_page_class - class of the 4 KiB page at addr after go_rt_classify. */
enum go_page_class go_rt_page_class(const struct go_rt *rt, uint64_t addr);

/*
 * go_rt_free_slots - after go_rt_classify, call fn(addr, len, arg) for every
 * run of free object slots (rule A) of the in-use spans not being swept
 * (rule S): memory that the runtime treats as free and may hold anything,
 * so zeros are as good as its contents (GO-RUNTIME.md, "Why zero is safe").
 * Returns the bytes reported.
 */
uint64_t go_rt_free_slots(const struct go_rt *rt, void (*fn)(uint64_t addr, uint64_t len, void *arg), void *arg);

/*
 * go_rt_wait_gc - with pid running, poll (every 200 us, process_vm_readv of
 * 8 bytes) until a GC cycle's mark phase ends: mheap_.sweepgen changes while
 * runtime.gcphase is _GCoff (mark termination sets the phase, then adds 2 to
 * sweepgen: Go 1.19 mgc.go gcMarkTermination and gcSweep). Waits at most ms
 * milliseconds; *waited_us gets the time spent (us). Returns 1 when the end
 * of a cycle was seen, 0 after ms without one, -1 when the process's memory
 * cannot be read (errno from process_vm_readv: ESRCH when it is gone).
 */
int go_rt_wait_gc(const struct go_rt *rt, pid_t pid, unsigned ms, uint64_t *waited_us);
#endif
