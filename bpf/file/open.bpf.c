//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * open, openat, openat2, creat: a file was opened (or an open failed).
 *
 * Hook: sys_exit handlers (see syscall/dispatch.bpf.c). On success the
 * new descriptor's struct file gives the exact absolute path from its
 * dentry (relative paths, "..", symlinks and dirfd all resolved by the
 * kernel), the inode and device, and f_mode, whose FMODE_CREATED bit says
 * whether this open created the file. A failed open has no file: the
 * record carries the string passed and the directory it was relative to.
 * Oldest kernel: 6.1.
 *
 * Record (struct file_event, op FILE_OPEN), in order:
 *   hdr     common header
 *   ino     inode (success)
 *   cookie  struct file address (success)
 *   ret     the descriptor, or -errno
 *   dev     device (success)
 *   flags   O_* flags as passed (creat: O_CREAT|O_WRONLY|O_TRUNC)
 *   mode    mode argument
 *   fmode   f_mode (success)
 *   fd      the descriptor (success) or the dirfd
 *   data    exact path (FFLAG_PATH_EXACT), or dir + string
 */

#define O_CREAT_WRONLY_TRUNC (00000100 | 00000001 | 00001000)

static __always_inline int record_open(struct task_struct *task,
				       struct tree *t, long dirfd,
				       const char *upath, __u32 flags,
				       __u32 mode, long ret)
{
	struct file_buf *b;
	struct path_buf *pb;
	struct str_buf *sb;
	struct file_event *e;
	struct file *f = NULL;
	__u32 len = 0;

	if (!file_scratch_bufs(&b, &pb, &sb))
		return 0;
	e = &b->ev;
	file_event_init(e, FILE_OPEN, task, t, ret);
	e->flags = flags;
	e->mode = mode;
	e->fd = dirfd;
	if (ret >= 0)
		f = fd_file(task, ret);
	if (f) {
		struct inode *inode = BPF_CORE_READ(f, f_inode);

		e->fd = ret;
		e->cookie = (__u64)f;
		e->ino = BPF_CORE_READ(inode, i_ino);
		e->dev = BPF_CORE_READ(inode, i_sb, s_dev);
		e->fmode = BPF_CORE_READ(f, f_mode);
		e->fflags |= FFLAG_PATH_EXACT;
		if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) == S_IFREG)
			e->fflags |= FFLAG_REGULAR;
		len = append_path(b->data, 0, &f->f_path, pb, &e->fflags,
				  FFLAG_PATH_CUT, EVENT_FILE);
		e->path_len = len;
	} else {
		len = append_user_path(task, dirfd, upath, sb->s[0], b->data, 0,
				       pb, &e->dir_len, &e->path_len, &e->fflags);
	}
	file_event_submit(b, len);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_open, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tree *t;

	if (!syscall_in_scope(task, &t))
		return 0;
	return record_open(task, t, AT_FDCWD, (const char *)SC_ARG0(regs),
			   SC_ARG1(regs), SC_ARG2(regs), ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_openat, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tree *t;

	if (!syscall_in_scope(task, &t))
		return 0;
	return record_open(task, t, (int)SC_ARG0(regs), (const char *)SC_ARG1(regs),
			   SC_ARG2(regs), SC_ARG3(regs), ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_openat2, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct open_how how = {};
	struct tree *t;

	if (!syscall_in_scope(task, &t))
		return 0;
	bpf_probe_read_user(&how, sizeof(how), (const void *)SC_ARG2(regs));
	return record_open(task, t, (int)SC_ARG0(regs), (const char *)SC_ARG1(regs),
			   how.flags, how.mode, ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_creat, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tree *t;

	if (!syscall_in_scope(task, &t))
		return 0;
	return record_open(task, t, AT_FDCWD, (const char *)SC_ARG0(regs),
			   O_CREAT_WRONLY_TRUNC, SC_ARG1(regs), ret);
}
