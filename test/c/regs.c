/*
 * regs.c - do CPU registers survive a checkpoint/restore?
 *
 *   regs READY_FILE
 *
 * One inline asm block loads known values into the x87 stack and control
 * word, MXCSR, XMM0-15, the upper halves of YMM0-15 (with AVX), ZMM0-31 and
 * k0-7 (only when AVX-512 is enabled in XCR0), PKRU (when the OS enabled
 * protection keys), EFLAGS.DF and ten general-purpose registers (rbx, rbp,
 * rdx, r8-r10, r12-r15), then loops in a raw rt_sigsuspend until the SIGUSR2
 * handler sets a flag, then stores everything back to memory before any
 * compiled code can touch a register.  C then compares value by value.
 *
 * The kernel saves the whole register file in the signal frame and puts it
 * back on sigreturn, so the values survive the wake-up itself; only a
 * checkpoint/restore that loses or mangles state can change them.
 *
 * Why rt_sigsuspend and not pause: SIGUSR2 stays blocked except inside the
 * syscall.  A restore resumes an interrupted syscall by re-executing the
 * `syscall` instruction, past the flag test; a SIGUSR2 handled just before
 * that re-execution would leave pause() sleeping forever, while a pending
 * blocked SIGUSR2 makes rt_sigsuspend return at once.
 *
 * All operands are globals addressed %rip-relative from the asm, so the
 * block needs no register for an address and every GPR but rax, rcx, r11
 * (syscall's) and rdi, rsi (its arguments) can carry a value.  rbp may be
 * the frame pointer: it is parked in a global, never on the stack (the red
 * zone below %rsp may hold the compiler's locals).
 *
 * A reference run of the same block that does not wait gives the values of
 * what cannot be written directly (x87 status and tag words); it must
 * also reproduce every input, or set-up fails.
 *
 * CS_TEST_CORRUPT=REG makes the SIGUSR2 handler change REG in the signal
 * frame, i.e. in what sigreturn loads back: rbx rbp rdx r8 r10 r12 r15 rdi
 * df xmm3 xmm15 st2 fcw mxcsr ymmh7 zmmh9 zmm20 k5 pkru.  Modes this CPU
 * cannot do exit 77.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "tprog.h"

_Static_assert(SYS_rt_sigsuspend == 130, "the asm below hard-codes rt_sigsuspend");

/* ---- the asm block's operands (globals: see the comment at the top) ---- */

#define NGPR 10
static const char *const gpr_names[NGPR] = {
	"rbx", "rbp", "rdx", "r8", "r9", "r10", "r12", "r13", "r14", "r15",
};
static const int gpr_greg[NGPR] = {
	REG_RBX, REG_RBP, REG_RDX, REG_R8, REG_R9, REG_R10, REG_R12, REG_R13, REG_R14, REG_R15,
};

__attribute__((used, aligned(64))) uint8_t regs_vec_in[32][64], regs_vec_out[32][64];
__attribute__((used, aligned(16))) uint8_t regs_st_in[8][16], regs_st_out[8][16];
__attribute__((used)) uint8_t regs_fenv_out[28];
__attribute__((used)) uint64_t regs_gpr_in[NGPR], regs_gpr_out[NGPR];
__attribute__((used)) uint64_t regs_k_in[8], regs_k_out[8];
__attribute__((used)) uint64_t regs_rdi_out, regs_rsi_out, regs_flags_out, regs_saved_rbp;
__attribute__((used)) uint64_t regs_sigmask;	/* rt_sigsuspend's mask: nothing blocked */
__attribute__((used)) uint32_t regs_mxcsr_in, regs_mxcsr_out, regs_mxcsr_default = 0x1f80;
__attribute__((used)) uint32_t regs_pkru_in, regs_pkru_out, regs_pkru_default;
__attribute__((used)) uint16_t regs_fcw_in, regs_fcw_out;
__attribute__((used)) int32_t regs_three = 3;
__attribute__((used)) int regs_have_avx, regs_have_avx512, regs_have_avx512bw, regs_have_pkru;
__attribute__((used)) volatile int regs_woken;

