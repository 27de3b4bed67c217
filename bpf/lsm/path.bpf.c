//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * path_unlink, path_rmdir, path_rename: the names a removal or a move is
 * about, as the kernel resolved them.
 *
 * Hook: BPF LSM (lsm/path_*), inside the syscall, after the kernel has
 * looked the names up and before it acts. At the syscall's exit the
 * removed or moved name no longer exists, so the tracepoint path can only
 * report the string the process passed, read back from its memory; here
 * the record gets the parent directory's absolute path from its dentries
 * and the name from the dentry itself (FFLAG_PATH_KERNEL). Only the
 * result is unknown yet: the record waits in the task's file_stash for
 * the exit handler (file/unlink.bpf.c, file/rename.bpf.c), which adds the
 * result and sends it. Needs CONFIG_BPF_LSM with bpf in the active LSMs
 * and CONFIG_SECURITY_PATH. Oldest kernel: 6.1.
 *
 * Stashed record (struct file_event; op, flags, fd and ret come at exit):
 *   fflags  FFLAG_PATH_KERNEL (and FFLAG_PATH_CUT)
 *   data    parent dir + name, and for a rename the new parent + name
 */

/*
 * Appends a name's parent directory (absolute) and the name at data[off];
 * returns the bytes appended.
 */
static __always_inline __u32 append_name(char *data, __u32 off,
					 const struct path *dir,
					 struct dentry *dentry,
					 struct path_buf *pb, __u16 *dir_len,
					 __u16 *name_len, __u16 *fflags)
{
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	__u32 n = BPF_CORE_READ(dentry, d_name.len);
	__u32 dlen;

	dlen = append_path(data, off, dir, pb, fflags, FFLAG_PATH_CUT, EVENT_FILE);
	dlen &= 2 * VIGIL_PATH_MAX - 1;
	if (n > NAME_MAX_LEN) {
		n = NAME_MAX_LEN;
		*fflags |= FFLAG_PATH_CUT;
	}
	if (bpf_probe_read_kernel(&data[(off + dlen) & DATA_OFF_MASK], n & NAME_MAX_LEN, name))
		n = 0;
	*dir_len = dlen;
	*name_len = n;
	return dlen + n;
}

/* Builds the record for the syscall under way and leaves it in file_stash. */
static __always_inline void stash_names(const struct path *dir,
					struct dentry *dentry,
					const struct path *dir2,
					struct dentry *dentry2)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file_stash *s;
	struct file_event *e;
	struct path_buf *pb;
	struct str_buf *sb;
	struct file_buf *b;
	struct pt_regs *regs;
	struct tree *t;
	__u64 size;
	__u32 len;

	if (!syscall_in_scope(task, &t) || !stash_allowed(task) ||
	    !file_scratch_bufs(&b, &pb, &sb))
		return;
	e = &b->ev;
	file_event_init(e, 0, task, t, 0);
	e->fflags = FFLAG_PATH_KERNEL;
	len = append_name(b->data, 0, dir, dentry, pb, &e->dir_len,
			  &e->path_len, &e->fflags);
	if (dir2) {
		len &= 2 * VIGIL_PATH_MAX - 1;
		len += append_name(b->data, len, dir2, dentry2, pb, &e->dir2_len,
				   &e->path2_len, &e->fflags);
	}
	s = bpf_task_storage_get(&file_stash, task, 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s)
		return;
	size = sizeof(*e) + (__u64)len;
	bound_or_zero(size, FILE_STASH_REC);
	if (!size || bpf_probe_read_kernel(&s->ev, size, e)) {
		bpf_task_storage_delete(&file_stash, task);
		return;
	}
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	s->size = size;
	s->nr = regs->orig_ax;
	s->arg0 = SC_ARG0(regs);
	s->arg1 = SC_ARG1(regs);
}

SEC("lsm/path_unlink")
int BPF_PROG(vigil_lsm_unlink, const struct path *dir, struct dentry *dentry,
	     int ret)
{
	stash_names(dir, dentry, NULL, NULL);
	return ret;
}

SEC("lsm/path_rmdir")
int BPF_PROG(vigil_lsm_rmdir, const struct path *dir, struct dentry *dentry,
	     int ret)
{
	stash_names(dir, dentry, NULL, NULL);
	return ret;
}

SEC("lsm/path_rename")
int BPF_PROG(vigil_lsm_rename, const struct path *old_dir,
	     struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry, unsigned int flags, int ret)
{
	stash_names(old_dir, old_dentry, new_dir, new_dentry);
	return ret;
}
