//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Writes to regular files, aggregated: write, writev, pwrite64, pwritev,
 * pwritev2, sendfile (out_fd), copy_file_range (fd_out) and ftruncate add
 * to totals per (process, descriptor) in the writes map; close, dup2/dup3
 * over the descriptor, a different file showing up behind it, and process
 * exit report the totals. truncate(path) is reported at once.
 *
 * Hook: sys_exit handlers, where the byte count is the syscall's result.
 * The first write through a descriptor sends FILE_WRITE_START with the
 * file's exact path (from its dentry) so the totals can be named even for
 * a file opened before tracking began; FILE_WRITE_END carries the totals.
 * Oldest kernel: 6.1.
 *
 * Record FILE_WRITE_START (struct file_event + path): hdr, ino, cookie,
 * dev, fd, data = exact path.
 * Record FILE_WRITE_END (struct file_event): hdr, ino, cookie, size =
 * bytes written, ops = write calls, first = ktime of the first write,
 * ret = last ftruncate length (FFLAG_TRUNCATED), dev, fd.
 * Record FILE_TRUNCATE: hdr, ret, size = length, data = dir + path string.
 */

static __always_inline void emit_write_end(struct task_struct *task,
					   const struct tree *t,
					   const struct write_key *k,
					   const struct write_agg *a,
					   __u16 fflags)
{
	struct file_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_drop(DROP_RINGBUF_FULL, EVENT_FILE);
		return;
	}
	file_event_init(e, FILE_WRITE_END, task, t, a->size);
	e->hdr.size = sizeof(*e);
	e->fd = k->fd;
	e->cookie = a->file;
	e->size = a->bytes;
	e->ops = a->ops;
	e->first = a->first;
	e->ino = a->ino;
	e->dev = a->dev;
	e->fflags = fflags | a->fflags | FFLAG_REGULAR;
	bpf_ringbuf_submit(e, rb_flags(sizeof(*e)));
}

static __always_inline void emit_write_start(struct task_struct *task,
					     const struct tree *t, long fd,
					     struct file *f)
{
	struct file_buf *b;
	struct path_buf *pb;
	struct str_buf *sb;
	struct file_event *e;
	__u32 len;

	if (!file_scratch_bufs(&b, &pb, &sb))
		return;
	e = &b->ev;
	file_event_init(e, FILE_WRITE_START, task, t, 0);
	e->fd = fd;
	e->cookie = (__u64)f;
	e->ino = BPF_CORE_READ(f, f_inode, i_ino);
	e->dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	e->fflags = FFLAG_PATH_EXACT | FFLAG_REGULAR;
	len = append_path(b->data, 0, &f->f_path, pb, &e->fflags, FFLAG_PATH_CUT,
			  EVENT_FILE);
	e->path_len = len;
	file_event_submit(b, len);
}

/* Adds a write (bytes > 0) or a truncation to the totals of fd (file f). */
static __always_inline int track_write(struct task_struct *task,
				       struct tree *t, long fd, struct file *f,
				       __s64 bytes, bool trunc, __s64 length)
{
	struct write_key k;
	struct write_agg *a;

	if (!f || !is_regular(f))
		return 0;
	k.tgid = task->tgid;
	k.fd = fd;
	a = bpf_map_lookup_elem(&writes, &k);
	if (a && a->file == (__u64)f) {
		if (bytes > 0) {
			__sync_fetch_and_add(&a->bytes, bytes);
			__sync_fetch_and_add(&a->ops, 1);
		}
		if (trunc) {
			a->fflags |= FFLAG_TRUNCATED;
			a->size = length;
		}
		return 0;
	}
	if (a) {
		/* The descriptor now names another file: the old one was closed unseen. */
		emit_write_end(task, t, &k, a, FFLAG_STALE);
	}

	struct write_agg n = {
		.file = (__u64)f,
		.bytes = bytes > 0 ? bytes : 0,
		.ops = bytes > 0 ? 1 : 0,
		.first = bpf_ktime_get_boot_ns(),
		.ino = BPF_CORE_READ(f, f_inode, i_ino),
		.dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev),
		.fflags = trunc ? FFLAG_TRUNCATED : 0,
		.size = length,
	};
	if (bpf_map_update_elem(&writes, &k, &n, BPF_ANY)) {
		count_drop(DROP_AGG_FULL, EVENT_FILE);
		return 0;
	}
	if (!a)
		writers_add(k.tgid, 1);
	emit_write_start(task, t, fd, f);
	return 0;
}

/* Reports and forgets the totals of fd, if any. */
static __always_inline void close_write(struct task_struct *task,
					struct tree *t, long fd)
{
	struct write_key k = { .tgid = task->tgid, .fd = fd };
	struct write_agg *a = bpf_map_lookup_elem(&writes, &k);

	if (!a)
		return;
	emit_write_end(task, t, &k, a, 0);
	if (!bpf_map_delete_elem(&writes, &k))
		writers_add(k.tgid, -1);
}

