/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The eBPF source of /events: what events.bpf.c (in the kernel) and
 * events_bpf.c (in the daemon) share.
 */
#pragma once

#include <linux/types.h>

#define EVENTS_BPF_RING_BYTES (256 * 1024)

/* x86-64 system call numbers of the calls the program watches. */
#define NR_shmget 29
#define NR_shmat 30
#define NR_shmctl 31
#define NR_semget 64
#define NR_semctl 66
#define NR_shmdt 67
#define NR_msgget 68
#define NR_msgctl 71

/* One successful IPC call, as the kernel program sends it. */
struct events_bpf_record {
	__u64 mono_ns;		/* CLOCK_MONOTONIC at its exit */
	__u32 nr;		/* the system call */
	__s32 shmdt_id;		/* shmdt: the segment at its address (-1: none found) */
	__s64 ret;
	__u64 args[3];
	__u32 tgid;
	__u32 euid;
	char comm[16];
};
