// SPDX-License-Identifier: GPL-2.0-only
#include "perm.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/nsfs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "pidns.h"

static struct perm_chain served;	/* of the IPC namespace the top-level tree serves */
static __thread const struct perm_chain *thread_chain;	/* NULL: served */
static uint64_t own_pidns;	/* the daemon's pid namespace: the pids it reads in /proc */

void perm_set_userns_chain(const struct perm_userns *links, int n)
{
	served.len = MIN(n, PERM_MAX_USERNS_DEPTH);
	memcpy(served.links, links, sizeof(*links) * (size_t)served.len);
}

void perm_use_chain(const struct perm_chain *chain)
{
	thread_chain = chain;
}

int perm_chain_learn(int ipc_ns_fd, struct perm_chain *chain)
{
	int ns = ioctl(ipc_ns_fd, NS_GET_USERNS);

	chain->len = 0;
	if (ns < 0)
		return reason(errno, "cannot learn which user namespace owns an IPC namespace: no capability will count in it");
	/* Up to the top this process can see: NS_GET_PARENT fails with EPERM there. */
	while (ns >= 0 && chain->len < PERM_MAX_USERNS_DEPTH) {
		struct stat st;
		uid_t owner;
		int parent;

		if (fstat(ns, &st) != 0 || ioctl(ns, NS_GET_OWNER_UID, &owner) != 0) {
			close(ns);
			chain->len = 0;
			return reason(errno, "cannot read a user namespace: no capability will count");
		}
		chain->links[chain->len++] = (struct perm_userns){ .ino = st.st_ino, .owner = owner };
		parent = ioctl(ns, NS_GET_PARENT);
		close(ns);
		ns = parent;
	}
	return 0;
}

int perm_setup(void)
{
	struct stat own;
	int ipc = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
	int err;

	if (stat("/proc/self/ns/pid", &own) == 0)
		own_pidns = own.st_ino;
	if (ipc < 0) {
		served.len = 0;
		return reason(errno, "cannot open the IPC namespace: no capability will count");
	}
	err = perm_chain_learn(ipc, &served);
	close(ipc);
	if (!err)
		log_debug("perm: the IPC namespace is owned by user namespace %llu, %d levels below the top",
			  (unsigned long long)served.links[0].ino, served.len - 1);
	return err;
}

void caller_init(struct caller *caller, uid_t uid, gid_t gid, pid_t pid)
{
	*caller = (struct caller){ .uid = uid, .gid = gid, .pid = pid };
}

void caller_clear(struct caller *caller)
{
	g_clear_pointer(&caller->groups, g_free);
}

/* The four numbers of a "Uid:" or "Gid:" line: real, effective, saved and file system id. */
static bool status_ids(const char *status_text, const char *field, guint64 ids[4])
{
	const char *p = strstr(status_text, field);
	char *end;

	if (!p)
		return false;
	p += strlen(field);
	for (int i = 0; i < 4; i++) {
		ids[i] = g_ascii_strtoull(p, &end, 10);
		if (end == p)
			return false;
		p = end;
	}
	return true;
}

bool caller_parse_status(struct caller *caller, const char *status_text)
{
	const char *groups = strstr(status_text, "\nGroups:");
	const char *capeff = strstr(status_text, "\nCapEff:");
	guint64 uids[4], gids[4];
	GArray *list;
	char *end;

	if (!groups || !capeff || !status_ids(status_text, "\nUid:", uids) ||
	    !status_ids(status_text, "\nGid:", gids))
		return false;
	if (uids[3] != caller->uid || gids[3] != caller->gid)
		return false;
	caller->cap_effective = g_ascii_strtoull(capeff + strlen("\nCapEff:"), &end, 16);

	list = g_array_new(FALSE, FALSE, sizeof(gid_t));
	for (const char *p = groups + strlen("\nGroups:"); *p && *p != '\n';) {
		guint64 gid;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!g_ascii_isdigit(*p))
			break;
		gid = g_ascii_strtoull(p, &end, 10);
		g_array_append_val(list, (gid_t){ (gid_t)gid });
		p = end;
	}
	caller->ngroups = (int)list->len;
	g_free(caller->groups);
	caller->groups = (gid_t *)(void *)g_array_free(list, FALSE);
	/* NSpid: one number per pid namespace from the daemon's (its /proc) down to the caller's. */
	{
		pid_t numbers[1];
		unsigned count = pidns_parse_nspid(status_text, numbers, 1);

		caller->pid_level = count ? count - 1 : 0;
	}
	return true;
}

void caller_load_details(struct caller *caller)
{
	char path[64];
	gchar *text = NULL;
	struct stat ns;

	if (caller->details_loaded)
		return;
	caller->details_loaded = true;
	if (caller->pid <= 0)
		return;
	/* The namespace first: the status check below also proves it was the same process. */
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)caller->pid);
	if (stat(path, &ns) != 0)
		return;
	caller->userns = ns.st_ino;
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)caller->pid);
	if (stat(path, &ns) != 0)
		return;
	caller->pidns = ns.st_ino;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)caller->pid);
	if (g_file_get_contents(path, &text, NULL, NULL))
		caller->details_known = caller_parse_status(caller, text);
	g_free(text);
}

static const struct perm_chain *decision_chain(void)
{
	return thread_chain ? thread_chain : &served;
}

