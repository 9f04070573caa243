// SPDX-License-Identifier: GPL-2.0-only
#include "semcmd.h"

#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* Unsigned decimal digits only; values above limit give -ERANGE. */
static int parse_number(const char *s, long limit, long *out)
{
	long value = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (!g_ascii_isdigit(*s))
			return -EINVAL;
		if (value <= limit)
			value = value * 10 + (*s - '0');
	}
	if (value > limit)
		return -ERANGE;
	*out = value;
	return 0;
}

static int parse_index(const char *s, int nsems, int *out)
{
	long index;
	int err = parse_number(s, INT_MAX, &index);

	if (err)
		return err == -ERANGE ? -EFBIG : err;
	if (index >= nsems)
		return -EFBIG;
	*out = (int)index;
	return 0;
}

/* "+N", "-N", or "0" after an index ("I:0"). */
static int parse_op_value(const char *s, bool allow_bare_zero, short *out)
{
	long value;
	int err;

	if (*s == '+' || *s == '-') {
		err = parse_number(s + 1, SEMCMD_SEMVMX, &value);
		if (err)
			return err;
		*out = (short)(*s == '-' ? -value : value);
		return 0;
	}
	if (allow_bare_zero && strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	return -EINVAL;
}

static int parse_timeout(const char *s, struct timespec *out)
{
	char *end;
	double seconds;

	if (!g_ascii_isdigit(*s) && *s != '.')
		return -EINVAL;
	seconds = g_ascii_strtod(s, &end);
	if (*end || !isfinite(seconds) || seconds < 0 || seconds > (double)INT_MAX)
		return -EINVAL;
	out->tv_sec = (time_t)seconds;
	out->tv_nsec = (long)((seconds - (double)out->tv_sec) * 1e9);
	return 0;
}

static int parse_tokens(char **tokens, int nsems, struct semcmd *cmd)
{
	g_autoptr(GArray) ops = g_array_new(FALSE, FALSE, sizeof(struct sembuf));
	g_autoptr(GArray) values = g_array_new(FALSE, FALSE, sizeof(unsigned short));
	bool has_flags = false;
	int err;

	for (char **t = tokens; *t; t++) {
		const char *tok = *t;
		const char *sep;
		long value;

		if (strcmp(tok, "nowait") == 0) {
			cmd->nowait = has_flags = true;
		} else if (strcmp(tok, "undo") == 0) {
			cmd->undo = has_flags = true;
		} else if (g_str_has_prefix(tok, "timeout=")) {
			err = parse_timeout(tok + strlen("timeout="), &cmd->timeout);
			if (err)
				return err;
			cmd->has_timeout = has_flags = true;
		} else if ((sep = strchr(tok, '=')) != NULL) {
			g_autofree char *index = g_strndup(tok, (gsize)(sep - tok));

			/* I=V stands alone on its line. */
			if (tokens[1] || t != tokens)
				return -EINVAL;
			err = parse_index(index, nsems, &cmd->semnum);
			if (!err)
				err = parse_number(sep + 1, SEMCMD_SEMVMX, &value);
			if (err)
				return err;
			cmd->type = SEMCMD_SETVAL;
			cmd->value = (int)value;
			return 0;
		} else if ((sep = strchr(tok, ':')) != NULL || *tok == '+' || *tok == '-') {
			g_autofree char *index = sep ? g_strndup(tok, (gsize)(sep - tok)) : NULL;
			struct sembuf op = { .sem_num = 0 };
			int semnum = 0;

			if (values->len)
				return -EINVAL;
			err = sep ? parse_index(index, nsems, &semnum) : 0;
			if (!err)
				err = parse_op_value(sep ? sep + 1 : tok, sep != NULL, &op.sem_op);
			if (err)
				return err;
			op.sem_num = (unsigned short)semnum;
			g_array_append_val(ops, op);
		} else {
			unsigned short v;

			if (ops->len)
				return -EINVAL;
			err = parse_number(tok, SEMCMD_SEMVMX, &value);
			if (err)
				return err;
			v = (unsigned short)value;
			g_array_append_val(values, v);
		}
	}

	if (values->len) {
		if (has_flags)
			return -EINVAL;	/* flags belong to operations */
		if (values->len == 1 && nsems == 1) {
			cmd->type = SEMCMD_SETVAL;
			cmd->semnum = 0;
			cmd->value = g_array_index(values, unsigned short, 0);
			return 0;
		}
		if ((int)values->len != nsems)
			return -EINVAL;
		cmd->type = SEMCMD_SETALL;
		cmd->values = (unsigned short *)(void *)g_array_free(g_steal_pointer(&values), FALSE);
		return 0;
	}
	if (ops->len == 0)
		return has_flags ? -EINVAL : 0;
	if (ops->len > SEMCMD_MAX_OPS)
		return -E2BIG;
	cmd->type = SEMCMD_OPS;
	cmd->nops = ops->len;
	cmd->ops = (struct sembuf *)(void *)g_array_free(g_steal_pointer(&ops), FALSE);
	return 0;
}

int semcmd_parse(const char *line, size_t len, int nsems, struct semcmd *cmd)
{
	g_autofree char *text = NULL;
	g_autoptr(GPtrArray) tokens = g_ptr_array_new();
	int err;

	memset(cmd, 0, sizeof(*cmd));
	cmd->type = SEMCMD_EMPTY;
	/* A NUL would end the copy early and run what came before it: refuse the line. */
	if (memchr(line, '\0', len))
		return -EINVAL;
	/*
	 * Spaces and tabs separate tokens, as many as there are; a trailing \r
	 * (from a CRLF line) is space too.  One pass, cutting the copy in place:
	 * a line may be megabytes of spacing.
	 */
	text = g_strndup(line, len);
	for (char *p = text; *p;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			*p++ = '\0';
		if (!*p)
			break;
		g_ptr_array_add(tokens, p);
		while (*p && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
	}
	g_ptr_array_add(tokens, NULL);
	err = parse_tokens((char **)tokens->pdata, nsems, cmd);
	if (err) {
		semcmd_clear(cmd);
		memset(cmd, 0, sizeof(*cmd));
	}
	return err;
}

void semcmd_clear(struct semcmd *cmd)
{
	g_clear_pointer(&cmd->values, g_free);
	g_clear_pointer(&cmd->ops, g_free);
}
