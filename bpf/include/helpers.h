/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers shared by every hook, in layers: read (kernel structures) ->
 * extract (paths, credentials) -> store (headers, records, counters).
 */
#ifndef VIGIL_HELPERS_H
#define VIGIL_HELPERS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "events.h"
#include "maps.h"

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((void *)(ptr) - __builtin_offsetof(type, member)))
#endif

/* Most path components walked before a path is reported truncated. */
#define MAX_PATH_DEPTH 64
#define NAME_MAX_LEN 255

/*
 * Sets v (a 64-bit variable) to 0 when it is above max, in one
 * instruction the compiler cannot move or fold: the verifier then knows
 * the bound of the very register used next. A plain `if (v > max)` may
 * be compiled into a compare of a copy (or of v minus a constant), whose
 * bound older verifiers (6.1) do not carry over to v.
 */
#define bound_or_zero(v, max)                                          \
	asm volatile("if %[x] <= %[m] goto +1; %[x] = 0"               \
		     : [x] "+r"(v)                                      \
		     : [m] "i"(max))

/* ---- store: loss accounting ---- */

static __always_inline void count_drop(__u32 cause, __u32 type)
{
	__u32 key = cause * EVENT_TYPE_MAX + type;
	__u64 *n = bpf_map_lookup_elem(&drops, &key);

	if (n)
		*n += 1;
}

/*
 * Ring buffer submit flags for a record of @size bytes: wake the reader
 * per record (wakeup_bytes 0), or only when the bytes pending cross a
 * multiple of wakeup_bytes; the reader polls on a short deadline
 * meanwhile. Waking on the crossing, not on every record above it,
 * matters when the reader is behind: a wakeup per record would then
 * cost the producer an irq_work each and slow it to the reader's pace.
 * The crossing is looked for across this record whether or not it is
 * already counted as pending (output vs. reserve): either way each
 * crossing wakes the reader about once.
 */
