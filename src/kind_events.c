// SPDX-License-Identifier: GPL-2.0-only
/* /events as a file at the root of the tree, and the choice of its source (events.h). */
#include <stdio.h>

#include "events.h"
#include "kind.h"
#include "log.h"
#include "ns.h"
#include "options.h"

/* The source -o events= chose: 0, or -1 with the reason on stderr (events=bpf that cannot load). */
static int events_setup(void)
{
	enum events_choice choice = ipcfs_options.events;
	const char *why = NULL;
	int err;

	switch (choice) {
	case EVENTS_OFF:
		log_debug("events: off (-o events=off): no /events");
		return 0;
	case EVENTS_WATCH:
		events_use(&events_watch_source);
		log_debug("events: the listing watcher (-o events=watch): creates and removes, removers unknown");
		return 0;
	case EVENTS_AUTO:
	case EVENTS_BPF:
		break;
	}
	err = events_bpf_source.load((unsigned)ns_ino(NS_SERVED), &why);
	if (!err) {
		events_use(&events_bpf_source);
		log_debug("events: eBPF on the raw syscall tracepoints (-o events=%s)",
			  choice == EVENTS_BPF ? "bpf" : "auto");
		return 0;
	}
	if (choice == EVENTS_BPF) {
		fprintf(stderr, "ipcfs: events=bpf: %s: %s\n", why, g_strerror(-err));
		return -1;
	}
	events_use(&events_watch_source);
	log_debug("events: eBPF cannot be used (%s: %s): the listing watcher instead (creates and removes, removers unknown)",
		  why, g_strerror(-err));
	return 0;
}

static bool events_absent(void)
{
	return !events_in_use();
}

const struct ipcfs_kind kind_events = {
	.name = "events",
	.dir_mode = 0444,
	.root_file = true,
	.absent = events_absent,
	.setup = events_setup,
	.teardown = events_end,
	.open = events_open,
	.read = events_read,
	.poll = events_poll,
	.release = events_release,
};
