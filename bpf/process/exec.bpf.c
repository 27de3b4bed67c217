//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * exec: a process replaced its program.
 *
 * Hook: tp_btf/sched_process_exec(task, old_pid, bprm). It fires after the
 * new program is committed: the new mm holds the argument block (just
 * written by the kernel, so paged in), the credentials are the new ones,
 * and bprm->file is the binary that runs (the interpreter for a script).
 * Failed execs never reach it. Oldest kernel: 6.1.
 *
 * This is also where an agent's tree begins: when agent matching is on, an
 * untracked exec whose invoked name (basename of the path given to execve)
 * or binary name is in agent_names, or whose binary is in agent_files,
 * becomes a tracked root.
 *
 * For tracked processes it also reads the correlator's strongest join key
 * from the new environment: the values of VIGIL_CORRELATION_ID and
 * TRACEPARENT (see VIGIL_ENV_SCAN_MAX for how much is scanned). The
 * environment block is in user memory next to the arguments, written by
 * the kernel moments before, so it is paged in. bpf_loop (5.17) keeps the
 * scan to one verified step.
 *
 * Record (struct exec_event + data), in order:
 *   hdr              common header of the process after the exec
 *   exe_ino          inode of the binary
 *   exe_dev          device of the binary
 *   argc             argument count
 *   exe_len          executable path length   -> data: absolute path of the binary
 *   args_len         argument block length    -> data: NUL-separated arguments
 *   cwd_len          working directory length -> data: absolute working directory
 *   corr_id_len      correlation id length    -> data: VIGIL_CORRELATION_ID value
 *   traceparent_len  trace context length     -> data: TRACEPARENT value
 */

#define FILENAME_PROBE 256

/* Copies at most AGENT_NAME_LEN - 1 bytes of a basename into a map key. */
static __always_inline bool basename_key(const char *filename, char *buf,
					 struct agent_name *key)
{
	long n = bpf_probe_read_kernel_str(buf, FILENAME_PROBE, filename);
	long end, start = -1;

	if (n <= 1 || n >= FILENAME_PROBE)
		return false; /* empty, unreadable, or too long to judge */
	end = n - 1;
	for (int i = 1; i <= AGENT_NAME_LEN; i++) {
		long idx = end - i;

		if (idx < 0) {
			start = 0;
			break;
		}
		if (buf[idx & (FILENAME_PROBE - 1)] == '/') {
			start = idx + 1;
			break;
		}
	}
	if (start < 0 || end - start >= AGENT_NAME_LEN || end == start)
		return false;
	__builtin_memset(key, 0, sizeof(*key));
	bpf_probe_read_kernel(key->name, (end - start) & (AGENT_NAME_LEN - 1),
			      &buf[start & (FILENAME_PROBE - 1)]);
	return true;
}

/* Index of the agent rule this exec matches, or -1. */
static __always_inline long match_agent(struct linux_binprm *bprm, char *buf)
{
	struct file *file = bprm->file;
	struct agent_file fkey = {
		.ino = file->f_inode->i_ino,
		.dev = file->f_inode->i_sb->s_dev,
	};
	struct agent_name nkey;
	__u32 *idx;

	idx = bpf_map_lookup_elem(&agent_files, &fkey);
	if (idx)
		return *idx;
	if (basename_key(bprm->filename, buf, &nkey)) {
		idx = bpf_map_lookup_elem(&agent_names, &nkey);
		if (idx)
			return *idx;
	}
	__builtin_memset(&nkey, 0, sizeof(nkey));
	bpf_probe_read_kernel_str(nkey.name, sizeof(nkey.name),
				  file->f_path.dentry->d_name.name);
	idx = bpf_map_lookup_elem(&agent_names, &nkey);
	if (idx)
		return *idx;
	return -1;
}

#define ENV_CORR_NAME "VIGIL_CORRELATION_ID="
#define ENV_CORR_NAME_LEN (sizeof(ENV_CORR_NAME) - 1)
#define ENV_TP_NAME "TRACEPARENT="
#define ENV_TP_NAME_LEN (sizeof(ENV_TP_NAME) - 1)

