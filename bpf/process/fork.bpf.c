//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * fork: a new process (not a new thread) was created.
 *
 * Hook: tp_btf/sched_process_fork(parent, child). It fires in the parent
 * once the child is fully set up and before it can run, so a child of a
 * tracked process is in scope before its first instruction. tp_btf gives
 * BTF-typed task pointers (no probe reads, CO-RE relocated); it needs BTF
 * and BPF_PROG_TYPE_TRACING with raw tracepoints (5.5+). Oldest kernel:
 * 6.1 (project floor).
 *
 * Record (struct fork_event), in order:
 *   hdr          common header of the parent (the current task)
 *   child_start  child's start_boottime (ns)
 *   child_pid    child's process id
 */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	__u32 ctgid = child->tgid;
	struct tree *t;

	/* A new thread shares its process's scope: nothing to do. */
	if (child->pid != ctgid)
		return 0;

	t = scope_of(ptgid);
	if (t && track_insert(ctgid, t))
		count_drop(DROP_TRACK_FULL, EVENT_FORK);
	if (!in_scope(t, ptgid))
		return 0;

	struct fork_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(DROP_RINGBUF_FULL, EVENT_FORK);
		return 0;
	}
	fill_header(&e->hdr, EVENT_FORK, sizeof(*e), bpf_get_current_task_btf(), t);
	e->child_start = child->start_boottime;
	e->child_pid = ctgid;
	e->_pad = 0;
	bpf_ringbuf_submit(e, rb_flags(sizeof(*e)));
	return 0;
}
