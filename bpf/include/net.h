/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Sockets seen from syscalls: the struct sock behind a descriptor, its
 * addresses, addresses passed by user space, and the per-descriptor send
 * totals (the sends map) with their start and end records.
 */
#ifndef VIGIL_NET_H
#define VIGIL_NET_H

#include "syscall.h"
#include <bpf/bpf_endian.h>

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define S_IFSOCK 0140000
#define IPPROTO_UDP 17
#define DNS_PORT 53

/* The sock behind an open file, or NULL when it is not a socket. */
static __always_inline struct sock *file_sock(struct file *f)
{
	struct socket *so;

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	so = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(so, sk);
}

static __always_inline bool inet_family(__u16 family)
{
	return family == AF_INET || family == AF_INET6;
}

/* The peer (dst) and local (src) addresses of a sock. */
static __always_inline void sock_addrs(struct sock *sk, struct net_addr *dst,
				       struct net_addr *src)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	__builtin_memset(dst, 0, sizeof(*dst));
	__builtin_memset(src, 0, sizeof(*src));
	dst->family = family;
	src->family = family;
	if (family == AF_INET) {
		__be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__be32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);

		__builtin_memcpy(dst->addr, &d, 4);
		__builtin_memcpy(src->addr, &s, 4);
	} else if (family == AF_INET6) {
		/* BPF_CORE_READ_INTO would size the read by one array element. */
		bpf_core_read(dst->addr, sizeof(dst->addr), &sk->__sk_common.skc_v6_daddr);
		bpf_core_read(src->addr, sizeof(src->addr), &sk->__sk_common.skc_v6_rcv_saddr);
	} else {
		return;
	}
	dst->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	src->port = BPF_CORE_READ(sk, __sk_common.skc_num);
}

/* Reads n bytes of user memory, or of kernel memory when kern. */
static __always_inline long read_mem(void *dst, __u32 n, const void *src,
				     bool kern)
{
	return kern ? bpf_probe_read_kernel(dst, n, src) :
		      bpf_probe_read_user(dst, n, src);
}

/*
 * Reads a sockaddr, from user memory or (kern) the kernel's copy. An
 * AF_UNIX path goes to path (at most 108 bytes) with its length in
 * *path_len. Returns false when there is none or it cannot be read.
 */
static __always_inline bool read_sockaddr_from(const void *uaddr, long len,
					       struct net_addr *a, char *path,
					       __u16 *path_len, bool kern)
{
	__u16 family = 0;

	__builtin_memset(a, 0, sizeof(*a));
	if (path_len)
		*path_len = 0;
	if (!uaddr || len < 2 || read_mem(&family, 2, uaddr, kern))
		return false;
	a->family = family;
	if (family == AF_INET && len >= 8) {
		struct {
			__u16 family;
			__be16 port;
			__u8 addr[4];
		} in;
		if (read_mem(&in, sizeof(in), uaddr, kern))
			return false;
		a->port = bpf_ntohs(in.port);
		__builtin_memcpy(a->addr, in.addr, 4);
		return true;
	}
	if (family == AF_INET6 && len >= 24) {
		struct {
			__u16 family;
			__be16 port;
			__u32 flowinfo;
			__u8 addr[16];
		} in6;
		if (read_mem(&in6, sizeof(in6), uaddr, kern))
			return false;
		a->port = bpf_ntohs(in6.port);
		__builtin_memcpy(a->addr, in6.addr, 16);
		return true;
	}
	if (family == AF_UNIX && path && path_len) {
		long n = len - 2;

		if (n > 108)
			n = 108;
		if (n <= 0)
			return true; /* unnamed */
		if (read_mem(path, n & 127, (const char *)uaddr + 2, kern))
			return false;
		/* An abstract name starts with NUL and is not NUL-terminated. */
		if (path[0] != 0) {
			for (int i = 0; i < 108; i++) {
				if (i >= n || path[i] == 0) {
					n = i;
					break;
				}
			}
		}
		*path_len = n;
		return true;
	}
	return family == AF_INET || family == AF_INET6 ? false : true;
}

/* Reads a sockaddr passed by user space (see read_sockaddr_from). */
static __always_inline bool read_sockaddr(const void *uaddr, long len,
					  struct net_addr *a, char *path,
					  __u16 *path_len)
{
	return read_sockaddr_from(uaddr, len, a, path, path_len, false);
}

static __always_inline bool same_addr(const struct net_addr *a,
				      const struct net_addr *b)
{
	const __u64 *x = (const __u64 *)a->addr, *y = (const __u64 *)b->addr;

	return a->family == b->family && a->port == b->port && x[0] == y[0] &&
	       x[1] == y[1];
}

/* Resets the fixed part of a network record. */
static __always_inline void net_event_init(struct net_event *e, __u16 op,
					   struct task_struct *task,
					   const struct tree *t, long ret)
{
	fill_header(&e->hdr, EVENT_NET, sizeof(*e), task, t);
	__builtin_memset(&e->dst, 0, sizeof(e->dst));
	__builtin_memset(&e->src, 0, sizeof(e->src));
	e->cookie = 0;
	e->ret = ret;
	e->bytes = 0;
	e->packets = 0;
	e->first = 0;
	e->fd = -1;
	e->op = op;
	e->nflags = 0;
	e->sock_type = 0;
	e->protocol = 0;
	e->data_len = 0;
	e->_pad = 0;
}

static __always_inline struct net_buf *net_scratch_buf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&net_scratch, &zero);
}

