// SPDX-License-Identifier: GPL-2.0-only
#include "perm.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void caller_init(struct caller *caller, uid_t uid, gid_t gid, pid_t pid)
{
	*caller = (struct caller){ .uid = uid, .gid = gid, .pid = pid };
}

void caller_clear(struct caller *caller)
{
	g_clear_pointer(&caller->groups, g_free);
}

bool caller_parse_status(struct caller *caller, const char *status_text)
{
	const char *groups = strstr(status_text, "\nGroups:");
	const char *capeff = strstr(status_text, "\nCapEff:");
	GArray *list;
	char *end;

	if (!groups || !capeff)
		return false;
	caller->cap_effective = g_ascii_strtoull(capeff + strlen("\nCapEff:"), &end, 16);

	list = g_array_new(FALSE, FALSE, sizeof(gid_t));
	for (const char *p = groups + strlen("\nGroups:"); *p && *p != '\n';) {
		guint64 gid;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!g_ascii_isdigit(*p))
			break;
		gid = g_ascii_strtoull(p, &end, 10);
		g_array_append_val(list, (gid_t){ (gid_t)gid });
		p = end;
	}
	caller->ngroups = (int)list->len;
	g_free(caller->groups);
	caller->groups = (gid_t *)(void *)g_array_free(list, FALSE);
	return true;
}

static void caller_load_details(struct caller *caller)
{
	char path[64];
	gchar *text = NULL;

	if (caller->details_loaded)
		return;
	caller->details_loaded = true;
	if (caller->pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)caller->pid);
	if (g_file_get_contents(path, &text, NULL, NULL))
		caller->details_known = caller_parse_status(caller, text);
	g_free(text);
}

bool perm_has_cap(struct caller *caller, int cap)
{
	caller_load_details(caller);
	return caller->details_known && (caller->cap_effective >> cap) & 1;
}

bool perm_in_group(struct caller *caller, gid_t gid)
{
	if (caller->gid == gid)
		return true;
	caller_load_details(caller);
	for (int i = 0; i < caller->ngroups; i++)
		if (caller->groups[i] == gid)
			return true;
	return false;
}

bool perm_may_access(struct caller *caller, const struct ipc_obj *obj, int want)
{
	unsigned granted;

	/* As ipcperms(): the creator counts as an owner, the creator's group as a group. */
	if (caller->uid == obj->uid || caller->uid == obj->cuid)
		granted = obj->mode >> 6;
	else if (((obj->mode >> 3) & want & 7) == (obj->mode & want & 7))
		granted = obj->mode;	/* group membership could not change the answer */
	else if (perm_in_group(caller, obj->gid) || perm_in_group(caller, obj->cgid))
		granted = obj->mode >> 3;
	else
		granted = obj->mode;

	if ((want & ~granted & 7) == 0)
		return true;
	return perm_has_cap(caller, PERM_CAP_IPC_OWNER);
}

bool perm_may_control(struct caller *caller, const struct ipc_obj *obj)
{
	if (caller->uid == obj->uid || caller->uid == obj->cuid)
		return true;
	return perm_has_cap(caller, PERM_CAP_SYS_ADMIN);
}
