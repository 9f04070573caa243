/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * /events: who created, changed, attached, detached and removed the served
 * namespace's objects, as JSON lines (docs/admin.md, "Who did what").
 *
 * A source (events_bpf.c: eBPF on the syscall tracepoints; events_watch.c:
 * the listing's diff) runs only while someone has /events open, and hands
 * each event to events_emit().  The events are kept in one ring of
 * EVENTS_KEPT; every open file has its own position in it, from its open on,
 * and a reader that falls more than EVENTS_KEPT behind loses the oldest, told
 * by a {"op": "lost", "count": N} line.  A read waits for the next event
 * without holding a thread (chan_wait.h).
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define EVENTS_KEPT 4096
#define EVENTS_READERS_MAX 1024
#define EVENTS_READERS_PER_UID 64

enum event_op {
	EVENT_CREATE, EVENT_REMOVE, EVENT_SET, EVENT_ATTACH, EVENT_DETACH,
	EVENT_LOST,	/* the source itself lost lost events (no other field counts) */
};

struct ipc_event {
	int64_t time_us;	/* wall clock, microseconds since the epoch */
	enum event_op op;
	const char *kind;	/* "shm", "sem" or "msg" */
	bool key_known;
	int32_t key;
	int id;
	pid_t pid;		/* the process that made the call, 0 if not known */
	char comm[16];
	bool uid_known;
	uid_t uid;		/* its effective uid */
	uint64_t lost;
};

/* A source of events: start when the first reader opens, stop after the last leaves. */
struct events_source {
	const char *name;	/* for the -d log */
	int (*start)(void);	/* 0, or -errno (logged) */
	void (*stop)(void);
};

extern const struct events_source events_bpf_source, events_watch_source;


/* From a source's thread: one event happened. */
void events_emit(const struct ipc_event *event);

/*
 * Append the JSON line of event, as a reader who sees its process as
 * pid_seen sees it (0: pid and comm null), newline included.
 */
void events_format_line(const struct ipc_event *event, pid_t pid_seen, GString *out);
/* The line that tells a reader it lost count events. */
void events_format_lost(uint64_t count, GString *out);
