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

#include "config.h"
#include <fuse_lowlevel.h>
#include <stdbool.h>

#include "events_line.h"

#define EVENTS_KEPT 4096
#define EVENTS_READERS_MAX 1024
#define EVENTS_READERS_PER_UID 64

/* A source of events: start when the first reader opens, stop after the last leaves. */
struct events_source {
	/* At mount (optional): 0, or -errno with *why saying what failed (static text). */
	int (*load)(unsigned ns_inum, const char **why);
	void (*unload)(void);
	int (*start)(void);	/* 0, or -errno (logged) */
	void (*stop)(void);
};

extern const struct events_source events_bpf_source, events_watch_source;


struct ipcfs_file;

/* Serve /events from src (before the mount), and stop (at exit). */
void events_use(const struct events_source *src);
bool events_in_use(void);
void events_end(void);
/*
 * At the end of the session loop, before the session goes: stop the source,
 * whose thread would otherwise answer parked reads through a session that
 * is gone.
 */
void events_shutdown(void);

/* The file's operations, for kind_events (kind.h says what each does). */
int events_open(fuse_req_t req, struct ipcfs_file *file, struct fuse_file_info *fi);
void events_read(fuse_req_t req, struct ipcfs_file *file, size_t size, off_t off, bool nonblock);
void events_poll(fuse_req_t req, struct ipcfs_file *file, struct fuse_pollhandle *ph);
void events_release(struct ipcfs_file *file);

/* From a source's thread: one event happened. */
void events_emit(const struct ipc_event *event);
