// SPDX-License-Identifier: GPL-2.0-only
/* /proc/<pid>/task/<tid>/syscall (procsyscall.h). */
#include "procsyscall.h"

#include <ctype.h>
#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

/* One number ending at a space, a newline or the end; advances *p past it and the space. */
static bool take_number(const char **p, const char *end, bool hex, uint64_t *out)
{
	char buf[24];
	size_t n = 0;
	char *stop;

	while (*p < end && **p != ' ' && **p != '\n') {
		if (n == sizeof(buf) - 1)
			return false;
		buf[n++] = *(*p)++;
	}
	buf[n] = '\0';
	if (*p < end && **p == ' ')
		(*p)++;
	if (n == 0 || (hex && (n < 3 || buf[0] != '0' || buf[1] != 'x')) ||
	    (!hex && !isdigit((unsigned char)buf[0])))
		return false;
	errno = 0;
	*out = strtoull(hex ? buf + 2 : buf, &stop, hex ? 16 : 10);
	return errno == 0 && *stop == '\0' && (!hex || isxdigit((unsigned char)buf[2]));
}

bool procsyscall_parse(const char *text, size_t len, long *nr, uint64_t args[PROCSYSCALL_ARGS])
{
	const char *p = text, *end = text + len;
	uint64_t number;

	if (!take_number(&p, end, false, &number) || number > G_MAXINT)
		return false;	/* "running", or "-1 SP PC": in no system call */
	for (unsigned i = 0; i < PROCSYSCALL_ARGS; i++)
		if (!take_number(&p, end, true, &args[i]))
			return false;
	*nr = (long)number;
	return true;
}
