/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Every IPC namespace of the host, for the /ns tree (-o all_ns).
 *
 * SysV calls and /proc/sysvipc act in the IPC namespace of the calling
 * thread, and setns(CLONE_NEWIPC) moves only that thread.  So a request on a
 * node under /ns/<ino> runs its callback in that namespace: fs.c enters it
 * (an ns_scope) and leaves it once the callback returns, and so do a waiter
 * thread, a file's release and the msg poll watcher.  Outside such scopes
 * every thread is in NS_SERVED, the namespace the top-level tree serves.
 *
 * A namespace gets an index, which node.c puts in its nodeids (nodeid.h), when it is first
 * looked up.  The daemon holds a descriptor of it, which keeps it alive, only
 * while the kernel can send requests for it: while the kernel holds nodeids
 * in it (lookups it has not forgotten) or files or directories in it are
 * open.  Then the daemon lets go, so that a container that stops takes its
 * objects with it, as it would without ipcfs.  An index is reused only once
 * it is let go and no process is left in its namespace.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "perm.h"

#define NS_SERVED 0u
#define NS_BITS 12
#define NS_MAX (1u << NS_BITS)

/* After entering the served namespace, before any thread; all_ns is -o all_ns. */
int ns_setup(bool all_ns);
/* Start watching for namespaces that vanish: once the daemon has forked. */
void ns_start(void);
/* Stop watching (its notifications need the session): when the session loop has ended. */
void ns_stop(void);
void ns_teardown(void);
bool ns_enabled(void);

/* The index of the namespace this thread acts in now. */
unsigned ns_current(void);
/*
 * Which namespace that is: its inode number, the same for every index of one
 * namespace (the served one is also under /ns).  ns_ino() is that of a held
 * index (or NS_SERVED).
 */
uint64_t ns_current_ino(void);
uint64_t ns_ino(unsigned index);
/* Is process pid in namespace ino? */
bool ns_process_in(pid_t pid, uint64_t ino);

/*
 * A stretch of code that acts in one namespace.  ns_scope_enter() moves the
 * thread there (it may be called once per scope); the end of the scope moves
 * it back where it was.  Declare one with g_auto(ns_scope) s = NS_SCOPE_INIT.
 */
typedef struct ns_scope {
	int was;	/* where to go back to; NS_SCOPE_UNUSED if nothing to undo */
} ns_scope;
#define NS_SCOPE_UNUSED (-2)
#define NS_SCOPE_INIT { .was = NS_SCOPE_UNUSED }
/* 0, or -errno (logged) if the namespace cannot be entered; the thread stays where it was. */
int ns_scope_enter(ns_scope *scope, unsigned index);
void ns_scope_end(ns_scope *scope);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ns_scope, ns_scope_end)

/*
 * g_thread_new() for a thread of the daemon's own that may be started by
 * whichever request first needs it: it runs func in the served namespace,
 * never in the one its creator was in (a thread there would keep that
 * namespace, and a container's objects, alive for the daemon's life).
 */
GThread *ns_thread_new(const char *name, GThreadFunc func, gpointer data);

/*
 * The inode numbers (as `ls -l /proc/PID/ns/ipc` prints them) of every IPC
 * namespace a process of our pid namespace is in, and the served one; sorted.
 */
void ns_list(GArray *inos);
/*
 * The index of namespace ino, which is then held for the caller (one
 * ns_put() due), or -ENOENT (logged) if no process is left in it.
 */
int ns_find(uint64_t ino, unsigned *index);
/* The kernel got a nodeid in index, or a file opened there: the daemon keeps it. */
void ns_hold(unsigned index);
void ns_put(unsigned index, uint64_t count);

/* Called, with no thread in index, when the daemon lets go of it. */
void ns_on_let_go(void (*let_go)(unsigned index));
/*
 * Called, from a thread of ns.c's own, when the last process of a held
 * namespace is gone: time to tell the kernel to drop its names.
 */
void ns_on_vanish(void (*vanish)(unsigned index));

/*
 * user.ns.pids and user.ns.cgroup of /ns/<ino>: a few processes in it, as
 * sysv_format_processes() shows them to caller, and their cgroups.  -ENODATA
 * for other names.
 */
int ns_format_xattr(struct caller *caller, unsigned index, const char *name, GString *out);
/* Their names, each with its NUL, for listxattr. */
void ns_xattr_names(GString *list);
