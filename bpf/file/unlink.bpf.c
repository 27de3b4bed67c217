//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * unlink, unlinkat, rmdir: a name was removed (or removing it failed).
 *
 * Hook: sys_exit handlers. After the syscall the name is gone, so the
 * record carries the string passed and the absolute directory it was
 * relative to (dirfd or working directory, from dentries); user space
 * joins and cleans them. Where the LSM programs run (lsm/path.bpf.c),
 * the record is the one lsm/path_unlink or lsm/path_rmdir built from
 * the kernel's dentries while the name still existed: the parent's
 * absolute path and the name (FFLAG_PATH_KERNEL), immune to a process
 * rewriting its string after the kernel read it. A call that failed
 * before the hook (ENOENT, ENOTDIR, ...) has no stash and keeps the
 * string. Oldest kernel: 6.1.
 *
 * Record (struct file_event, op FILE_UNLINK or FILE_RMDIR), in order:
 *   hdr    common header
 *   ret    0 or -errno
 *   flags  unlinkat flags (AT_REMOVEDIR)
 *   fd     dirfd
 *   data   dir + path string
 */

#define AT_REMOVEDIR 0x200

static __always_inline int record_unlink(struct task_struct *task,
					 struct tree *t,
					 const struct pt_regs *regs, long dirfd,
					 const char *upath, __u32 flags,
					 __u16 op, long ret)
{
	struct file_buf *b;
	struct path_buf *pb;
	struct str_buf *sb;
	struct file_event *e;
	__u32 len;

	if (submit_file_stash(task, t, regs, op, flags, dirfd, ret))
		return 0;
	if (!file_scratch_bufs(&b, &pb, &sb))
		return 0;
	e = &b->ev;
	file_event_init(e, op, task, t, ret);
	e->flags = flags;
	e->fd = dirfd;
	len = append_user_path(task, dirfd, upath, sb->s[0], b->data, 0, pb,
			       &e->dir_len, &e->path_len, &e->fflags);
	file_event_submit(b, len);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_unlink, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tree *t;

	if (!syscall_in_scope(task, &t))
		return 0;
	return record_unlink(task, t, regs, AT_FDCWD, (const char *)SC_ARG0(regs), 0,
			     FILE_UNLINK, ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_unlinkat, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 flags = SC_ARG2(regs);
	struct tree *t;

	if (!syscall_in_scope(task, &t))
		return 0;
	return record_unlink(task, t, regs, (int)SC_ARG0(regs), (const char *)SC_ARG1(regs),
			     flags, flags & AT_REMOVEDIR ? FILE_RMDIR : FILE_UNLINK, ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_rmdir, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tree *t;

	if (!syscall_in_scope(task, &t))
		return 0;
	return record_unlink(task, t, regs, AT_FDCWD, (const char *)SC_ARG0(regs),
			     AT_REMOVEDIR, FILE_RMDIR, ret);
}
