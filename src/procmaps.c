// SPDX-License-Identifier: GPL-2.0-only
/* /proc/<pid>/maps lines of System V segments: see procmaps.h. */
#include "procmaps.h"

#include <string.h>

/* A hexadecimal (base 16) or decimal (base 10) number at *p, before end; false if none. */
static bool number(const char **p, const char *end, unsigned base, unsigned long long *out)
{
	unsigned long long v = 0;
	const char *s = *p;

	for (; s < end; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else
			break;
		if (v > (~0ull - d) / base)
			return false;	/* overflow: no field of the kernel's is this long */
		v = v * base + d;
	}
	if (s == *p)
		return false;
	*p = s;
	*out = v;
	return true;
}

static const char *skip_field(const char *p, const char *end)
{
	while (p < end && *p != ' ')
		p++;
	while (p < end && *p == ' ')
		p++;
	return p;
}

/* One line, without its newline: is it a mapping of segment id, and where? */
static bool segment_line(const char *line, const char *end, int id, unsigned long *start,
			 unsigned long *stop)
{
	unsigned long long from, to, inode;
	const char *p = line;

	if (!memmem(line, (size_t)(end - line), " /SYSV", 6))
		return false;
	if (!number(&p, end, 16, &from) || p >= end || *p++ != '-' || !number(&p, end, 16, &to) ||
	    p >= end || *p != ' ')
		return false;
	p = skip_field(p, end);		/* to perms */
	p = skip_field(p, end);		/* to offset */
	p = skip_field(p, end);		/* to dev */
	p = skip_field(p, end);		/* to inode */
	if (!number(&p, end, 10, &inode) || inode != (unsigned long long)(unsigned)id || from >= to)
		return false;
	/* The path comes after the inode and spaces, and is the segment's name. */
	while (p < end && *p == ' ')
		p++;
	if ((size_t)(end - p) < 5 || memcmp(p, "/SYSV", 5) != 0)
		return false;
	*start = (unsigned long)from;
	*stop = (unsigned long)to;
	return true;
}

bool procmaps_find_segment(const char *maps, size_t len, int id, unsigned long *start,
			   unsigned long *end)
{
	const char *p = maps, *stop = maps + len;

	if (id < 0)
		return false;
	while (p < stop) {
		const char *nl = memchr(p, '\n', (size_t)(stop - p));
		const char *line_end = nl ? nl : stop;

		if (segment_line(p, line_end, id, start, end))
			return true;
		p = nl ? nl + 1 : stop;
	}
	return false;
}