#define R8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define R16(M) R8(M) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define R16HI(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) \
	M(24) M(25) M(26) M(27) M(28) M(29) M(30) M(31)

#define LD_ST(i)   "fldt regs_st_in+16*" #i "(%%rip)\n\t"
#define ST_ST(i)   "fstpt regs_st_out+16*" #i "(%%rip)\n\t"
#define LD_XMM(i)  "movdqu regs_vec_in+64*" #i "(%%rip), %%xmm" #i "\n\t"
#define ST_XMM(i)  "movdqu %%xmm" #i ", regs_vec_out+64*" #i "(%%rip)\n\t"
#define LD_YMM(i)  "vmovdqu regs_vec_in+64*" #i "(%%rip), %%ymm" #i "\n\t"
#define ST_YMM(i)  "vmovdqu %%ymm" #i ", regs_vec_out+64*" #i "(%%rip)\n\t"
#define LD_ZMM(i)  "vmovdqu64 regs_vec_in+64*" #i "(%%rip), %%zmm" #i "\n\t"
#define ST_ZMM(i)  "vmovdqu64 %%zmm" #i ", regs_vec_out+64*" #i "(%%rip)\n\t"
#define LD_KQ(i)   "kmovq regs_k_in+8*" #i "(%%rip), %%k" #i "\n\t"
#define ST_KQ(i)   "kmovq %%k" #i ", regs_k_out+8*" #i "(%%rip)\n\t"
#define LD_KW(i)   "kmovw regs_k_in+8*" #i "(%%rip), %%k" #i "\n\t"
#define ST_KW(i)   "kmovw %%k" #i ", regs_k_out+8*" #i "(%%rip)\n\t"

#define GPR_IO(op, a, b) \
	op(rbx, 0, a, b) op(rbp, 1, a, b) op(rdx, 2, a, b) op(r8, 3, a, b) op(r9, 4, a, b) \
	op(r10, 5, a, b) op(r12, 6, a, b) op(r13, 7, a, b) op(r14, 8, a, b) op(r15, 9, a, b)
#define LD_GPR(r, i, a, b) "movq regs_gpr_in+8*" #i "(%%rip), %%" #r "\n\t"
#define ST_GPR(r, i, a, b) "movq %%" #r ", regs_gpr_out+8*" #i "(%%rip)\n\t"

/* Built with AVX-512 enabled (-march=native on such a machine), the compiler
 * may keep values in xmm16-31 and k0-7 too. */
#ifdef __AVX512F__
#define AVX512_CLOBBERS , \
	"xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", \
	"xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", \
	"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"
#else
#define AVX512_CLOBBERS
#endif

/*
 * Load everything, wait for regs_woken, store everything.  noinline: it runs
 * twice (reference run, real run) and must be one piece of code.
 */
