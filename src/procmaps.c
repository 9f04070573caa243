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

/*
 * One line, without its newline: is it a mapping of a segment (of id, or of
 * any segment for id -1), and which, and where?
 */
static bool segment_line(const char *line, const char *end, int id, int *found,
			 unsigned long *start, unsigned long *stop)
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
	if (!number(&p, end, 10, &inode) || inode > 0x7fffffffull || from >= to ||
	    (id >= 0 && inode != (unsigned long long)id))
		return false;
	/* The path comes after the inode and spaces, and is the segment's name. */
	while (p < end && *p == ' ')
		p++;
	if ((size_t)(end - p) < 5 || memcmp(p, "/SYSV", 5) != 0)
		return false;
	*found = (int)inode;
	*start = (unsigned long)from;
	*stop = (unsigned long)to;
	return true;
}

/* Each segment line of maps, to fn, until fn returns true (want: an id, or -1 for any). */
static bool each_line(const char *maps, size_t len, int want,
		      bool (*fn)(int id, unsigned long start, unsigned long end, void *data), void *data)
{
	const char *p = maps, *stop;

	if (!maps)
		return false;
	stop = maps + len;
	while (p < stop) {
		const char *nl = memchr(p, '\n', (size_t)(stop - p));
		const char *line_end = nl ? nl : stop;
		unsigned long start, end;
		int id;

		if (segment_line(p, line_end, want, &id, &start, &end) && fn(id, start, end, data))
			return true;
		p = nl ? nl + 1 : stop;
	}
	return false;
}

struct range {
	unsigned long start, end;
};

static bool keep_range(int id, unsigned long start, unsigned long end, void *data)
{
	struct range *r = data;

	(void)id;
	*r = (struct range){ start, end };
	return true;
}

bool procmaps_find_segment(const char *maps, size_t len, int id, unsigned long *start,
			   unsigned long *end)
{
	struct range r;

	if (id < 0 || !each_line(maps, len, id, keep_range, &r))
		return false;
	*start = r.start;
	*end = r.end;
	return true;
}

struct each {
	void (*fn)(int id, void *data);
	void *data;
};

static bool call_each(int id, unsigned long start, unsigned long end, void *data)
{
	struct each *e = data;

	(void)start;
	(void)end;
	e->fn(id, e->data);
	return false;
}

void procmaps_each_segment(const char *maps, size_t len, void (*fn)(int id, void *data), void *data)
{
	struct each e = { fn, data };

	each_line(maps, len, -1, call_each, &e);
}
