//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sendto, sendmsg, sendmmsg: data sent on a socket, added to the totals
 * per (process, descriptor) and destination (include/net.h). write and
 * writev on sockets take the same path (file/write.bpf.c).
 *
 * Hook: sys_exit handlers, where the result is the byte count (message
 * count for sendmmsg). The destination is the address passed, if any,
 * else the socket's peer. The first send of a descriptor also sends the
 * first NET_PAYLOAD_MAX bytes of its first buffer to user space, which
 * parses DNS queries, HTTP request lines and TLS ClientHellos from it;
 * payload bytes are never stored. Oldest kernel: 6.1.
 *
 * Record NET_SEND_START (struct net_event + payload head): hdr, dst, src,
 * cookie, bytes = length of the first buffer, fd, sock_type, protocol.
 * Record NET_SEND_END (struct net_event): hdr, dst, src, cookie, bytes,
 * packets, first = ktime of the first send, fd, sock_type, protocol.
 */

#define SENDMMSG_MAX 16

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_sendto, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long fd;
	struct net_addr dst;
	struct tree *t;
	struct file *f;
	struct sock *sk;

	if (!(sk = sock_arg(task, regs, ret, &t, &fd, &f)))
		return 0;
	read_sockaddr((const void *)SC_ARG4(regs), (int)regs->r9, &dst, NULL, NULL);
	return track_send(task, t, fd, sk, f, &dst, ret, 1,
			  (const void *)SC_ARG1(regs), SC_ARG2(regs));
}

/* The destination and first buffer of a user_msghdr. */
static __always_inline const void *msg_parts(const struct user_msghdr *um,
					     struct net_addr *dst, __u64 *len)
{
	struct user_msghdr m = {};

	*len = 0;
	__builtin_memset(dst, 0, sizeof(*dst));
	if (bpf_probe_read_user(&m, sizeof(m), um))
		return NULL;
	read_sockaddr(m.msg_name, m.msg_namelen, dst, NULL, NULL);
	if (!m.msg_iovlen)
		return NULL;
	return first_iov(m.msg_iov, len);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_sendmsg, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long fd;
	struct net_addr dst;
	const void *buf;
	struct tree *t;
	struct file *f;
	struct sock *sk;
	__u64 len;

	if (!(sk = sock_arg(task, regs, ret, &t, &fd, &f)))
		return 0;
	buf = msg_parts((const struct user_msghdr *)SC_ARG1(regs), &dst, &len);
	return track_send(task, t, fd, sk, f, &dst, ret, 1, buf, len);
}

/*
 * sendmmsg: ret messages went out; their byte counts are in msg_len. The
 * destination and payload head are those of the first message.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_sendmmsg, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct mmsghdr *vec = (struct mmsghdr *)SC_ARG1(regs);
	long fd;
	struct net_addr dst;
	__u64 bytes = 0, len;
	const void *buf;
	struct tree *t;
	struct file *f;
	struct sock *sk;

	if (!(sk = sock_arg(task, regs, ret, &t, &fd, &f)))
		return 0;
	for (int i = 0; i < SENDMMSG_MAX && i < ret; i++) {
		__u32 n = 0;

		bpf_probe_read_user(&n, sizeof(n), &vec[i].msg_len);
		bytes += n;
	}
	if (ret > SENDMMSG_MAX)
		count_drop(DROP_TRUNCATED, EVENT_NET);
	buf = msg_parts(&vec[0].msg_hdr, &dst, &len);
	return track_send(task, t, fd, sk, f, &dst, bytes, ret, buf, len);
}