/* cap_capable(): does the caller hold cap in chain->links[level] (or above it)? */
static bool capable_from(struct caller *caller, const struct perm_chain *chain, int level, int cap)
{
	const struct perm_userns *links = chain->links;

	caller_load_details(caller);
	if (!caller->details_known)
		return false;
	for (int i = level; i < chain->len; i++) {
		if (links[i].ino == caller->userns)
			return (caller->cap_effective >> cap) & 1;
		/* The creator of a namespace, seen from its parent, holds every capability in it. */
		if (i + 1 < chain->len && links[i + 1].ino == caller->userns &&
		    links[i].owner == caller->uid)
			return true;
	}
	return false;
}

bool perm_has_cap(struct caller *caller, int cap)
{
	return capable_from(caller, decision_chain(), 0, cap);
}

bool perm_has_global_cap(struct caller *caller, int cap)
{
	const struct perm_chain *chain = decision_chain();

	return chain->len > 0 && capable_from(caller, chain, chain->len - 1, cap);
}

bool perm_in_group(struct caller *caller, gid_t gid)
{
	if (caller->gid == gid)
		return true;
	caller_load_details(caller);
	for (int i = 0; i < caller->ngroups; i++)
		if (caller->groups[i] == gid)
			return true;
	return false;
}

bool perm_may_access(struct caller *caller, const struct ipc_obj *obj, int want)
{
	unsigned granted;

	/* As ipcperms(): the creator counts as an owner, the creator's group as a group. */
	if (caller->uid == obj->uid || caller->uid == obj->cuid)
		granted = obj->mode >> 6;
	else if (((obj->mode >> 3) & want & 7) == (obj->mode & want & 7))
		granted = obj->mode;	/* group membership could not change the answer */
	else if (perm_in_group(caller, obj->gid) || perm_in_group(caller, obj->cgid))
		granted = obj->mode >> 3;
	else
		granted = obj->mode;

	if ((want & ~granted & 7) == 0)
		return true;
	return perm_has_cap(caller, PERM_CAP_IPC_OWNER);
}

bool perm_may_control(struct caller *caller, const struct ipc_obj *obj)
{
	if (caller->uid == obj->uid || caller->uid == obj->cuid)
		return true;
	return perm_has_cap(caller, PERM_CAP_SYS_ADMIN);
}

/* The real, effective and saved ids of a "Uid:" or "Gid:" line are all id. */
static bool status_ids_are(const char *status_text, const char *field, guint64 id)
{
	guint64 ids[4];

	return status_ids(status_text, field, ids) && ids[0] == id && ids[1] == id && ids[2] == id;
}

bool perm_may_see_process(struct caller *caller, pid_t pid)
{
	g_autofree char *status = NULL;
	char path[64];
	struct stat st;

	if (perm_pid_as_seen_by(caller, pid) == 0)
		return false;
	if (perm_has_global_cap(caller, PERM_CAP_SYS_PTRACE))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!g_file_get_contents(path, &status, NULL, NULL) ||
	    !status_ids_are(status, "\nUid:", caller->uid) ||
	    !status_ids_are(status, "\nGid:", caller->gid))
		return false;
	/* A process that is not dumpable has its /proc files owned by root. */
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return stat(path, &st) == 0 && st.st_uid == caller->uid && st.st_gid == caller->gid;
}

pid_t perm_pid_as_seen_by(struct caller *caller, pid_t pid)
{
	caller_load_details(caller);
	if (!caller->details_known || pid <= 0)
		return 0;
	if (caller->pidns == own_pidns)
		return pid;
	return pidns_number_in(caller->pidns, caller->pid_level, pid);
}

/* A signal mask field of /proc/<pid>/status ("SigPnd:" and the like), 0 if absent. */
static uint64_t status_mask(const char *status, const char *field)
{
	const char *p = strstr(status, field);

	return p ? g_ascii_strtoull(p + strlen(field), NULL, 16) : 0;
}

#define SIG_BIT(sig) (1ull << ((sig) - 1))

bool caller_status_signalled(const char *status_text)
{
	uint64_t pending = status_mask(status_text, "\nSigPnd:") | status_mask(status_text, "\nShdPnd:");

	/* SIGKILL cannot be blocked: it never shows in SigBlk. */
	return (pending & ~status_mask(status_text, "\nSigBlk:")) != 0;
}

bool caller_status_dying(const char *status_text)
{
	/* Signals whose default action is not to end the process: ignore, or stop. */
	const uint64_t harmless = SIG_BIT(SIGCHLD) | SIG_BIT(SIGCONT) | SIG_BIT(SIGURG) |
				  SIG_BIT(SIGWINCH) | SIG_BIT(SIGSTOP) | SIG_BIT(SIGTSTP) |
				  SIG_BIT(SIGTTIN) | SIG_BIT(SIGTTOU);
	uint64_t pending = status_mask(status_text, "\nSigPnd:") | status_mask(status_text, "\nShdPnd:");
	uint64_t fatal = pending & ~status_mask(status_text, "\nSigBlk:") &
			 ~status_mask(status_text, "\nSigIgn:") & ~status_mask(status_text, "\nSigCgt:") &
			 ~harmless;

	return (pending & SIG_BIT(SIGKILL)) || fatal;
}