static __attribute__((noinline)) void regs_run(void)
{
	asm volatile(
		/* x87: set PE in the status word with an inexact 1/3, empty the
		 * stack again, then the control word and eight values. */
		"fninit\n\t"
		"fld1\n\t"
		"fidivl regs_three(%%rip)\n\t"
		"fstp %%st(0)\n\t"
		"fldcw regs_fcw_in(%%rip)\n\t"
		R8(LD_ST)
		"ldmxcsr regs_mxcsr_in(%%rip)\n\t"
		R16(LD_XMM)
		"cmpl $0, regs_have_avx(%%rip)\n\t"
		"je 1f\n\t"
		R16(LD_YMM)
		"cmpl $0, regs_have_avx512(%%rip)\n\t"
		"je 1f\n\t"
		R16(LD_ZMM) R16HI(LD_ZMM)
		"cmpl $0, regs_have_avx512bw(%%rip)\n\t"
		"je 5f\n\t"
		R8(LD_KQ)
		"jmp 1f\n"
		"5:\n\t"
		R8(LD_KW)
		"1:\n\t"
		/* wrpkru wants ecx = edx = 0: before the GPRs get their values */
		"cmpl $0, regs_have_pkru(%%rip)\n\t"
		"je 2f\n\t"
		"xorl %%ecx, %%ecx\n\t"
		"xorl %%edx, %%edx\n\t"
		"movl regs_pkru_in(%%rip), %%eax\n\t"
		"wrpkru\n"
		"2:\n\t"
		"movq %%rbp, regs_saved_rbp(%%rip)\n\t"
		GPR_IO(LD_GPR, 0, 0)
		"std\n\t"
		/* wait: rt_sigsuspend(&regs_sigmask, 8) until the handler ran;
		 * the kernel keeps rdi and rsi, and so must a restore */
		"leaq regs_sigmask(%%rip), %%rdi\n\t"
		"movl $8, %%esi\n"
		"3:\n\t"
		"cmpl $0, regs_woken(%%rip)\n\t"
		"jne 4f\n\t"
		"movl $130, %%eax\n\t"
		"syscall\n\t"
		"jmp 3b\n"
		"4:\n\t"
		/* EFLAGS first, clear of the red zone; then DF back to 0 as
		 * the ABI requires before anything else runs. */
		"leaq -128(%%rsp), %%rsp\n\t"
		"pushfq\n\t"
		"popq regs_flags_out(%%rip)\n\t"
		"leaq 128(%%rsp), %%rsp\n\t"
		"cld\n\t"
		GPR_IO(ST_GPR, 0, 0)
		"movq %%rdi, regs_rdi_out(%%rip)\n\t"
		"movq %%rsi, regs_rsi_out(%%rip)\n\t"
		"movq regs_saved_rbp(%%rip), %%rbp\n\t"
		"cmpl $0, regs_have_pkru(%%rip)\n\t"
		"je 6f\n\t"
		"xorl %%ecx, %%ecx\n\t"
		"rdpkru\n\t"
		"movl %%eax, regs_pkru_out(%%rip)\n\t"
		"xorl %%ecx, %%ecx\n\t"
		"xorl %%edx, %%edx\n\t"
		"movl regs_pkru_default(%%rip), %%eax\n\t"
		"wrpkru\n"
		"6:\n\t"
		"stmxcsr regs_mxcsr_out(%%rip)\n\t"
		"fnstcw regs_fcw_out(%%rip)\n\t"
		"fnstenv regs_fenv_out(%%rip)\n\t"
		R8(ST_ST)
		"fninit\n\t"
		"cmpl $0, regs_have_avx512(%%rip)\n\t"
		"je 7f\n\t"
		R16(ST_ZMM) R16HI(ST_ZMM)
		"cmpl $0, regs_have_avx512bw(%%rip)\n\t"
		"je 9f\n\t"
		R8(ST_KQ)
		"jmp 8f\n"
		"9:\n\t"
		R8(ST_KW)
		"jmp 8f\n"
		"7:\n\t"
		"cmpl $0, regs_have_avx(%%rip)\n\t"
		"je 10f\n\t"
		R16(ST_YMM)
		"jmp 8f\n"
		"10:\n\t"
		R16(ST_XMM)
		"8:\n\t"
		"cmpl $0, regs_have_avx(%%rip)\n\t"
		"je 11f\n\t"
		"vzeroupper\n"
		"11:\n\t"
		"ldmxcsr regs_mxcsr_default(%%rip)\n\t"
		:
		:
		: "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
		  "r12", "r13", "r14", "r15", "memory", "cc",
		  "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)",
		  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"
		  AVX512_CLOBBERS);
}

/* ---- CPU features, from the running CPU and OS (never from headers) ---- */

static uint64_t xcr0;

static void detect_cpu(void)
{
	unsigned a, b, c, d, max;

	max = __get_cpuid_max(0, NULL);
	__cpuid(1, a, b, c, d);
	int osxsave = !!(c & (1u << 27));
	int avx = !!(c & (1u << 28));

	if (osxsave) {
		unsigned lo, hi;
		asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		xcr0 = (uint64_t)hi << 32 | lo;
	}
	regs_have_avx = osxsave && avx && (xcr0 & 0x6) == 0x6;
	if (max >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		/* opmask, ZMM_Hi256, Hi16_ZMM: all three or no AVX-512 */
		regs_have_avx512 = regs_have_avx && (b & (1u << 16)) && (xcr0 & 0xe0) == 0xe0;
		regs_have_avx512bw = regs_have_avx512 && (b & (1u << 30));
		/* CPUID.7.ECX.OSPKE: the OS set CR4.PKE */
		regs_have_pkru = !!(c & (1u << 4)) && (xcr0 & 0x200);
	}
}

