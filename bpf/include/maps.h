/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map and every load-time constant of the Vigil programs, each with
 * what it is for. Sizes marked "set at load" are overridden by user space.
 */
#ifndef VIGIL_MAPS_H
#define VIGIL_MAPS_H

#include "events.h"

/* ---- Load-time constants (.rodata, rewritten by user space) ---- */

/* Emit records for every process, tracked or not (forensics mode). */
const volatile bool trace_all = false;
/* Match new execs against agent_names / agent_files to start new trees. */
const volatile bool match_agents = false;
/* Vigil's own thread-group id: never recorded, so Vigil cannot trace itself. */
const volatile __u32 self_tgid = 0;
/*
 * Wake the reader when the bytes pending cross a multiple of this (see
 * rb_flags); 0 wakes it for every record. The reader polls on a short
 * deadline either way, so a quiet buffer is still drained.
 */
const volatile __u64 wakeup_bytes = 0;
/*
 * The LSM programs (vigil_lsm.bpf.c) are loaded and fill the stashes
 * below: the syscall-exit handlers look there first. False compiles the
 * lookups away.
 */
const volatile bool use_lsm = false;

/* ---- Maps ---- */

/* All records, one reservation each. Size set at load (power of two). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/*
 * Thread-group ids in scope, with the tree they belong to. User space
 * inserts roots; fork copies the parent's entry to the child; exit
 * deletes. Every insert and delete goes through track_insert and
 * track_delete, which keep scope_filter (below) in step.
 * Size set at load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct tree);
} tracked SEC(".maps");

/*
 * A counting filter in front of `tracked`, read first by the sys_exit
 * dispatcher: slot (tgid & (SCOPE_SLOTS - 1)) counts the entries of
 * `tracked` whose key falls there. Zero means the process is certainly
 * not tracked, and its syscall costs this one array read (inlined by the
 * verifier), not a tail call and a hash lookup. Non-zero (the process,
 * or another in its slot, is tracked) goes on to the handler, which
 * looks `tracked` up itself. Each insert of a new key adds one (fork and
 * agent exec here, Sensor.Track through the memory-mapped array) and
 * each delete of a present key subtracts one, so a count may err high,
 * never low.
 */
#define SCOPE_SLOTS 65536
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SCOPE_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} scope_filter SEC(".maps");

/* Executable names (invoked basename or binary name) that start a tree. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct agent_name);
	__type(value, __u32);
} agent_names SEC(".maps");

/* Executable files (device, inode) that start a tree. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct agent_file);
	__type(value, __u32);
} agent_files SEC(".maps");

/*
 * Loss counters per CPU, indexed by cause * EVENT_TYPE_MAX + event type.
 * User space sums them over CPUs and reports every increase as a record.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_CAUSE_MAX * EVENT_TYPE_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/*
 * Scratch space for building variable-size records off the 512-byte BPF
 * stack. exec_buf: the exec record under construction; its data area holds
 * path + args + path, with room for masked offsets. path_buf: a path is
 * built backwards from the middle of this buffer while walking dentries.
 */
#define EXEC_DATA_MAX (4 * VIGIL_PATH_MAX + VIGIL_ARGS_MAX)
struct exec_buf {
	struct exec_event ev;
	char data[EXEC_DATA_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_buf);
} exec_scratch SEC(".maps");

/* Scratch for file records: the record and four strings. */
struct file_buf {
	struct file_event ev;
	char data[EXEC_DATA_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_buf);
} file_scratch SEC(".maps");

/* Scratch for user strings read before they are placed in a record. */
struct str_buf {
	char s[2][VIGIL_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct str_buf);
} str_scratch SEC(".maps");

