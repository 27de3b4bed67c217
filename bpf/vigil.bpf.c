//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Vigil sensor: one compilation unit so every hook shares one set of
 * maps (bpf/include/maps.h) and loads as one collection. Each hook lives in
 * its own file, which says why that hook and the oldest kernel it needs.
 *
 * Only tracepoints and tp_btf programs: kprobes, fentry/fexit and LSM
 * programs are not available on every kernel Vigil runs on. Where BPF LSM
 * is, vigil_lsm.bpf.c adds hooks that hand the exit handlers here the
 * kernel's view of names and addresses (use_lsm).
 */
#include "helpers.h"
#include "syscall.h"
#include "net.h"

/* Make the wire types visible in BTF so bpf2go can generate Go mirrors. */
const struct event_header *unused_event_header __attribute__((unused));
const struct fork_event *unused_fork_event __attribute__((unused));
const struct exec_event *unused_exec_event __attribute__((unused));
const struct exit_event *unused_exit_event __attribute__((unused));
const enum event_type *unused_event_type __attribute__((unused));
const enum drop_cause *unused_drop_cause __attribute__((unused));
const enum event_flag *unused_event_flag __attribute__((unused));
const enum env_limit *unused_env_limit __attribute__((unused));
const struct file_event *unused_file_event __attribute__((unused));
const enum file_op *unused_file_op __attribute__((unused));
const enum file_flag *unused_file_flag __attribute__((unused));
const struct net_event *unused_net_event __attribute__((unused));
const enum net_op *unused_net_op __attribute__((unused));
const enum net_flag *unused_net_flag __attribute__((unused));

#include "process/fork.bpf.c"
#include "process/exec.bpf.c"
#include "file/write.bpf.c"
#include "process/exit.bpf.c"
#include "syscall/dispatch.bpf.c"
#include "file/open.bpf.c"
#include "file/unlink.bpf.c"
#include "file/rename.bpf.c"
#include "net/connect.bpf.c"
#include "net/send.bpf.c"
#include "net/dns.bpf.c"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
