// SPDX-License-Identifier: GPL-2.0-only
#include "attr.h"

#include <errno.h>
#include <string.h>

#include "perm.h"

/* A time the kernel has never set is 0; show the change time instead of 1970. */
static time_t or_ctime(time_t t, const struct ipc_obj *obj)
{
	return t ? t : obj->ctime;
}

void attr_fill(const struct ipc_obj *obj, ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFREG | (obj->mode & 0777);
	st->st_nlink = 1;
	st->st_uid = obj->uid;
	st->st_gid = obj->gid;
	st->st_size = (off_t)obj->size;
	st->st_blksize = 4096;
	st->st_blocks = obj->blocks > 0 ? (blkcnt_t)obj->blocks : 0;
	st->st_atim.tv_sec = or_ctime(obj->atime, obj);
	st->st_mtim.tv_sec = or_ctime(obj->mtime, obj);
	st->st_ctim.tv_sec = obj->ctime;
}

static int format_id(const struct ipc_obj *obj, GString *out)
{
	g_string_append_printf(out, "%d", obj->id);
	return 0;
}

static int format_key(const struct ipc_obj *obj, GString *out)
{
	g_string_append_printf(out, "0x%08x", (unsigned)obj->key);
	return 0;
}

static int format_cuid(const struct ipc_obj *obj, GString *out)
{
	g_string_append_printf(out, "%u", (unsigned)obj->cuid);
	return 0;
}

static int format_cgid(const struct ipc_obj *obj, GString *out)
{
	g_string_append_printf(out, "%u", (unsigned)obj->cgid);
	return 0;
}

const struct xattr_field attr_common_fields[] = {
	{ .name = "id", .format = format_id },
	{ .name = "key", .format = format_key },
	{ .name = "cuid", .format = format_cuid },
	{ .name = "cgid", .format = format_cgid },
	{ .name = NULL },
};

const struct xattr_field *attr_find_field(const struct xattr_field *fields, const char *name)
{
	for (; fields && fields->name; fields++)
		if (strcmp(fields->name, name) == 0)
			return fields;
	return NULL;
}

int attr_parse_number(const char *value, size_t size, unsigned long long max,
		      unsigned long long *out)
{
	g_autofree char *text = NULL;
	unsigned long long n = 0;

	if (memchr(value, '\0', size))
		return -EINVAL;
	text = g_strstrip(g_strndup(value, size));
	if (!*text)
		return -EINVAL;
	for (const char *p = text; *p; p++) {
		if (!g_ascii_isdigit(*p) || n > (max - (unsigned)(*p - '0')) / 10)
			return -EINVAL;
		n = n * 10 + (unsigned)(*p - '0');
	}
	*out = n;
	return 0;
}

void attr_pids_as_seen_by(struct caller *caller, GString *value)
{
	g_auto(GStrv) pids = g_strsplit(value->str, " ", -1);

	g_string_truncate(value, 0);
	for (guint i = 0; pids[i]; i++) {
		gint64 pid = g_ascii_strtoll(pids[i], NULL, 10);

		g_string_append_printf(value, "%s%d", i ? " " : "",
				       pid > 0 ? (int)perm_pid_as_seen_by(caller, (pid_t)pid) : 0);
	}
}
