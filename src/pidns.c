// SPDX-License-Identifier: GPL-2.0-only
#include "pidns.h"

#include <fcntl.h>
#include <glib.h>
#include <linux/nsfs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define NESTING_MAX 33	/* the kernel nests pid namespaces at most 32 deep */

unsigned pidns_parse_nspid(const char *status, pid_t *numbers, unsigned max)
{
	const char *p = strstr(status, "\nNSpid:");
	unsigned count = 0;

	if (!p)
		return 0;
	for (p += strlen("\nNSpid:"); *p && *p != '\n';) {
		guint64 n;
		char *end;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\n' || !*p)
			break;
		if (!g_ascii_isdigit(*p))
			return 0;
		n = g_ascii_strtoull(p, &end, 10);
		if (n == 0 || n > G_MAXINT32 || (*end != ' ' && *end != '\t' && *end != '\n' && *end))
			return 0;
		if (count < max)
			numbers[count] = (pid_t)n;
		count++;
		p = end;
	}
	return count;
}

pid_t pidns_number_in(uint64_t ns_ino, unsigned level, pid_t pid)
{
	pid_t numbers[NESTING_MAX];
	g_autofree char *status = NULL;
	char path[64];
	unsigned count;
	struct stat st;
	int fd;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!g_file_get_contents(path, &status, NULL, NULL))
		return 0;
	count = pidns_parse_nspid(status, numbers, NESTING_MAX);
	if (count <= level || count > NESTING_MAX)
		return 0;	/* lives above that namespace, or beside it */
	/* Its namespace at that level must be the one asked about, not a sibling. */
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	for (unsigned up = count - 1 - level; fd >= 0 && up > 0; up--) {
		int parent = ioctl(fd, NS_GET_PARENT);

		close(fd);
		fd = parent;
	}
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) != 0)
		st.st_ino = 0;
	close(fd);
	return st.st_ino == ns_ino ? numbers[level] : 0;
}
