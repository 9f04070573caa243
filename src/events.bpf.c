// SPDX-License-Identifier: GPL-2.0-only
/*
 * The eBPF source of /events (events_bpf.c loads it): the IPC system calls
 * that create, change, attach, detach and remove objects, seen on the raw
 * syscall tracepoints (no tracefs needed), as one record each on a ring
 * buffer.  A call is noted at entry (its arguments) and sent at exit, only if
 * it succeeded.  Every other system call returns at the first comparison.
 *
 * CO-RE: the few kernel fields read are declared here with
 * preserve_access_index, and libbpf relocates them against the running
 * kernel's BTF, so no vmlinux.h is generated at build time.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "events_bpf.h"

struct pt_regs {
	unsigned long di, si, dx, orig_ax;
} __attribute__((preserve_access_index));

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct ipc_namespace {
	struct ns_common ns;
} __attribute__((preserve_access_index));

struct nsproxy {
	struct ipc_namespace *ipc_ns;
} __attribute__((preserve_access_index));

typedef struct {
	__u32 val;
} kuid_t;

struct cred {
	kuid_t euid;
} __attribute__((preserve_access_index));

struct task_struct {
	int tgid;
	struct nsproxy *nsproxy;
	const struct cred *cred;
} __attribute__((preserve_access_index));

struct inode {
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct vm_area_struct {
	struct file *vm_file;
} __attribute__((preserve_access_index));

/* The IPC namespace whose calls are sent (set by the loader before load). */
const volatile __u32 served_ns = 0;

struct call {
	__u32 nr;
	__s32 id;	/* shmdt: the segment mapped at its address, from the vma */
	__u64 args[3];
};

/* Calls between entry and exit, by thread; LRU so that a thread killed mid-call cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct call);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EVENTS_BPF_RING_BYTES);
} records SEC(".maps");

/* Records the ring had no room for. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dropped SEC(".maps");

static __always_inline int watched(long nr)
{
	switch (nr) {
	case NR_shmget: case NR_shmat: case NR_shmctl: case NR_shmdt:
	case NR_semget: case NR_semctl: case NR_msgget: case NR_msgctl:
		return 1;
	default:
		return 0;
	}
}

static long inode_of_vma(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	struct call *c = ctx;

	/* A SysV segment's file has the segment's id as its inode number (ipc/shm.c). */
	c->id = (__s32)BPF_CORE_READ(vma, vm_file, f_inode, i_ino);
	return 0;
}

SEC("raw_tp/sys_enter")
int on_enter(__u64 *ctx)
{
	long nr = (long)ctx[1];
	struct pt_regs *regs;
	struct call c = {};
	__u32 tid;

	if (!watched(nr))
		return 0;
	regs = (struct pt_regs *)ctx[0];
	c.nr = (__u32)nr;
	c.id = -1;
	c.args[0] = BPF_CORE_READ(regs, di);
	c.args[1] = BPF_CORE_READ(regs, si);
	c.args[2] = BPF_CORE_READ(regs, dx);
	if (nr == NR_shmdt)
		bpf_find_vma(bpf_get_current_task_btf(), c.args[0], inode_of_vma, &c, 0);
	tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&calls, &tid, &c, BPF_ANY);
	return 0;
}

SEC("raw_tp/sys_exit")
int on_exit(__u64 *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx[0];
	long ret = (long)ctx[1];
	struct task_struct *task;
	struct events_bpf_record *r;
	struct call *c;
	__u32 tid, zero = 0;
	__u64 *n;

	if (!watched((long)BPF_CORE_READ(regs, orig_ax)))
		return 0;
	tid = (__u32)bpf_get_current_pid_tgid();
	c = bpf_map_lookup_elem(&calls, &tid);
	if (!c)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	if (ret < 0 || BPF_CORE_READ(task, nsproxy, ipc_ns, ns.inum) != served_ns)
		goto done;
	r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (!r) {
		n = bpf_map_lookup_elem(&dropped, &zero);
		if (n)
			__sync_fetch_and_add(n, 1);
		goto done;
	}
	r->mono_ns = bpf_ktime_get_ns();
	r->nr = c->nr;
	r->ret = ret;
	r->shmdt_id = c->id;
	r->args[0] = c->args[0];
	r->args[1] = c->args[1];
	r->args[2] = c->args[2];
	r->tgid = (__u32)BPF_CORE_READ(task, tgid);
	r->euid = BPF_CORE_READ(task, cred, euid.val);
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	bpf_ringbuf_submit(r, 0);
done:
	bpf_map_delete_elem(&calls, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