/* Offset of xsave component N in the standard (uncompacted) layout, the
 * layout of the signal frame. */
static unsigned xstate_offset(unsigned n)
{
	unsigned a, b, c, d;

	__cpuid_count(0xd, n, a, b, c, d);
	return b;
}

static uint32_t mxcsr_mask(void)
{
	uint8_t area[512] __attribute__((aligned(16)));
	uint32_t m;

	memset(area, 0, sizeof(area));
	asm volatile("fxsave %0" : "=m"(area));
	memcpy(&m, area + 28, 4);
	return m ? m : 0xffbf;	/* 0: CPU predates the field, no DAZ */
}

/* ---- values ---------------------------------------------------------- */

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void set_up_values(void)
{
	for (int i = 0; i < 32; i++)
		for (int w = 0; w < 8; w++) {
			uint64_t v = splitmix(0x7e9000 + i * 8 + w);
			memcpy(&regs_vec_in[i][w * 8], &v, 8);
		}
	/* 80-bit normal numbers with all 64 significand bits in use: a restore
	 * that goes through double would lose the low 11 bits. */
	for (int i = 0; i < 8; i++) {
		uint64_t mant = splitmix(0x87000 + i) | 1ull << 63;
		uint16_t se = (uint16_t)((0x3fff + 7 * i - 20) | (i & 1) << 15);
		memset(regs_st_in[i], 0, 16);
		memcpy(regs_st_in[i], &mant, 8);
		memcpy(regs_st_in[i] + 8, &se, 2);
	}
	/* precision: double (not the default extended), rounding: down;
	 * all exceptions stay masked */
	regs_fcw_in = 0x067f;
	/* all masked; rounding up; FZ; DAZ if the CPU has it; IE and PE set */
	regs_mxcsr_in = (0x1f80 | 0x4000 | 0x8000 | 0x0040 | 0x0021) & mxcsr_mask();
	for (int i = 0; i < NGPR; i++)
		regs_gpr_in[i] = splitmix(0x69700 + i);
	for (int i = 0; i < 8; i++) {
		regs_k_in[i] = splitmix(0x4b00 + i);
		if (!regs_have_avx512bw)
			regs_k_in[i] &= 0xffff;
	}
	if (regs_have_pkru) {
		uint32_t lo, hi;
		asm volatile("rdpkru" : "=a"(lo), "=d"(hi) : "c"(0));
		regs_pkru_default = lo;
		/* keys 1 and 15 (unused here) also write-disabled; key 0,
		 * which every mapping has, keeps its access */
		regs_pkru_in = lo | 0xc000000c;
		if (regs_pkru_in == lo)
			regs_pkru_in = lo ^ 0x80000000;
	}
}

/* ---- compare ----------------------------------------------------------- */

/* x87 status and tag words from the reference run */
static uint16_t ref_fsw, ref_ftw;
static unsigned nchecked;