/*
 * write and writev also carry sends on sockets: those go to the send
 * totals (net.h) with the first buffer as the payload head.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_write, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long fd = (int)SC_ARG0(regs);
	struct tree *t;
	struct file *f;
	struct sock *sk;

	if (ret <= 0 || !syscall_in_scope(task, &t))
		return 0;
	f = fd_file(task, fd);
	if ((sk = file_sock(f)))
		return track_send(task, t, fd, sk, f, NULL, ret, 1,
				  (const void *)SC_ARG1(regs), ret);
	return track_write(task, t, fd, f, ret, false, 0);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_writev, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long fd = (int)SC_ARG0(regs);
	struct tree *t;
	struct file *f;
	struct sock *sk;

	if (ret <= 0 || !syscall_in_scope(task, &t))
		return 0;
	f = fd_file(task, fd);
	if ((sk = file_sock(f))) {
		__u64 len;
		const void *buf = first_iov((const struct iovec *)SC_ARG1(regs), &len);

		return track_send(task, t, fd, sk, f, NULL, ret, 1, buf, len);
	}
	return track_write(task, t, fd, f, ret, false, 0);
}

#define WRITE_HANDLER(name, fdarg)                                          \
	SEC("tp_btf/sys_exit")                                              \
	int BPF_PROG(vigil_sys_##name, struct pt_regs *regs, long ret)      \
	{                                                                   \
		struct task_struct *task = bpf_get_current_task_btf();      \
		long fd = (int)fdarg(regs);                                 \
		struct tree *t;                                             \
									    \
		if (ret <= 0 || !syscall_in_scope(task, &t))                \
			return 0;                                           \
		return track_write(task, t, fd, fd_file(task, fd), ret,     \
				   false, 0);                               \
	}

WRITE_HANDLER(pwrite64, SC_ARG0)
WRITE_HANDLER(pwritev, SC_ARG0)
WRITE_HANDLER(pwritev2, SC_ARG0)
WRITE_HANDLER(sendfile, SC_ARG0)
WRITE_HANDLER(copy_file_range, SC_ARG2)

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_ftruncate, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tree *t;

	if (ret != 0 || !syscall_in_scope(task, &t))
		return 0;
	long fd = (int)SC_ARG0(regs);

	return track_write(task, t, fd, fd_file(task, fd), 0, true, SC_ARG1(regs));
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_close, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tree *t;

	if (ret != 0 || !syscall_in_scope(task, &t))
		return 0;
	close_write(task, t, (int)SC_ARG0(regs));
	close_send(task, t, (int)SC_ARG0(regs));
	return 0;
}

/* dup2/dup3 onto a descriptor closes the file it named. */
SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_dup2, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tree *t;
	long newfd = (int)SC_ARG1(regs);

	if (ret != newfd || (int)SC_ARG0(regs) == newfd ||
	    !syscall_in_scope(task, &t))
		return 0;
	close_write(task, t, newfd);
	close_send(task, t, newfd);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_truncate, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file_buf *b;
	struct path_buf *pb;
	struct str_buf *sb;
	struct file_event *e;
	struct tree *t;
	__u32 len;

	if (!syscall_in_scope(task, &t) || !file_scratch_bufs(&b, &pb, &sb))
		return 0;
	e = &b->ev;
	file_event_init(e, FILE_TRUNCATE, task, t, ret);
	e->size = SC_ARG1(regs);
	e->fd = AT_FDCWD;
	len = append_user_path(task, AT_FDCWD, (const char *)SC_ARG0(regs), sb->s[0],
			       b->data, 0, pb, &e->dir_len, &e->path_len, &e->fflags);
	file_event_submit(b, len);
	return 0;
}

/* At exit: report every descriptor's write and send totals of the process. */
struct flush_ctx {
	__u32 tgid;
};

static long flush_write_cb(struct bpf_map *map, struct write_key *k,
			   struct write_agg *a, struct flush_ctx *c)
{
	if (k->tgid != c->tgid)
		return 0;
	emit_write_end(bpf_get_current_task_btf(), scope_of(c->tgid), k, a,
		       FFLAG_AT_EXIT);
	bpf_map_delete_elem(map, k);
	return 0;
}

static long flush_send_cb(struct bpf_map *map, struct write_key *k,
			  struct send_agg *a, struct flush_ctx *c)
{
	if (k->tgid != c->tgid)
		return 0;
	emit_send_end(bpf_get_current_task_btf(), scope_of(c->tgid), k, a,
		      NFLAG_AT_EXIT);
	bpf_map_delete_elem(map, k);
	return 0;
}

static __always_inline void flush_writes(__u32 tgid)
{
	struct flush_ctx c = { .tgid = tgid };

	if (!bpf_map_lookup_elem(&writers, &tgid))
		return;
	bpf_for_each_map_elem(&writes, flush_write_cb, &c, 0);
	bpf_for_each_map_elem(&sends, flush_send_cb, &c, 0);
	bpf_map_delete_elem(&writers, &tgid);
}
