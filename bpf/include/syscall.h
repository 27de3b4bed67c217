/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reading syscalls at exit: arguments from the saved user registers,
 * descriptors through the task's file table, and paths given as strings.
 * x86-64 register conventions; 32-bit (compat) syscalls are skipped.
 */
#ifndef VIGIL_SYSCALL_H
#define VIGIL_SYSCALL_H

#include "helpers.h"

#define SC_ARG0(regs) ((regs)->di)
#define SC_ARG1(regs) ((regs)->si)
#define SC_ARG2(regs) ((regs)->dx)
#define SC_ARG3(regs) ((regs)->r10)
#define SC_ARG4(regs) ((regs)->r8)

#define AT_FDCWD -100
#define TS_COMPAT 0x0002
#define S_IFMT 00170000
#define S_IFREG 0100000

/* A 32-bit syscall: its number means something else; not handled. */
static __always_inline bool is_compat(struct task_struct *task)
{
	return task->thread_info.status & TS_COMPAT;
}

/*
 * The scope of the current process for a syscall handler, or NULL when
 * the syscall is not to be recorded. *t is the tree (NULL in trace-all
 * mode for an untracked process).
 */
static __always_inline bool syscall_in_scope(struct task_struct *task,
					     struct tree **t)
{
	__u32 tgid = task->tgid;

	*t = scope_of(tgid);
	return in_scope(*t, tgid) && !is_compat(task);
}

/*
 * The open file behind a descriptor of task, or NULL. task is the
 * current task's BTF pointer: its file table is read with plain loads;
 * only the array slot, at a variable index, takes a probe read.
 */
