/* SPDX-License-Identifier: GPL-2.0-only */
/* One event of /events, and its JSON line (pure: unit-tested). */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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

/*
 * Append the JSON line of event, as a reader who sees its process as
 * pid_seen sees it (0: pid and comm null), newline included.
 */
void events_format_line(const struct ipc_event *event, pid_t pid_seen, GString *out);
/* The line that tells a reader it lost count events. */
void events_format_lost(uint64_t count, GString *out);
