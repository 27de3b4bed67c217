//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * rename, renameat, renameat2: a name was moved (or moving it failed).
 *
 * Hook: sys_exit handlers. Both names travel as the strings passed, each
 * with the absolute directory it was relative to; user space joins and
 * cleans them. Where the LSM programs run, the record is the one
 * lsm/path_rename built from the kernel's dentries: both parents'
 * absolute paths and both names (FFLAG_PATH_KERNEL; see unlink.bpf.c).
 * Oldest kernel: 6.1.
 *
 * Record (struct file_event, op FILE_RENAME), in order:
 *   hdr    common header
 *   ret    0 or -errno
 *   flags  renameat2 flags (RENAME_NOREPLACE, RENAME_EXCHANGE, ...)
 *   fd     old dirfd
 *   data   old dir + old path, new dir + new path
 */

static __always_inline int record_rename(struct task_struct *task,
					 struct tree *t,
					 const struct pt_regs *regs, long olddfd,
					 const char *oldpath, long newdfd,
					 const char *newpath, __u32 flags,
					 long ret)
{
	struct file_buf *b;
	struct path_buf *pb;
	struct str_buf *sb;
	struct file_event *e;
	__u32 len, len2;

	if (submit_file_stash(task, t, regs, FILE_RENAME, flags, olddfd, ret))
		return 0;
	if (!file_scratch_bufs(&b, &pb, &sb))
		return 0;
	e = &b->ev;
	file_event_init(e, FILE_RENAME, task, t, ret);
	e->flags = flags;
	e->fd = olddfd;
	len = append_user_path(task, olddfd, oldpath, sb->s[0], b->data, 0, pb,
			       &e->dir_len, &e->path_len, &e->fflags);
	len &= 2 * VIGIL_PATH_MAX - 1;
	len2 = append_user_path(task, newdfd, newpath, sb->s[1], b->data, len, pb,
				&e->dir2_len, &e->path2_len, &e->fflags);
	file_event_submit(b, len + len2);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_rename, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tree *t;

	if (!syscall_in_scope(task, &t))
		return 0;
	return record_rename(task, t, regs, AT_FDCWD, (const char *)SC_ARG0(regs),
			     AT_FDCWD, (const char *)SC_ARG1(regs), 0, ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_renameat, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tree *t;

	if (!syscall_in_scope(task, &t))
		return 0;
	return record_rename(task, t, regs, (int)SC_ARG0(regs), (const char *)SC_ARG1(regs),
			     (int)SC_ARG2(regs), (const char *)SC_ARG3(regs), 0, ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vigil_sys_renameat2, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tree *t;

	if (!syscall_in_scope(task, &t))
		return 0;
	return record_rename(task, t, regs, (int)SC_ARG0(regs), (const char *)SC_ARG1(regs),
			     (int)SC_ARG2(regs), (const char *)SC_ARG3(regs),
			     SC_ARG4(regs), ret);
}