static __always_inline __u64 rb_flags(__u64 size)
{
	__u64 avail;

	if (!wakeup_bytes)
		return 0;
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	if (avail / wakeup_bytes != (avail + size) / wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* ---- scope ---- */

#define EEXIST 17

static __always_inline __u64 *scope_slot(__u32 tgid)
{
	__u32 k = tgid & (SCOPE_SLOTS - 1);

	return bpf_map_lookup_elem(&scope_filter, &k);
}

/*
 * May this process be tracked? False is certain (see scope_filter); this
 * is the whole cost of a syscall of an untracked process.
 */
static __always_inline bool maybe_tracked(__u32 tgid)
{
	__u64 *n = scope_slot(tgid);

	return n && *n;
}

/* Puts tgid in scope as part of tree t, counting a new key in the filter. */
static __always_inline long track_insert(__u32 tgid, const struct tree *t)
{
	long err = bpf_map_update_elem(&tracked, &tgid, t, BPF_NOEXIST);
	__u64 *n;

	if (err == -EEXIST)
		return bpf_map_update_elem(&tracked, &tgid, t, BPF_EXIST);
	if (!err && (n = scope_slot(tgid)))
		__sync_fetch_and_add(n, 1);
	return err;
}

/* Takes tgid out of scope, and out of the filter if it was there. */
static __always_inline void track_delete(__u32 tgid)
{
	__u64 *n;

	if (!bpf_map_delete_elem(&tracked, &tgid) && (n = scope_slot(tgid)))
		__sync_fetch_and_add(n, -1);
}

/*
 * The tree a process belongs to, or NULL. Vigil itself is never in scope.
 */
static __always_inline struct tree *scope_of(__u32 tgid)
{
	return bpf_map_lookup_elem(&tracked, &tgid);
}

/* Should an event of a process with this scope be recorded at all? */
static __always_inline bool in_scope(struct tree *t, __u32 tgid)
{
	if (tgid == self_tgid)
		return false;
	return t || trace_all;
}

/* ---- extract + store: the common header ---- */

static __always_inline void fill_header(struct event_header *hdr, __u16 type,
					__u32 size, struct task_struct *task,
					const struct tree *t)
{
	const struct cred *cred = task->cred;

	hdr->type = type;
	hdr->flags = 0;
	hdr->size = size;
	hdr->ktime = bpf_ktime_get_boot_ns();
	hdr->start_time = task->group_leader->start_boottime;
	hdr->cgroup_id = bpf_get_current_cgroup_id();
	if (t) {
		hdr->tree = *t;
	} else {
		hdr->tree.root_start = 0;
		hdr->tree.root_tgid = 0;
		hdr->tree.agent = 0;
	}
	hdr->pid = task->pid;
	hdr->tgid = task->tgid;
	hdr->ppid = task->real_parent->tgid;
	hdr->uid = cred->uid.val;
	hdr->gid = cred->gid.val;
	hdr->euid = cred->euid.val;
	hdr->egid = cred->egid.val;
	hdr->_pad = 0;
	bpf_get_current_comm(hdr->comm, sizeof(hdr->comm));
}

/* ---- extract: absolute paths ---- */

/*
 * What a path walk reads of a dentry and of a mount, each in one probe
 * read: in every kernel Vigil runs on, d_name follows d_parent in struct
 * dentry, and mnt_mountpoint and the embedded vfsmount (whose first
 * member is mnt_root) follow mnt_parent in struct mount. The layouts are
 * checked against the running kernel's BTF at load (CO-RE offsets, so
 * the check is a constant and the verifier keeps one branch); a kernel
 * that differs gets a field-by-field walk.
 */
struct dentry_head {
	struct dentry *parent;
	__u64 hash_len;              /* qstr: hash, then len */
	const unsigned char *name;
};

struct mount_head {
	struct mount *parent;
	struct dentry *mountpoint;
	struct dentry *root;         /* mnt.mnt_root */
};

static __always_inline bool walk_heads_fit(void)
{
	__u32 parent = bpf_core_field_offset(struct dentry, d_parent);
	__u32 mparent = bpf_core_field_offset(struct mount, mnt_parent);

	return bpf_core_field_offset(struct dentry, d_name) == parent + 8 &&
	       bpf_core_field_offset(struct mount, mnt_mountpoint) == mparent + 8 &&
	       bpf_core_field_offset(struct mount, mnt) == mparent + 16 &&
	       bpf_core_field_offset(struct vfsmount, mnt_root) == 0;
}

static __always_inline void read_dentry_head(struct dentry_head *h,
					     struct dentry *d)
{
	/* A failed read leaves *h zeroed: the walk ends there. */
	if (walk_heads_fit()) {
		bpf_probe_read_kernel(h, sizeof(*h), (void *)d +
				      bpf_core_field_offset(struct dentry, d_parent));
		return;
	}
	h->parent = BPF_CORE_READ(d, d_parent);
	h->hash_len = (__u64)BPF_CORE_READ(d, d_name.len) << 32;
	h->name = BPF_CORE_READ(d, d_name.name);
}

static __always_inline void read_mount_head(struct mount_head *h,
					    struct mount *m)
{
	if (walk_heads_fit()) {
		bpf_probe_read_kernel(h, sizeof(*h), (void *)m +
				      bpf_core_field_offset(struct mount, mnt_parent));
		return;
	}
	h->parent = BPF_CORE_READ(m, mnt_parent);
	h->mountpoint = BPF_CORE_READ(m, mnt_mountpoint);
	h->root = BPF_CORE_READ(m, mnt.mnt_root);
}

/*
 * Builds the absolute path of @path backwards in pb->buf, ending at
 * VIGIL_PATH_MAX, crossing mount points up to the root of the task's mount
 * namespace (a chroot is not a boundary: the path is the one the host
 * sees). Returns the offset where the path starts, in [0, VIGIL_PATH_MAX);
 * the path runs to VIGIL_PATH_MAX. Sets *truncated when the path is deeper
 * than MAX_PATH_DEPTH components or longer than VIGIL_PATH_MAX bytes; the
 * result then holds the innermost components.
 *
 * bpf_d_path() would do this, but it is only allowed in LSM and fentry
 * programs, which this sensor cannot rely on. Each component costs two
 * probe reads (the dentry's parent and name, then the name's bytes), a
 * mount crossing one.
 */
static __always_inline __u32 path_walk(const struct path *path,
				       struct path_buf *pb, bool *truncated)
{
	struct path p = {};
	struct dentry *dentry, *mnt_root;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry_head dh;
	struct mount_head mh;
	bool done = false;

	/* struct path is two pointers, mnt and dentry: one read. */
	bpf_core_read(&p, sizeof(p), path);
	dentry = p.dentry;
	vfsmnt = p.mnt;
	mnt = container_of(vfsmnt, struct mount, mnt);
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);

	*truncated = false;
	pb->pos = VIGIL_PATH_MAX;
	for (int i = 0; i < MAX_PATH_DEPTH; i++) {
		read_dentry_head(&dh, dentry);
		if (dentry == mnt_root || dentry == dh.parent) {
			read_mount_head(&mh, mnt);
			/* Root of a mount: continue in the parent mount. */
			if (dentry == mnt_root && mnt != mh.parent) {
				struct mount *up = mh.parent;

				dentry = mh.mountpoint;
				mnt = up;
				read_mount_head(&mh, up);
				mnt_root = mh.root;
				continue;
			}
			/* Root of the namespace (or a detached tree). */
			done = true;
			break;
		}

		__u32 len = dh.hash_len >> 32;
		__u32 pos = pb->pos;

		if (len > NAME_MAX_LEN)
			len = NAME_MAX_LEN;
		if (pos > VIGIL_PATH_MAX || len + 1 > pos) {
			*truncated = true;
			done = true;
			break;
		}
		pos -= len;
		bpf_probe_read_kernel(&pb->buf[pos & (VIGIL_PATH_MAX - 1)],
				      len & NAME_MAX_LEN, dh.name);
		pos -= 1;
		pb->buf[pos & (VIGIL_PATH_MAX - 1)] = '/';
		pb->pos = pos;
		dentry = dh.parent;
	}
	if (!done)
		*truncated = true;
	if (pb->pos >= VIGIL_PATH_MAX) {
		pb->buf[VIGIL_PATH_MAX - 1] = '/';
		return VIGIL_PATH_MAX - 1;
	}
	return pb->pos;
}

/* Offsets into a record's data area are masked with this. */
#define DATA_OFF_MASK (4 * VIGIL_PATH_MAX - 1)

/*
 * Appends the absolute path of @path at data[off] and returns its length.
 * On truncation sets @flag in *flags and counts it against @type.
 */
static __always_inline __u32 append_path(char *data, __u32 off,
					 const struct path *path,
					 struct path_buf *pb, __u16 *flags,
					 __u16 flag, __u32 type)
{
	bool truncated;
	__u32 pos = path_walk(path, pb, &truncated) & (VIGIL_PATH_MAX - 1);
	__u32 len = VIGIL_PATH_MAX - pos;

	if (truncated) {
		*flags |= flag;
		count_drop(DROP_TRUNCATED, type);
	}
	if (len > VIGIL_PATH_MAX)
		return 0;
	/*
	 * The compiler knows len is at most VIGIL_PATH_MAX and drops what
	 * shows it; older verifiers (6.1) then see an unbounded size on some
	 * paths. Hide the value, then bound it with a mask they track.
	 */
	barrier_var(len);
	len &= 2 * VIGIL_PATH_MAX - 1;
	if (bpf_probe_read_kernel(&data[off & DATA_OFF_MASK], len,
				  &pb->buf[pos]))
		return 0;
	return len;
}

#endif /* VIGIL_HELPERS_H */
