//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * connect: a socket was connected (or the attempt started or failed).
 *
 * Hook: sys_exit handler (see syscall/dispatch.bpf.c). The destination is
 * the sockaddr the process passed; the local address is the one the
 * kernel bound, read from the sock after the call. -EINPROGRESS is a
 * non-blocking connect under way. Only IPv4, IPv6 and UNIX sockets are
 * recorded. Where the LSM programs run (lsm/connect.bpf.c), the
 * destination is the kernel's own copy of the sockaddr, taken by
 * lsm/socket_connect (NFLAG_ADDR_KERNEL): a thread rewriting the
 * process's sockaddr after the kernel copied it cannot change what is
 * recorded. Oldest kernel: 6.1.
 *
 * Record (struct net_event, op NET_CONNECT), in order:
 *   hdr        common header
 *   dst        destination address and port (family AF_UNIX: path in data)
 *   src        local address and port, when bound
 *   cookie     the socket's struct file address
 *   ret        0 or -errno
 *   fd         the socket
 *   sock_type  SOCK_STREAM, SOCK_DGRAM, ...
 *   protocol   IPPROTO_TCP, IPPROTO_UDP, ...
 *   data       AF_UNIX path (abstract names start with NUL)
 */

/*
 * Takes the destination lsm/socket_connect stashed inside the connect now
 * exiting, if there is one; the stash is emptied either way.
 */
static __always_inline bool take_net_stash(struct task_struct *task,
					   const struct pt_regs *regs,
					   struct net_buf *b, __u16 *path_len)
{
	struct net_stash *s;
	bool ok = false;

	if (!use_lsm)
		return false;
	s = bpf_task_storage_get(&net_stash, task, 0, 0);
	if (!s || !s->nr)
		return false;
	if (stash_is_for(s->nr, s->arg0, s->arg1, regs)) {
		__u16 n = s->path_len & 127;

		b->ev.dst = s->dst;
		if (n <= sizeof(s->path) && !bpf_probe_read_kernel(b->data, n, s->path))
			*path_len = n;
		ok = true;
	}
	s->nr = 0;
	return ok;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_connect, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long fd = (int)SC_ARG0(regs);
	struct net_addr local;
	struct net_buf *b;
	struct tree *t;
	struct file *f;
	struct sock *sk;
	__u16 path_len = 0;

	if (!syscall_in_scope(task, &t) || !(b = net_scratch_buf()))
		return 0;
	net_event_init(&b->ev, NET_CONNECT, task, t, ret);
	if (take_net_stash(task, regs, b, &path_len))
		b->ev.nflags |= NFLAG_ADDR_KERNEL;
	else if (!read_sockaddr((const void *)SC_ARG1(regs), (int)SC_ARG2(regs),
				&b->ev.dst, b->data, &path_len))
		count_drop(DROP_READ_FAILED, EVENT_NET);
	if (!inet_family(b->ev.dst.family) && b->ev.dst.family != AF_UNIX)
		return 0;
	b->ev.fd = fd;
	f = fd_file(task, fd);
	if ((sk = file_sock(f))) {
		struct net_addr peer;

		b->ev.cookie = (__u64)f;
		b->ev.sock_type = BPF_CORE_READ(sk, sk_type);
		b->ev.protocol = BPF_CORE_READ(sk, sk_protocol);
		sock_addrs(sk, &peer, &local);
		if (inet_family(local.family))
			b->ev.src = local;
	}
	net_event_submit(b, path_len);
	return 0;
}
