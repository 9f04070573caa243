// SPDX-License-Identifier: GPL-2.0-only
/* The JSON lines of /events (events.h): pure, shared with the unit tests. */
#include "events_line.h"

static void append_json_string(GString *out, const char *s)
{
	g_string_append_c(out, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			g_string_append_printf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			g_string_append_printf(out, "\\u%04x", c);
		else
			g_string_append_c(out, (char)c);
	}
	g_string_append_c(out, '"');
}

static const char *const op_names[] = {
	[EVENT_CREATE] = "create", [EVENT_REMOVE] = "remove", [EVENT_SET] = "set",
	[EVENT_ATTACH] = "attach", [EVENT_DETACH] = "detach",
};

void events_format_line(const struct ipc_event *event, pid_t pid_seen, GString *out)
{
	g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(event->time_us / G_USEC_PER_SEC);
	g_autofree char *when = utc ? g_date_time_format(utc, "%Y-%m-%dT%H:%M:%S") : g_strdup("?");
	char comm[sizeof(event->comm) + 1];

	g_string_append_printf(out, "{\"time\": \"%s.%03dZ\", \"op\": \"%s\", \"kind\": \"%s\", ",
			       when, (int)(event->time_us % G_USEC_PER_SEC / 1000), op_names[event->op],
			       event->kind);
	if (event->key_known)
		g_string_append_printf(out, "\"key\": \"0x%08x\", ", (unsigned)event->key);
	else
		g_string_append(out, "\"key\": null, ");
	g_string_append_printf(out, "\"id\": %d, ", event->id);
	if (pid_seen > 0) {
		g_strlcpy(comm, event->comm, sizeof(comm));
		g_string_append_printf(out, "\"pid\": %d, \"comm\": ", (int)pid_seen);
		append_json_string(out, comm);
	} else {
		g_string_append(out, "\"pid\": null, \"comm\": null");
	}
	if (event->uid_known)
		g_string_append_printf(out, ", \"uid\": %u}\n", (unsigned)event->uid);
	else
		g_string_append(out, ", \"uid\": null}\n");
}

void events_format_lost(uint64_t count, GString *out)
{
	g_string_append_printf(out, "{\"op\": \"lost\", \"count\": %" G_GUINT64_FORMAT "}\n", count);
}
