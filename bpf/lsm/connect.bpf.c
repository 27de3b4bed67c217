//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * socket_connect: the destination of a connect, as the kernel copied it.
 *
 * Hook: BPF LSM (lsm/socket_connect), inside connect, with the sockaddr
 * already copied into kernel memory. The tracepoint path reads the
 * process's own copy at exit, which another thread may have rewritten
 * since; this one cannot be. The destination waits in the task's
 * net_stash for the exit handler (net/connect.bpf.c), which sends the
 * record with the result (NFLAG_ADDR_KERNEL). Needs CONFIG_BPF_LSM with
 * bpf in the active LSMs. Oldest kernel: 6.1.
 */

SEC("lsm/socket_connect")
int BPF_PROG(vigil_lsm_connect, struct socket *sock, struct sockaddr *address,
	     int addrlen, int ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct net_stash *s;
	struct pt_regs *regs;
	struct tree *t;
	__u16 path_len = 0;

	if (!syscall_in_scope(task, &t) || !stash_allowed(task))
		return ret;
	s = bpf_task_storage_get(&net_stash, task, 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s)
		return ret;
	s->nr = 0;
	if (!read_sockaddr_from(address, addrlen, &s->dst, s->path, &path_len,
				true))
		return ret;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	s->path_len = path_len;
	s->arg0 = SC_ARG0(regs);
	s->arg1 = SC_ARG1(regs);
	s->nr = regs->orig_ax;
	return ret;
}
