// SPDX-License-Identifier: GPL-2.0-only
/* libFuzzer: one /sem command line (semcmd_parse), for sets of 1 to 256 semaphores. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "semcmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct semcmd cmd;
	int nsems, err;

	if (size < 1)
		return 0;
	nsems = 1 + data[0];
	err = semcmd_parse((const char *)data + 1, size - 1, nsems, &cmd);
	/* A NUL is never part of a command: a line with one is refused whole, not cut short. */
	if (!err && memchr(data + 1, '\0', size - 1))
		abort();
	if (err) {
		if (err != -EINVAL && err != -EFBIG && err != -ERANGE && err != -E2BIG)
			abort();
		return 0;
	}
	/* What the daemon relies on after a successful parse. */
	switch (cmd.type) {
	case SEMCMD_EMPTY:
		break;
	case SEMCMD_SETVAL:
		if (cmd.semnum < 0 || cmd.semnum >= nsems || cmd.value < 0 || cmd.value > SEMCMD_SEMVMX)
			abort();
		break;
	case SEMCMD_SETALL:
		for (int i = 0; i < nsems; i++)
			if (cmd.values[i] > SEMCMD_SEMVMX)
				abort();
		break;
	case SEMCMD_OPS:
		if (cmd.nops < 1 || cmd.nops > SEMCMD_MAX_OPS)
			abort();
		for (size_t i = 0; i < cmd.nops; i++)
			if (cmd.ops[i].sem_num >= nsems)
				abort();
		if (cmd.has_timeout && (cmd.timeout.tv_sec < 0 || cmd.timeout.tv_nsec < 0 ||
					cmd.timeout.tv_nsec >= 1000000000L))
			abort();
		break;
	}
	semcmd_clear(&cmd);
	return 0;
}
