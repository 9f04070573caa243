/* SPDX-License-Identifier: GPL-2.0-only */
/* File names of IPC objects: keys in the ipcs spelling, and id-<id> for key 0. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* "0x" + 8 hex digits, or "id-" + up to 10 decimal digits, plus NUL. */
#define IPC_NAME_MAX 16

enum ipc_name_form {
	IPC_NAME_KEY,	/* a non-zero key in any accepted spelling */
	IPC_NAME_ID,	/* id-<id> */
};

struct ipc_name {
	enum ipc_name_form form;
	key_t key;	/* IPC_NAME_KEY */
	int id;		/* IPC_NAME_ID */
};

/*
 * Parse the first len bytes of s as an object name: a key in decimal ("4660")
 * or hex ("0x1234", any case, any leading zeros) that fits in 32 bits and is
 * not 0, or "id-<decimal id>".  Returns false for anything else.
 */
bool ipc_name_parse(const char *s, size_t len, struct ipc_name *out);

/*
 * Split "NAME[@SUFFIX]" at the first '@': parse NAME as ipc_name_parse() does
 * and point *suffix after the '@', or set it to NULL when there is none.
 */
bool ipc_name_split(const char *name, struct ipc_name *out, const char **suffix);

/* The listing name of an object: printf("0x%08x", key), or id-<id> for key 0. */
void ipc_name_format(key_t key, int id, char out[IPC_NAME_MAX]);