/* Does the string in s start with name (len bytes, no NUL)? */
static __always_inline bool env_has_name(const char *s, const char *name,
					 int len)
{
#pragma unroll
	for (int i = 0; i < len; i++) {
		if (s[i] != name[i])
			return false;
	}
	return true;
}

/*
 * If the string in es->str (n bytes with its NUL) is the first one named
 * name, copies its value (at most max bytes) to dst, its length to *len,
 * marks found, and returns true.
 */
static __always_inline bool env_take(struct env_buf *es, long n, __u32 found,
				     const char *name, int name_len, char *dst,
				     __u32 max, __u32 *len)
{
	__u32 l;

	if ((es->found & found) || n <= name_len ||
	    !env_has_name(es->str, name, name_len))
		return false;
	l = n - 1 - name_len;
	if (l > max)
		l = max;
	if (bpf_probe_read_kernel(dst, l, &es->str[name_len]))
		l = 0;
	*len = l;
	es->found |= found;
	return true;
}

/*
 * One step of the environment scan: reads the string at es->pos and, at
 * the start of a string, keeps the value of a name not seen before.
 * Returns 1 to stop the scan.
 */
static long env_step(__u64 index, void *ctx)
{
	__u32 zero = 0;
	struct env_buf *es = bpf_map_lookup_elem(&env_scratch, &zero);
	long n;

	if (!es || es->pos >= es->end)
		return 1;
	n = bpf_probe_read_user_str(es->str, sizeof(es->str),
				    (const void *)es->pos);
	if (n < 0 || n > ENV_STR_PROBE) {
		es->failed = 1;
		return 1;
	}
	/* An empty string: 1 (its NUL) on recent kernels, 0 on 6.1 and 6.12. */
	if (n == 0)
		n = 1;
	if (!es->mid) {
		/* The string is in str, NUL-terminated at n - 1. */
		if (!env_take(es, n, ENV_FOUND_CORR, ENV_CORR_NAME, ENV_CORR_NAME_LEN,
			      es->vals, VIGIL_CORR_ID_MAX + 1, &es->corr_len))
			env_take(es, n, ENV_FOUND_TP, ENV_TP_NAME, ENV_TP_NAME_LEN,
				 es->traceparent, VIGIL_TRACEPARENT_MAX + 1,
				 &es->tp_len);
	}
	if (n == ENV_STR_PROBE) {
		/* Cut short (or exactly this long): go on where the NUL went. */
		es->pos += n - 1;
		es->mid = 1;
	} else {
		es->pos += n;
		es->mid = 0;
	}
	return es->found == (ENV_FOUND_CORR | ENV_FOUND_TP);
}

/*
 * Scans the environment of mm for the correlation ids, when @scan, into
 * env_scratch: es->vals holds the record's data for them and e gets their
 * lengths; es->flags gets FLAG_ENV_TRUNCATED when the scan stopped before
 * the end of the block with a name still missing. The outcome stays in
 * memory, not in registers, so the verifier does not walk the rest of the
 * program once per outcome.
 */
static __always_inline void scan_env(struct exec_event *e,
				     struct mm_struct *mm, bool scan)
{
	__u32 zero = 0;
	struct env_buf *es = bpf_map_lookup_elem(&env_scratch, &zero);
	unsigned long start = mm->env_start, end = mm->env_end;
	__u32 corr_len, tp_len;

	e->corr_id_len = 0;
	e->traceparent_len = 0;
	if (!es)
		return;
	es->vals_len = 0;
	es->flags = 0;
	if (!scan)
		return;
	es->pos = start;
	es->end = end;
	if (end > start && end - start > VIGIL_ENV_SCAN_MAX)
		es->end = start + VIGIL_ENV_SCAN_MAX;
	es->corr_len = 0;
	es->tp_len = 0;
	es->found = 0;
	es->mid = 0;
	es->failed = 0;
	bpf_loop(VIGIL_ENV_SCAN_STEPS, env_step, NULL, 0);
	if (es->found != (ENV_FOUND_CORR | ENV_FOUND_TP) && es->pos < end) {
		es->flags = FLAG_ENV_TRUNCATED;
		count_drop(es->failed ? DROP_READ_FAILED : DROP_TRUNCATED,
			   EVENT_EXEC);
	}