static void compare(void)
{
	char what[64];
	uint16_t fsw, ftw;

	for (int i = 0; i < NGPR; i++)
		tp_check_u64(gpr_names[i], regs_gpr_out[i], regs_gpr_in[i]);
	tp_check_u64("rdi", regs_rdi_out, (uintptr_t)&regs_sigmask);
	tp_check_u64("rsi", regs_rsi_out, 8);
	tp_check_u64("eflags.DF", regs_flags_out & 0x400, 0x400);
	nchecked += NGPR + 3;

	/* fstpt pops st(0) first: out[j] is in[7 - j] */
	for (int j = 0; j < 8; j++) {
		snprintf(what, sizeof(what), "st(%d)", j);
		tp_check_bytes(what, regs_st_out[j], regs_st_in[7 - j], 10);
	}
	tp_check_u64("x87 fcw", regs_fcw_out, regs_fcw_in);
	memcpy(&fsw, regs_fenv_out + 4, 2);
	memcpy(&ftw, regs_fenv_out + 8, 2);
	tp_check_u64("x87 fsw", fsw, ref_fsw);
	tp_check_u64("x87 tag word", ftw, ref_ftw);
	tp_check_u64("mxcsr", regs_mxcsr_out, regs_mxcsr_in);
	nchecked += 8 + 4;

	for (int i = 0; i < 16; i++) {
		snprintf(what, sizeof(what), "xmm%d", i);
		tp_check_bytes(what, regs_vec_out[i], regs_vec_in[i], 16);
		if (regs_have_avx) {
			snprintf(what, sizeof(what), "ymm%d upper half", i);
			tp_check_bytes(what, regs_vec_out[i] + 16, regs_vec_in[i] + 16, 16);
			nchecked++;
		}
		if (regs_have_avx512) {
			snprintf(what, sizeof(what), "zmm%d upper half", i);
			tp_check_bytes(what, regs_vec_out[i] + 32, regs_vec_in[i] + 32, 32);
			nchecked++;
		}
		nchecked++;
	}
	if (regs_have_avx512) {
		for (int i = 16; i < 32; i++) {
			snprintf(what, sizeof(what), "zmm%d", i);
			tp_check_bytes(what, regs_vec_out[i], regs_vec_in[i], 64);
		}
		for (int i = 0; i < 8; i++) {
			snprintf(what, sizeof(what), "k%d", i);
			/* kmovw (no AVX512BW) stores only 16 bits */
			uint64_t mask = regs_have_avx512bw ? ~0ull : 0xffff;
			tp_check_u64(what, regs_k_out[i] & mask, regs_k_in[i]);
		}
		nchecked += 16 + 8;
	}
	if (regs_have_pkru) {
		tp_check_u64("pkru", regs_pkru_out, regs_pkru_in);
		nchecked++;
	}
}

static void clear_out(void)
{
	memset(regs_vec_out, 0xdd, sizeof(regs_vec_out));
	memset(regs_st_out, 0xdd, sizeof(regs_st_out));
	memset(regs_fenv_out, 0xdd, sizeof(regs_fenv_out));
	memset(regs_gpr_out, 0xdd, sizeof(regs_gpr_out));
	memset(regs_k_out, 0xdd, sizeof(regs_k_out));
	regs_rdi_out = regs_rsi_out = regs_flags_out = 0xdddddddd;
	regs_mxcsr_out = regs_pkru_out = 0xdddddddd;
	regs_fcw_out = 0xdddd;
}

/* ---- negative control: break one register in the signal frame ---------- */

static const char *const corrupt_modes[] = {
	"rbx", "rbp", "rdx", "r8", "r10", "r12", "r15", "rdi", "df",
	"xmm3", "xmm15", "st2", "fcw", "mxcsr", "ymmh7", "zmmh9", "zmm20", "k5", "pkru",
	NULL,
};

/* What the frame's xsave area needs for MODE: component number, or -1. */
static int corrupt_component(const char *m)
{
	if (!strcmp(m, "ymmh7"))
		return regs_have_avx ? 2 : -2;
	if (!strcmp(m, "k5"))
		return regs_have_avx512 ? 5 : -2;
	if (!strcmp(m, "zmmh9"))
		return regs_have_avx512 ? 6 : -2;
	if (!strcmp(m, "zmm20"))
		return regs_have_avx512 ? 7 : -2;
	if (!strcmp(m, "pkru"))
		return regs_have_pkru ? 9 : -2;
	return -1;
}

static unsigned corrupt_off;	/* byte offset in the frame's xsave area */
static int corrupt_comp = -1;

