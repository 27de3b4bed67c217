//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The optional BPF LSM programs: loaded only where the kernel runs BPF LSM
 * programs (sensor.ProbeHooks), into the maps of the main collection
 * (vigil.bpf.c), whose syscall-exit handlers finish and send what these
 * hooks stash. Where they do not load, the tracepoint path alone produces
 * the same records from the syscalls' arguments.
 */
#include "helpers.h"
#include "syscall.h"
#include "net.h"

#include "lsm/path.bpf.c"
#include "lsm/connect.bpf.c"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
