/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * channel.ko: broadcast channels, /dev/channel0 ... /dev/channelN-1.
 *
 * One write() is one record.  Every open file is one reader with its own
 * position, and receives every record written after it opened (or, after
 * lseek(fd, 0, SEEK_SET), every record still buffered).  Writers never wait:
 * the ring overwrites its oldest records, and a reader that was overrun gets
 * EPIPE once, then continues at the oldest record still held.
 *
 * The largest record is buf_size / 4 bytes (EMSGSIZE beyond).
 * lseek accepts only (0, SEEK_SET) and (0, SEEK_END); anything else is EINVAL.
 */
#ifndef _UAPI_LINUX_CHANNEL_H
#define _UAPI_LINUX_CHANNEL_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define CHANNEL_IOC_MAGIC	0xC4

/* Records this reader has lost to overruns since it opened. */
#define CHANNEL_IOC_LOST	_IOR(CHANNEL_IOC_MAGIC, 1, __u64)
/* Byte position of this reader in the ring's stream (see below). */
#define CHANNEL_IOC_POS		_IOR(CHANNEL_IOC_MAGIC, 2, __u64)

/*
 * Zero-copy readers: mmap(NULL, 4096 + data_size, PROT_READ, MAP_SHARED, fd, 0)
 * maps the control page followed by the data ring.  Writable mappings are
 * refused (EPERM).
 *
 * Positions are byte counts since the channel was created; they only grow.
 * The ring offset of position p is p & (data_size - 1).  A record starts
 * with struct channel_record and its payload, and the next record starts at
 * the next multiple of 8.  A record never wraps: when fewer than
 * sizeof(struct channel_record) bytes are left before the end of the ring,
 * or the header there has CHANNEL_RECORD_PAD set, the next record is at the
 * start of the ring (the next multiple of data_size).
 *
 * Memory ordering:
 *  - the writer first moves tail forward (store-release) past every record
 *    it is about to overwrite, then writes the record, then publishes head
 *    (store-release);
 *  - a reader loads head (load-acquire), copies the records between its
 *    position and head, then loads tail (load-acquire): if tail is now past
 *    the start of a record it copied, that copy may be torn and the reader
 *    was overrun; it continues at tail.
 */
#define CHANNEL_MMAP_VERSION	1
#define CHANNEL_CONTROL_SIZE	4096

struct channel_control {
	__u32 version;		/* CHANNEL_MMAP_VERSION */
	__u32 record_align;	/* 8 */
	__u64 head;		/* end of the last complete record */
	__u64 tail;		/* start of the oldest record still held */
	__u64 data_offset;	/* of the ring in the mapping: CHANNEL_CONTROL_SIZE */
	__u64 data_size;	/* bytes, a power of two */
	__u64 tail_seq;		/* sequence number of the record at tail */
};

#define CHANNEL_RECORD_PAD	0x1u

struct channel_record {
	__u32 length;		/* payload bytes */
	__u32 flags;		/* CHANNEL_RECORD_PAD: skip to the start of the ring */
	__u64 seq;		/* 0, 1, 2, ... per channel */
};

#endif /* _UAPI_LINUX_CHANNEL_H */