/*
 * Write totals per (process, descriptor) of regular files, reported when
 * the descriptor is closed, reused for another file, or the process
 * exits. Size set at load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct write_key);
	__type(value, struct write_agg);
} writes SEC(".maps");

/*
 * Send totals per (process, descriptor) of sockets, like writes, reported
 * at close, exit, or when the destination changes. Size set at load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct write_key);
	__type(value, struct send_agg);
} sends SEC(".maps");

/* Scratch for network records: the record and its payload. */
struct net_buf {
	struct net_event ev;
	char data[VIGIL_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct net_buf);
} net_scratch SEC(".maps");

/* Per process: how many entries it has in writes and sends (checked at exit). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} writers SEC(".maps");

/*
 * Syscall-exit handlers, indexed by syscall number. The sys_exit
 * dispatcher tail-calls into them; numbers without a handler cost one
 * failed tail call. Filled by user space.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u32);
} sys_exit_handlers SEC(".maps");

/*
 * The environment scan at exec: one bpf_loop step reads one environment
 * string (or the next ENV_STR_PROBE - 1 bytes of a long one) into str.
 * The scan's position lives here, in map memory, for the reason given at
 * path_buf.pos: every step looks alike to the verifier.
 */
#define ENV_STR_PROBE 256
struct env_buf {
	char str[ENV_STR_PROBE];
	/* The record's data: the VIGIL_CORRELATION_ID value, then TRACEPARENT's. */
	char vals[VIGIL_CORR_ID_MAX + 1 + VIGIL_TRACEPARENT_MAX + 1];
	char traceparent[VIGIL_TRACEPARENT_MAX + 1]; /* until the scan ends */
	__u64 pos;        /* user address of the next read */
	__u64 end;        /* the scan reads no string that starts here or later */
	__u32 corr_len;   /* bytes of the first VIGIL_CORRELATION_ID value */
	__u32 tp_len;     /* bytes of the first TRACEPARENT value */
	__u32 vals_len;   /* bytes in vals */
	__u32 _pad0;
	__u8 found;       /* ENV_FOUND_* of the names seen so far */
	__u8 mid;         /* pos is inside a string whose start was looked at */
	__u8 failed;      /* a read failed: the scan stopped there */
	__u8 _pad;
	__u16 flags;      /* FLAG_ENV_TRUNCATED, for the record's header */
	__u16 _pad2;
};

#define ENV_FOUND_CORR 1
#define ENV_FOUND_TP 2

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct env_buf);
} env_scratch SEC(".maps");

#define PATH_BUF_SIZE (2 * VIGIL_PATH_MAX)
struct path_buf {
	char buf[PATH_BUF_SIZE];
	/*
	 * Write position while a path is built. Kept in map memory, not in a
	 * register, on purpose: the verifier does not track map contents, so
	 * every loop iteration looks alike to it and the walk verifies in
	 * linear time instead of exploding over exact offsets.
	 */
	__u32 pos;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_buf);
} path_scratch SEC(".maps");

/*
 * What an LSM hook saw inside a syscall, for the syscall's exit handler,
 * which alone knows the result. Per task (task storage), so it survives
 * sleeping and migrating between the hook and the exit. nr, arg0 and
 * arg1 are the syscall number and first two arguments the hook ran
 * under: the exit handler takes the stash only when they are its own,
 * so one left by a syscall that never reached its exit handler (an
 * io_uring request, a syscall without a handler) is never mistaken for
 * a later one's.
 */
#define FILE_STASH_DATA (2 * (VIGIL_PATH_MAX + 256))
struct file_stash {
	__u64 arg0;
	__u64 arg1;
	__u32 nr;
	__u32 size;            /* bytes of ev and data in use */
	struct file_event ev;  /* the record, but for what only the exit knows */
	char data[FILE_STASH_DATA];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct file_stash);
} file_stash SEC(".maps");

/* The destination of a connect, as the kernel copied it. */
struct net_stash {
	__u64 arg0;
	__u64 arg1;
	__u32 nr;
	__u16 path_len;
	__u16 _pad;
	struct net_addr dst;
	char path[128];        /* AF_UNIX: the socket path */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct net_stash);
} net_stash SEC(".maps");

#endif /* VIGIL_MAPS_H */
