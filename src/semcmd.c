// SPDX-License-Identifier: GPL-2.0-only
#include "semcmd.h"

#include <errno.h>
#include <glib.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/*
 * A line is parsed where it lies, as (start, length) tokens: a write runs
 * this for every line, and copying or allocating per token would cost more
 * than the semop the line asks for.
 */
struct token {
	const char *s;
	size_t len;
};

/* Spaces and tabs separate tokens, as many as there are; a trailing \r (from a CRLF line) is space too. */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The token after *pos on the line, moving *pos past it; false at the end. */
static bool next_token(const char **pos, const char *end, struct token *tok)
{
	const char *p = *pos;

	while (p < end && is_space(*p))
		p++;
	if (p == end)
		return false;
	tok->s = p;
	while (p < end && !is_space(*p))
		p++;
	tok->len = (size_t)(p - tok->s);
	*pos = p;
	return true;
}

static bool token_is(const struct token *tok, const char *word)
{
	return tok->len == strlen(word) && memcmp(tok->s, word, tok->len) == 0;
}

/* If tok begins with prefix, what follows it, in *rest. */
static bool token_after(const struct token *tok, const char *prefix, struct token *rest)
{
	size_t n = strlen(prefix);

	if (tok->len < n || memcmp(tok->s, prefix, n) != 0)
		return false;
	rest->s = tok->s + n;
	rest->len = tok->len - n;
	return true;
}

/* Unsigned decimal digits only; values above limit give -ERANGE. */
static int parse_number(const char *s, size_t len, long limit, long *out)
{
	long value = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!g_ascii_isdigit(s[i]))
			return -EINVAL;
		if (value <= limit)
			value = value * 10 + (s[i] - '0');
	}
	if (value > limit)
		return -ERANGE;
	*out = value;
	return 0;
}

static int parse_index(const char *s, size_t len, int nsems, int *out)
{
	long index;
	int err = parse_number(s, len, INT_MAX, &index);

	if (err)
		return err == -ERANGE ? -EFBIG : err;
	if (index >= nsems)
		return -EFBIG;
	*out = (int)index;
	return 0;
}

/* "+N", "-N", or "0" after an index ("I:0"). */
static int parse_op_value(const char *s, size_t len, bool allow_bare_zero, short *out)
{
	long value;
	int err;

	if (len > 0 && (*s == '+' || *s == '-')) {
		err = parse_number(s + 1, len - 1, SEMCMD_SEMVMX, &value);
		if (err)
			return err;
		*out = (short)(*s == '-' ? -value : value);
		return 0;
	}
	if (allow_bare_zero && len == 1 && *s == '0') {
		*out = 0;
		return 0;
	}
	return -EINVAL;
}

static int parse_timeout(const char *s, size_t len, struct timespec *out)
{
	/* strtod needs a terminated string; timeouts are rare enough to copy. */
	g_autofree char *text = g_strndup(s, len);
	char *end;
	double seconds;

	if (!g_ascii_isdigit(*text) && *text != '.')
		return -EINVAL;
	seconds = g_ascii_strtod(text, &end);
	if (*end || !isfinite(seconds) || seconds < 0 || seconds > (double)INT_MAX)
		return -EINVAL;
	out->tv_sec = (time_t)seconds;
	out->tv_nsec = (long)((seconds - (double)out->tv_sec) * 1e9);
	return 0;
}

static int parse_line(const char *line, const char *end, int nsems, struct semcmd *cmd)
{
	struct sembuf ops[SEMCMD_MAX_OPS];
	g_autoptr(GArray) values = NULL;	/* made at the first value: value lines are rare */
	size_t nops = 0;
	bool has_flags = false, first = true;
	struct token tok, timeout;
	int err;

	for (const char *pos = line; next_token(&pos, end, &tok); first = false) {
		const char *sep;
		long value;

		if (token_is(&tok, "nowait")) {
			cmd->nowait = has_flags = true;
		} else if (token_is(&tok, "undo")) {
			cmd->undo = has_flags = true;
		} else if (token_after(&tok, "timeout=", &timeout)) {
			err = parse_timeout(timeout.s, timeout.len, &cmd->timeout);
			if (err)
				return err;
			cmd->has_timeout = has_flags = true;
		} else if ((sep = memchr(tok.s, '=', tok.len)) != NULL) {
			const char *tok_end = tok.s + tok.len;
			struct token more;

			/* I=V stands alone on its line. */
			if (!first || next_token(&pos, end, &more))
				return -EINVAL;
			err = parse_index(tok.s, (size_t)(sep - tok.s), nsems, &cmd->semnum);
			if (!err)
				err = parse_number(sep + 1, (size_t)(tok_end - sep - 1), SEMCMD_SEMVMX, &value);
			if (err)
				return err;
			cmd->type = SEMCMD_SETVAL;
			cmd->value = (int)value;
			return 0;
		} else if ((sep = memchr(tok.s, ':', tok.len)) != NULL || *tok.s == '+' || *tok.s == '-') {
			const char *value_at = sep ? sep + 1 : tok.s;
			struct sembuf op = { .sem_num = 0 };
			int semnum = 0;

			if (values)
				return -EINVAL;
			err = sep ? parse_index(tok.s, (size_t)(sep - tok.s), nsems, &semnum) : 0;
			if (!err)
				err = parse_op_value(value_at, (size_t)(tok.s + tok.len - value_at), sep != NULL,
						     &op.sem_op);
			if (err)
				return err;
			op.sem_num = (unsigned short)semnum;
			/* Past the kernel's limit the line fails with E2BIG, once its syntax is known good. */
			if (nops < SEMCMD_MAX_OPS)
				ops[nops] = op;
			nops++;
		} else {
			unsigned short v;

			if (nops)
				return -EINVAL;
			err = parse_number(tok.s, tok.len, SEMCMD_SEMVMX, &value);
			if (err)
				return err;
			v = (unsigned short)value;
			if (!values)
				values = g_array_new(FALSE, FALSE, sizeof(unsigned short));
			g_array_append_val(values, v);
		}
	}

	if (values) {
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
	if (nops == 0)
		return has_flags ? -EINVAL : 0;
	if (nops > SEMCMD_MAX_OPS)
		return -E2BIG;
	cmd->type = SEMCMD_OPS;
	cmd->nops = nops;
	cmd->ops = g_memdup2(ops, nops * sizeof(ops[0]));
	return 0;
}

int semcmd_parse(const char *line, size_t len, int nsems, struct semcmd *cmd)
{
	int err;

	memset(cmd, 0, sizeof(*cmd));
	cmd->type = SEMCMD_EMPTY;
	/* A NUL would cut a timeout short for strtod and run what came before it: refuse the line. */
	if (memchr(line, '\0', len))
		return -EINVAL;
	err = parse_line(line, line + len, nsems, cmd);
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
