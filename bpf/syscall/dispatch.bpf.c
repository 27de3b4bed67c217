//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sys_exit: the one entry point for every syscall Vigil reads.
 *
 * Hook: tp_btf/sys_exit(regs, ret), the raw syscall-exit tracepoint. At
 * exit the result is known and the user memory the syscall read is paged
 * in; the arguments are still in the saved user registers. One program
 * tail-calls into a handler per syscall number (sys_exit_handlers, filled
 * by user space), so each handler is verified on its own and a syscall
 * without a handler costs one failed tail call. Needs no tracefs, unlike
 * per-syscall tracepoints. Oldest kernel: 6.1 (tail calls from tp_btf
 * since 5.5).
 *
 * Every syscall of every process on the host passes here, so a process
 * that is certainly not tracked stops at the scope filter, one array
 * read, before the tail call and the handler's hash lookup.
 */

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_exit, struct pt_regs *regs, long ret)
{
	if (!trace_all && !maybe_tracked(bpf_get_current_pid_tgid() >> 32))
		return 0;
	bpf_tail_call(ctx, &sys_exit_handlers, (__u32)regs->orig_ax);
	return 0;
}