static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
	struct files_struct *files;
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;

	if (fd < 0)
		return NULL;
	files = task->files;
	if (!files)
		return NULL;
	fdt = files->fdt;
	if (!fdt || (unsigned long)fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline bool is_regular(struct file *f)
{
	return (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) == S_IFREG;
}

/*
 * Appends a path given as a string: when it is relative, first the
 * absolute directory it is relative to (dirfd's path, or the working
 * directory for AT_FDCWD), then the string as given. User space joins and
 * cleans the two. Returns the bytes appended at data[off].
 */
static __always_inline __u32 append_user_path(struct task_struct *task,
					      long dirfd, const char *upath,
					      char *str, char *data, __u32 off,
					      struct path_buf *pb, __u16 *dir_len,
					      __u16 *path_len, __u16 *fflags)
{
	long n = bpf_probe_read_user_str(str, VIGIL_PATH_MAX, upath);
	__u32 dlen = 0, plen;

	*dir_len = 0;
	*path_len = 0;
	if (n <= 0) {
		count_drop(DROP_READ_FAILED, EVENT_FILE);
		return 0;
	}
	plen = (n - 1) & (VIGIL_PATH_MAX - 1);
	if (n >= VIGIL_PATH_MAX) {
		*fflags |= FFLAG_PATH_CUT;
		count_drop(DROP_TRUNCATED, EVENT_FILE);
	}
	if (str[0] != '/') {
		struct file *f;

		if (dirfd == AT_FDCWD) {
			dlen = append_path(data, off, &task->fs->pwd, pb, fflags,
					   FFLAG_PATH_CUT, EVENT_FILE);
		} else if ((f = fd_file(task, dirfd))) {
			dlen = append_path(data, off, &f->f_path, pb, fflags,
					   FFLAG_PATH_CUT, EVENT_FILE);
		}
	}
	if (bpf_probe_read_kernel(&data[(off + dlen) & DATA_OFF_MASK], plen, str))
		plen = 0;
	*dir_len = dlen;
	*path_len = plen;
	return dlen + plen;
}

/* Looks up the per-CPU scratch buffers a file record is built in. */
static __always_inline bool file_scratch_bufs(struct file_buf **b,
					      struct path_buf **pb,
					      struct str_buf **sb)
{
	__u32 zero = 0;

	*b = bpf_map_lookup_elem(&file_scratch, &zero);
	*pb = bpf_map_lookup_elem(&path_scratch, &zero);
	*sb = bpf_map_lookup_elem(&str_scratch, &zero);
	return *b && *pb && *sb;
}

/* Resets the fixed part of a file record. */
static __always_inline void file_event_init(struct file_event *e, __u16 op,
					    struct task_struct *task,
					    const struct tree *t, long ret)
{
	fill_header(&e->hdr, EVENT_FILE, 0, task, t);
	e->ino = 0;
	e->cookie = 0;
	e->ret = ret;
	e->size = 0;
	e->ops = 0;
	e->first = 0;
	e->dev = 0;
	e->flags = 0;
	e->mode = 0;
	e->fmode = 0;
	e->fd = -1;
	e->op = op;
	e->fflags = 0;
	e->dir_len = 0;
	e->path_len = 0;
	e->dir2_len = 0;
	e->path2_len = 0;
}

/* Sends a file record built in scratch with @data_len bytes of strings. */
static __always_inline void file_event_submit(struct file_buf *b, __u32 data_len)
{
	__u32 size = sizeof(b->ev) + data_len;

	if (size > sizeof(*b))
		return;
	b->ev.hdr.size = size;
	if (bpf_ringbuf_output(&events, b, size, rb_flags(size)))
		count_drop(DROP_RINGBUF_FULL, EVENT_FILE);
}

#define PF_IO_WORKER 0x00000010
#define PF_KTHREAD 0x00200000

/*
 * May an LSM hook stash for this task? Only a task whose syscall ends in
 * the sys_exit handlers: not a kernel thread or an io_uring worker, which
 * act for no syscall of their own (a stash of theirs would wait, unused,
 * until they exit).
 */
static __always_inline bool stash_allowed(struct task_struct *task)
{
	return !(task->flags & (PF_KTHREAD | PF_IO_WORKER));
}

/* Bytes of a file stash's record: the event and its strings. */
#define FILE_STASH_REC (sizeof(struct file_event) + FILE_STASH_DATA)

/*
 * Is this stash, left by an LSM hook, from the syscall now exiting? The
 * stash names the syscall and its first two arguments.
 */
static __always_inline bool stash_is_for(__u32 nr, __u64 arg0, __u64 arg1,
					 const struct pt_regs *regs)
{
	return nr == (__u32)regs->orig_ax && arg0 == SC_ARG0(regs) &&
	       arg1 == SC_ARG1(regs);
}

/*
 * Sends the file record an LSM hook built inside the syscall now exiting
 * (with the kernel's own view of the names), completed with what only
 * the exit knows. Returns false when there is none: the caller builds
 * the record from the syscall's arguments instead. The stash is freed
 * either way.
 */
static __always_inline bool submit_file_stash(struct task_struct *task,
					      const struct tree *t,
					      const struct pt_regs *regs,
					      __u16 op, __u32 flags, long fd,
					      long ret)
{
	struct file_stash *s;
	struct file_event *e;
	bool ok = false;
	__u64 size;

	if (!use_lsm)
		return false;
	s = bpf_task_storage_get(&file_stash, task, 0, 0);
	if (!s)
		return false;
	size = s->size;
	bound_or_zero(size, FILE_STASH_REC);
	if (stash_is_for(s->nr, s->arg0, s->arg1, regs) && size >= sizeof(*e)) {
		e = &s->ev;
		fill_header(&e->hdr, EVENT_FILE, size, task, t);
		e->op = op;
		e->flags = flags;
		e->fd = fd;
		e->ret = ret;
		if (bpf_ringbuf_output(&events, e, size, rb_flags(size)))
			count_drop(DROP_RINGBUF_FULL, EVENT_FILE);
		ok = true;
	}
	bpf_task_storage_delete(&file_stash, task);
	return ok;
}

#endif /* VIGIL_SYSCALL_H */