/* Sends a network record built in scratch with @data_len payload bytes. */
static __always_inline void net_event_submit(struct net_buf *b, __u32 data_len)
{
	__u32 size = sizeof(b->ev) + (data_len & (VIGIL_PATH_MAX - 1));

	b->ev.data_len = data_len & (VIGIL_PATH_MAX - 1);
	b->ev.hdr.size = size;
	if (size > sizeof(*b))
		return;
	if (bpf_ringbuf_output(&events, b, size, rb_flags(size)))
		count_drop(DROP_RINGBUF_FULL, EVENT_NET);
}

static __always_inline void emit_send_end(struct task_struct *task,
					  const struct tree *t,
					  const struct write_key *k,
					  const struct send_agg *a, __u16 nflags)
{
	struct net_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_drop(DROP_RINGBUF_FULL, EVENT_NET);
		return;
	}
	net_event_init(e, NET_SEND_END, task, t, 0);
	e->dst = a->dst;
	e->src = a->src;
	e->cookie = a->file;
	e->bytes = a->bytes;
	e->packets = a->packets;
	e->first = a->first;
	e->fd = k->fd;
	e->nflags = nflags;
	e->sock_type = a->sock_type;
	e->protocol = a->protocol;
	bpf_ringbuf_submit(e, rb_flags(sizeof(*e)));
}

/* Counts one more or one less aggregation entry (writes or sends) for tgid. */
static __always_inline void writers_add(__u32 tgid, int delta)
{
	__u32 *n = bpf_map_lookup_elem(&writers, &tgid);

	if (n) {
		__sync_fetch_and_add(n, delta);
	} else if (delta > 0) {
		__u32 one = 1;

		bpf_map_update_elem(&writers, &tgid, &one, BPF_NOEXIST);
	}
}

/*
 * Adds a send to the totals of fd. dst, when its family is set, is the
 * explicit destination (sendto, sendmsg with a name); otherwise the
 * socket's peer. payload is the first buffer (len bytes) of the send,
 * whose head goes to user space with the first send of the descriptor.
 */
static __always_inline int track_send(struct task_struct *task,
				      struct tree *t, long fd,
				      struct sock *sk, struct file *f,
				      const struct net_addr *dst, __u64 bytes,
				      __u64 packets, const void *payload,
				      __u64 len)
{
	struct net_addr peer, local;
	struct write_key k;
	struct send_agg *a;
	struct net_buf *b;
	__u16 family;

	sock_addrs(sk, &peer, &local);
	family = peer.family;
	if (!inet_family(family) && family != AF_UNIX)
		return 0; /* netlink, packet, ...: not network traffic */
	if (dst && dst->family)
		peer = *dst;
	k.tgid = task->tgid;
	k.fd = fd;
	a = bpf_map_lookup_elem(&sends, &k);
	if (a && a->file == (__u64)f && same_addr(&a->dst, &peer)) {
		__sync_fetch_and_add(&a->bytes, bytes);
		__sync_fetch_and_add(&a->packets, packets);
		return 0;
	}
	if (a)
		emit_send_end(task, t, &k, a,
			      a->file == (__u64)f ? NFLAG_DEST_CHANGE : NFLAG_STALE);

	struct send_agg n = {
		.dst = peer,
		.src = local,
		.start = task->group_leader->start_boottime,
		.file = (__u64)f,
		.bytes = bytes,
		.packets = packets,
		.first = bpf_ktime_get_boot_ns(),
		.sock_type = BPF_CORE_READ(sk, sk_type),
		.protocol = BPF_CORE_READ(sk, sk_protocol),
	};
	if (bpf_map_update_elem(&sends, &k, &n, BPF_ANY)) {
		count_drop(DROP_AGG_FULL, EVENT_NET);
		return 0;
	}
	if (!a)
		writers_add(k.tgid, 1);

	/* The first send: destination and the head of the payload. */
	b = net_scratch_buf();
	if (!b)
		return 0;
	net_event_init(&b->ev, NET_SEND_START, task, t, 0);
	b->ev.dst = n.dst;
	b->ev.src = n.src;
	b->ev.cookie = n.file;
	b->ev.fd = fd;
	b->ev.sock_type = n.sock_type;
	b->ev.protocol = n.protocol;
	b->ev.bytes = len;
	if (len > NET_PAYLOAD_MAX) {
		len = NET_PAYLOAD_MAX;
		b->ev.nflags |= NFLAG_PAYLOAD_CUT;
	}
	if (!payload || bpf_probe_read_user(b->data, len & (2 * NET_PAYLOAD_MAX - 1), payload))
		len = 0;
	net_event_submit(b, len);
	return 0;
}

/* Reports and forgets the send totals of fd, if any. */
static __always_inline void close_send(struct task_struct *task,
				       struct tree *t, long fd)
{
	struct write_key k = { .tgid = task->tgid, .fd = fd };
	struct send_agg *a = bpf_map_lookup_elem(&sends, &k);

	if (!a)
		return;
	emit_send_end(task, t, &k, a, 0);
	if (!bpf_map_delete_elem(&sends, &k))
		writers_add(k.tgid, -1);
}

/*
 * The socket named by a syscall's first argument, for a handler whose
 * syscall succeeded (ret > 0) in a process in scope; NULL otherwise.
 */
static __always_inline struct sock *sock_arg(struct task_struct *task,
					     struct pt_regs *regs, long ret,
					     struct tree **t, long *fd,
					     struct file **f)
{
	if (ret <= 0 || !syscall_in_scope(task, t))
		return NULL;
	*fd = (int)SC_ARG0(regs);
	*f = fd_file(task, *fd);
	return file_sock(*f);
}

/* The first buffer of an iovec array. */
static __always_inline const void *first_iov(const struct iovec *iov,
					     __u64 *len)
{
	struct iovec v = {};

	*len = 0;
	if (!iov || bpf_probe_read_user(&v, sizeof(v), iov))
		return NULL;
	*len = v.iov_len;
	return v.iov_base;
}

#endif /* VIGIL_NET_H */