	/* Pack: the correlation id is in place, the traceparent follows it. */
	corr_len = es->corr_len;
	tp_len = es->tp_len;
	if (corr_len > VIGIL_CORR_ID_MAX + 1)
		corr_len = 0;
	if (tp_len > VIGIL_TRACEPARENT_MAX + 1 ||
	    bpf_probe_read_kernel(&es->vals[corr_len], tp_len, es->traceparent))
		tp_len = 0;
	es->vals_len = corr_len + tp_len;
	e->corr_id_len = corr_len;
	e->traceparent_len = tp_len;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_exec, struct task_struct *task, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	__u32 tgid = task->tgid;
	__u32 zero = 0;
	struct tree *t = scope_of(tgid);
	struct tree root;
	struct exec_buf *b;
	struct path_buf *pb;
	__u16 flags = 0;

	/* The common case, an untracked process: this lookup is all it costs. */
	if (!t && !match_agents && !trace_all)
		return 0;
	pb = bpf_map_lookup_elem(&path_scratch, &zero);
	if (!pb)
		return 0;

	if (!t && match_agents && tgid != self_tgid) {
		long agent = match_agent(bprm, pb->buf);

		if (agent >= 0) {
			root.root_start = task->start_boottime;
			root.root_tgid = tgid;
			root.agent = agent;
			if (track_insert(tgid, &root))
				count_drop(DROP_TRACK_FULL, EVENT_EXEC);
			t = &root;
			flags |= FLAG_NEW_ROOT;
		}
	}
	if (!in_scope(t, tgid))
		return 0;

	b = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!b)
		return 0;
	struct exec_event *e = &b->ev;

	fill_header(&e->hdr, EVENT_EXEC, 0, task, t);
	e->exe_ino = bprm->file->f_inode->i_ino;
	e->exe_dev = bprm->file->f_inode->i_sb->s_dev;
	e->argc = bprm->argc;

	/*
	 * Correlation ids, for tracked processes only. Scanned before the
	 * paths are walked: fewer verifier states reach this point.
	 */
	scan_env(e, task->mm, t != NULL);

	/* Executable. */
	__u32 off = append_path(b->data, 0, &bprm->file->f_path, pb,
				&flags, FLAG_EXE_TRUNCATED, EVENT_EXEC);
	e->exe_len = off;

	/* Arguments, straight from the new process's memory. */
	struct mm_struct *mm = task->mm;
	unsigned long arg_start = mm->arg_start;
	unsigned long arg_len = mm->arg_end - arg_start;

	if (arg_len > VIGIL_ARGS_MAX) {
		arg_len = VIGIL_ARGS_MAX;
		flags |= FLAG_ARGS_TRUNCATED;
		count_drop(DROP_TRUNCATED, EVENT_EXEC);
	}
	if (bpf_probe_read_user(&b->data[off & DATA_OFF_MASK], arg_len,
				(const void *)arg_start)) {
		arg_len = 0;
		flags |= FLAG_ARGS_UNREADABLE;
		count_drop(DROP_READ_FAILED, EVENT_EXEC);
	}
	e->args_len = arg_len;
	off += arg_len;

	/* Working directory. */
	__u32 cwd_len = append_path(b->data, off, &task->fs->pwd, pb,
				    &flags, FLAG_CWD_TRUNCATED, EVENT_EXEC);
	e->cwd_len = cwd_len;
	off += cwd_len;

	/* Correlation ids, as scan_env left them. */
	struct env_buf *es = bpf_map_lookup_elem(&env_scratch, &zero);

	if (es) {
		__u32 vals_len = es->vals_len;

		flags |= es->flags;
		if (vals_len > sizeof(es->vals) ||
		    bpf_probe_read_kernel(&b->data[off & DATA_OFF_MASK],
					  vals_len, es->vals)) {
			vals_len = 0;
			e->corr_id_len = 0;
			e->traceparent_len = 0;
		}
		off += vals_len;
	} else {
		e->corr_id_len = 0;
		e->traceparent_len = 0;
	}

	__u32 size = sizeof(*e) + off;
	if (size > sizeof(*b))
		return 0;
	e->hdr.flags = flags;
	e->hdr.size = size;
	if (bpf_ringbuf_output(&events, b, size, rb_flags(size)))
		count_drop(DROP_RINGBUF_FULL, EVENT_EXEC);
	return 0;
}
