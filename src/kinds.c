// SPDX-License-Identifier: GPL-2.0-only
/* The kind table (kind.h); docs/design.md says how to add a kind. */
#include "kind.h"

#include "nodeid.h"

const struct ipcfs_kind *const ipcfs_kinds[] = { &kind_shm, &kind_sem, &kind_msg, &kind_chan,
						      &kind_events };
const unsigned ipcfs_nkinds = G_N_ELEMENTS(ipcfs_kinds);
G_STATIC_ASSERT(G_N_ELEMENTS(ipcfs_kinds) <= NODEID_KINDS_MAX);

unsigned kind_index_of(const struct ipcfs_kind *kind)
{
	for (unsigned i = 0; i < ipcfs_nkinds; i++)
		if (ipcfs_kinds[i] == kind)
			return i;
	g_assert_not_reached();
}
