//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * exit: the last thread of a process exited.
 *
 * Hook: tp_btf/sched_process_exit(task). It fires in do_exit() of every
 * exiting thread after the thread-group live count was decremented, so a
 * zero count means this thread ends the process. (6.16+ passes the same
 * fact as a second argument; the count works on every kernel.) The task's
 * exit_code is final here: the process's wait status. Oldest kernel: 6.1.
 *
 * Write totals still open (see file/write.bpf.c) are reported first. The
 * record is submitted before the process leaves the tracked map, so
 * once user space sees an empty scope every exit record is already in the
 * ring buffer.
 *
 * Record (struct exit_event), in order:
 *   hdr        common header of the exiting thread
 *   exit_code  wait(2) status: exit status << 8 | signal | 0x80 if core
 */

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vigil_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid;
	struct tree *t;

	if (task->signal->live.counter != 0)
		return 0;

	t = scope_of(tgid);
	/* Write totals first, so they precede the exit record. */
	flush_writes(tgid);
	if (in_scope(t, tgid)) {
		struct exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

		if (e) {
			fill_header(&e->hdr, EVENT_EXIT, sizeof(*e), task, t);
			e->exit_code = task->exit_code;
			e->_pad = 0;
			bpf_ringbuf_submit(e, rb_flags(sizeof(*e)));
		} else {
			count_drop(DROP_RINGBUF_FULL, EVENT_EXIT);
		}
	}
	if (t)
		track_delete(tgid);
	return 0;
}
