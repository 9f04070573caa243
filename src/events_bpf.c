// SPDX-License-Identifier: GPL-2.0-only
/*
 * The eBPF source of /events (events.h): events.bpf.c, loaded and verified
 * once at mount, attached to the raw syscall tracepoints only while someone
 * reads /events, its records read from the ring buffer by a thread of its own.
 *
 * A record is a successful call; this file names the event.  A *get that
 * returned an id not seen before (or had IPC_PRIVATE, or IPC_CREAT|IPC_EXCL)
 * made the object; the ids known are the listing taken at start, and every
 * create since.  IPC_RMID is a remove, IPC_SET a set, shmat an attach,
 * shmdt a detach (of the segment the program found at its address).
 */
#include "config.h"

#include <errno.h>
#include <linux/types.h>

#include "events.h"
#include "events_bpf.h"
#include "log.h"

#if HAVE_LIBBPF
#include <bpf/libbpf.h>
#include <sys/ipc.h>

#include "events.skel.h"
#include "kind.h"
#include "ns.h"

static struct events_prog *prog;
static struct ring_buffer *ring;
static GThread *reader;
static volatile gint stopping;
static uint64_t dropped_told;
/* Per kind (shm, sem, msg): id -> key of every object known to exist. */
static GHashTable *known[3];
static const struct ipcfs_kind *const kinds[3] = { &kind_shm, &kind_sem, &kind_msg };

static int silent_libbpf(enum libbpf_print_level level, const char *format, va_list args)
{
	(void)level, (void)format, (void)args;
	return 0;
}

static int bpf_load(unsigned ns_inum, const char **why)
{
	int err;

	libbpf_set_print(silent_libbpf);
	prog = events_prog__open();
	if (!prog) {
		*why = "opening the eBPF program";
		return -errno;
	}
	prog->rodata->served_ns = ns_inum;
	err = events_prog__load(prog);
	if (err) {
		*why = "loading the eBPF program (CAP_BPF and CAP_PERFMON, or root, are needed)";
		events_prog__destroy(prog);
		prog = NULL;
		return err < 0 ? err : -EPERM;
	}
	return 0;
}

static void bpf_unload(void)
{
	g_clear_pointer(&prog, events_prog__destroy);
}

static void know(unsigned k, int id, int32_t key)
{
	g_hash_table_insert(known[k], GINT_TO_POINTER(id), GSIZE_TO_POINTER((gsize)(uint32_t)key));
}

static bool key_of(unsigned k, int id, int32_t *key)
{
	gpointer v;

	if (!g_hash_table_lookup_extended(known[k], GINT_TO_POINTER(id), NULL, &v))
		return false;
	*key = (int32_t)(uint32_t)GPOINTER_TO_SIZE(v);
	return true;
}

/* The kind index (into kinds) and event of a record; false if it is none. */
static bool name_record(const struct events_bpf_record *r, unsigned *k, struct ipc_event *e)
{
	unsigned cmd;
	int flags;

	e->id = (int)r->args[0];
	switch (r->nr) {
	case NR_shmget: case NR_semget: case NR_msgget:
		*k = r->nr == NR_shmget ? 0 : r->nr == NR_semget ? 1 : 2;
		flags = (int)(r->nr == NR_msgget ? r->args[1] : r->args[2]);
		e->id = (int)r->ret;
		e->key = (int32_t)r->args[0];
		e->key_known = true;
		if (e->key != IPC_PRIVATE && (flags & (IPC_CREAT | IPC_EXCL)) != (IPC_CREAT | IPC_EXCL) &&
		    g_hash_table_contains(known[*k], GINT_TO_POINTER(e->id)))
			return false;	/* an existing object's id */
		e->op = EVENT_CREATE;
		know(*k, e->id, e->key);
		return true;
	case NR_shmat:
		*k = 0;
		e->op = EVENT_ATTACH;
		break;
	case NR_shmdt:
		*k = 0;
		e->op = EVENT_DETACH;
		e->id = r->shmdt_id;
		if (e->id < 0)
			return false;	/* no segment at that address: shmdt failed, or raced */
		break;
	case NR_shmctl: case NR_semctl: case NR_msgctl:
		*k = r->nr == NR_shmctl ? 0 : r->nr == NR_semctl ? 1 : 2;
		cmd = (unsigned)(r->nr == NR_semctl ? r->args[2] : r->args[1]) & ~0x100u;	/* IPC_64 */
		if (cmd == IPC_RMID)
			e->op = EVENT_REMOVE;
		else if (cmd == IPC_SET)
			e->op = EVENT_SET;
		else
			return false;
		break;
	default:
		return false;
	}
	e->key_known = key_of(*k, e->id, &e->key);
	if (e->op == EVENT_REMOVE)
		g_hash_table_remove(known[*k], GINT_TO_POINTER(e->id));
	return true;
}