static void corrupt_frame(ucontext_t *uc)
{
	const char *m = tp_corrupt_mode();
	struct _libc_fpstate *fp = uc->uc_mcontext.fpregs;
	uint8_t *xs = (uint8_t *)fp;

	for (int i = 0; i < NGPR; i++)
		if (!strcmp(m, gpr_names[i]))
			uc->uc_mcontext.gregs[gpr_greg[i]] ^= 0x100;
	if (!strcmp(m, "rdi"))
		uc->uc_mcontext.gregs[REG_RDI] ^= 0x100;
	if (!strcmp(m, "df"))
		uc->uc_mcontext.gregs[REG_EFL] &= ~0x400;
	if (!strcmp(m, "xmm3"))
		fp->_xmm[3].element[0] ^= 1;
	if (!strcmp(m, "xmm15"))
		fp->_xmm[15].element[3] ^= 0x80000000u;
	if (!strcmp(m, "st2"))
		fp->_st[2].significand[0] ^= 1;	/* the lowest bit: lost by a double */
	if (!strcmp(m, "fcw"))
		fp->cwd ^= 0x0c00;
	if (!strcmp(m, "mxcsr"))
		fp->mxcsr ^= 0x2000;
	if (corrupt_comp >= 0) {
		uint32_t magic1;
		uint64_t feat, bv;

		memcpy(&magic1, xs + 464, 4);
		memcpy(&feat, xs + 472, 8);
		if (magic1 != 0x46505853u || !(feat & 1ull << corrupt_comp))
			return;	/* caught by the check: the value will be right */
		xs[corrupt_off] ^= 1;
		memcpy(&bv, xs + 512, 8);	/* XSTATE_BV: component in use */
		bv |= 1ull << corrupt_comp;
		memcpy(xs + 512, &bv, 8);
	}
}

static void on_usr2(int sig, siginfo_t *si, void *uc)
{
	if (regs_woken)
		return;
	if (tp_corrupt_mode())
		corrupt_frame(uc);
	regs_woken = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	tp_init("regs", argc, argv);
	tp_corrupt_check_mode(corrupt_modes);
	detect_cpu();

	if (tp_corrupt_mode()) {
		corrupt_comp = corrupt_component(tp_corrupt_mode());
		if (corrupt_comp == -2) {
			tp_log("CS_TEST_CORRUPT=%s: this CPU or OS lacks that register; skipped",
			       tp_corrupt_mode());
			return TP_EXIT_SKIP;
		}
		if (corrupt_comp >= 0) {
			const unsigned base = xstate_offset(corrupt_comp);
			const char *m = tp_corrupt_mode();
			corrupt_off = base;
			if (!strcmp(m, "ymmh7"))
				corrupt_off += 16 * 7;
			else if (!strcmp(m, "k5"))
				corrupt_off += 8 * 5;
			else if (!strcmp(m, "zmmh9"))
				corrupt_off += 32 * 9;
			else if (!strcmp(m, "zmm20"))
				corrupt_off += 64 * (20 - 16);
			else if (!strcmp(m, "pkru"))
				corrupt_off += 3;	/* bit 24: key 12 access-disable */
		}
	}
	if (!regs_have_avx)
		tp_log("note: AVX not enabled (XCR0 0x%llx): upper YMM halves not checked",
		       (unsigned long long)xcr0);
	if (!regs_have_avx512)
		tp_log("note: AVX-512 not enabled (XCR0 0x%llx): ZMM and k registers not checked",
		       (unsigned long long)xcr0);

	set_up_values();

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr2;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGUSR2, &sa, NULL) < 0)
		tp_die("sigaction SIGUSR2");
	tp_block_usr2();	/* unblocked only inside rt_sigsuspend */

	/* Reference run: the same block, not waiting. */
	clear_out();
	regs_woken = 1;
	regs_run();
	memcpy(&ref_fsw, regs_fenv_out + 4, 2);
	memcpy(&ref_ftw, regs_fenv_out + 8, 2);
	compare();
	if (tp_ndiff)
		tp_die("the reference run does not give back its own inputs");
	nchecked = 0;

	clear_out();
	regs_woken = 0;
	tp_write_ready(argv[1]);
	regs_run();		/* waits for SIGUSR2 */
	compare();
	tp_finish(nchecked);
}
