//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * DNS answers: a UDP datagram received from port 53 (recvfrom, recvmsg,
 * read). User space parses it and remembers which names the answered
 * addresses belong to, so a later connect to one of them names its
 * destination.
 *
 * Hook: sys_exit handlers; the result is the datagram's length and the
 * buffer holds it. The source port comes from the address the kernel
 * filled in (recvfrom, recvmsg) or from the connected socket's peer
 * (read, as Go's resolver does). Oldest kernel: 6.1.
 *
 * Record NET_DNS_ANSWER (struct net_event + datagram head): hdr, dst =
 * the server (the datagram's source), src = the local socket, cookie,
 * bytes = datagram length, fd, sock_type, protocol, data = the first
 * DNS_ANSWER_MAX bytes.
 */

static __always_inline int record_dns_answer(struct task_struct *task,
					     struct tree *t, long fd,
					     struct file *f, struct sock *sk,
					     const struct net_addr *from,
					     const void *buf, long ret)
{
	struct net_addr peer, local;
	struct net_buf *b;
	__u64 len = ret;

	sock_addrs(sk, &peer, &local);
	if (from && from->family)
		peer = *from;
	if (peer.port != DNS_PORT || !inet_family(peer.family) ||
	    BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
		return 0;
	if (!(b = net_scratch_buf()))
		return 0;
	net_event_init(&b->ev, NET_DNS_ANSWER, task, t, 0);
	b->ev.dst = peer;
	b->ev.src = local;
	b->ev.cookie = (__u64)f;
	b->ev.bytes = len;
	b->ev.fd = fd;
	b->ev.sock_type = BPF_CORE_READ(sk, sk_type);
	b->ev.protocol = IPPROTO_UDP;
	if (len > DNS_ANSWER_MAX) {
		len = DNS_ANSWER_MAX;
		b->ev.nflags |= NFLAG_PAYLOAD_CUT;
	}
	if (bpf_probe_read_user(b->data, len & (2 * DNS_ANSWER_MAX - 1), buf))
		len = 0;
	net_event_submit(b, len);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_recvfrom, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long fd;
	struct net_addr from;
	struct tree *t;
	struct file *f;
	struct sock *sk;
	int alen = 0;

	if (!(sk = sock_arg(task, regs, ret, &t, &fd, &f)))
		return 0;
	/* The kernel wrote the source address and its length back. */
	bpf_probe_read_user(&alen, sizeof(alen), (const void *)regs->r9);
	read_sockaddr((const void *)SC_ARG4(regs), alen, &from, NULL, NULL);
	return record_dns_answer(task, t, fd, f, sk, &from,
				 (const void *)SC_ARG1(regs), ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_recvmsg, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long fd;
	struct user_msghdr m = {};
	struct net_addr from;
	struct tree *t;
	struct file *f;
	struct sock *sk;
	__u64 len;
	const void *buf;

	if (!(sk = sock_arg(task, regs, ret, &t, &fd, &f)))
		return 0;
	if (bpf_probe_read_user(&m, sizeof(m), (const void *)SC_ARG1(regs)))
		return 0;
	read_sockaddr(m.msg_name, m.msg_namelen, &from, NULL, NULL);
	buf = first_iov(m.msg_iov, &len);
	if (len < (__u64)ret)
		ret = len;
	return record_dns_answer(task, t, fd, f, sk, &from, buf, ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_read, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long fd;
	struct tree *t;
	struct file *f;
	struct sock *sk;

	if (!(sk = sock_arg(task, regs, ret, &t, &fd, &f)))
		return 0;
	return record_dns_answer(task, t, fd, f, sk, NULL,
				 (const void *)SC_ARG1(regs), ret);
}