static int on_record(void *ctx, void *data, size_t size)
{
	const struct events_bpf_record *r = data;
	struct ipc_event e = { 0 };
	unsigned k;

	(void)ctx;
	if (size < sizeof(*r) || !name_record(r, &k, &e))
		return 0;
	e.kind = kinds[k]->name;
	e.time_us = g_get_real_time() -
		    (g_get_monotonic_time() - (int64_t)(r->mono_ns / 1000));
	e.pid = (pid_t)r->tgid;
	memcpy(e.comm, r->comm, sizeof(e.comm));
	e.comm[sizeof(e.comm) - 1] = '\0';
	e.uid_known = true;
	e.uid = r->euid;
	events_emit(&e);
	return 0;
}

/* Records the kernel program had no room for since the last look, told to every reader. */
static void tell_dropped(void)
{
	uint32_t zero = 0;
	uint64_t n = 0;

	if (bpf_map__lookup_elem(prog->maps.dropped, &zero, sizeof(zero), &n, sizeof(n), 0) != 0 ||
	    n == dropped_told)
		return;
	log_debug("events: the eBPF ring was full: %" G_GUINT64_FORMAT " events lost",
		  n - dropped_told);
	events_emit(&(struct ipc_event){ .op = EVENT_LOST, .lost = n - dropped_told });
	dropped_told = n;
}

static gpointer read_ring(gpointer data)
{
	(void)data;
	while (!g_atomic_int_get(&stopping)) {
		ring_buffer__poll(ring, 100);
		tell_dropped();
	}
	ring_buffer__consume(ring);
	return NULL;
}

static int bpf_start(void)
{
	int err;

	for (unsigned k = 0; k < G_N_ELEMENTS(kinds); k++) {
		g_autoptr(GArray) objs = g_array_new(FALSE, FALSE, sizeof(struct ipc_obj));

		known[k] = g_hash_table_new(NULL, NULL);
		if (kinds[k]->list(objs) == 0)
			for (guint i = 0; i < objs->len; i++) {
				const struct ipc_obj *obj = &g_array_index(objs, struct ipc_obj, i);

				know(k, obj->id, obj->key);
			}
	}
	err = events_prog__attach(prog);
	if (err) {
		err = reason(err < 0 ? -err : EPERM, "events: attaching the eBPF program failed");
		goto fail;
	}
	ring = ring_buffer__new(bpf_map__fd(prog->maps.records), on_record, NULL, NULL);
	if (!ring) {
		err = reason(errno, "events: reading the eBPF ring buffer failed");
		events_prog__detach(prog);
		goto fail;
	}
	g_atomic_int_set(&stopping, 0);
	reader = ns_thread_new("events-bpf", read_ring, NULL);
	log_debug("events: eBPF attached to raw_syscalls sys_enter and sys_exit");
	return 0;
fail:
	for (unsigned k = 0; k < G_N_ELEMENTS(kinds); k++)
		g_clear_pointer(&known[k], g_hash_table_unref);
	return err;
}

static void bpf_stop(void)
{
	g_atomic_int_set(&stopping, 1);
	g_thread_join(reader);
	reader = NULL;
	events_prog__detach(prog);
	g_clear_pointer(&ring, ring_buffer__free);
	for (unsigned k = 0; k < G_N_ELEMENTS(kinds); k++)
		g_clear_pointer(&known[k], g_hash_table_unref);
	log_debug("events: eBPF detached (nobody reads /events)");
}

#else

static int bpf_load(unsigned ns_inum, const char **why)
{
	(void)ns_inum;
	*why = "this ipcfs was built without libbpf";
	return -ENOSYS;
}

static void bpf_unload(void)
{
}

static int bpf_start(void)
{
	return -ENOSYS;
}

static void bpf_stop(void)
{
}
#endif

const struct events_source events_bpf_source = {
	.load = bpf_load,
	.unload = bpf_unload,
	.start = bpf_start,
	.stop = bpf_stop,
};
