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
 * Sequence number of the record at that position, the next this reader
 * reads.  Only this file's own reads and seeks move the pair, so POS and
 * SEQ asked one after the other belong together.
 */
#define CHANNEL_IOC_SEQ		_IOR(CHANNEL_IOC_MAGIC, 3, __u64)

/*
 * Zero-copy readers: mmap(NULL, 4096 + data_size, PROT_READ, MAP_SHARED, fd, 0)
 * maps the control page followed by the data ring.  Writable mappings are
 * refused (EPERM), and so is mprotect(PROT_WRITE) on a read-only one.
 *
 * Positions are byte counts since the channel was created; they only grow.
 * The ring offset of position p is p & (data_size - 1).  A record starts
 * with struct channel_record and its payload, and the next record starts at
 * the next multiple of 8.  A record never wraps: when fewer than
 * sizeof(struct channel_record) bytes are left before the end of the ring,
 * or the header there has CHANNEL_RECORD_PAD set, the next record is at the
 * start of the ring (the next multiple of data_size).  Never look for
 * padding at head itself: the bytes there are not a record yet.
 *
 * The writer, for each record:
 *  W1. if it must overwrite records: tail_gen becomes odd; write barrier;
 *      tail and tail_seq move past every record it will overwrite; write
 *      barrier; tail_gen becomes even (a seqcount);
 *  W2. writes the padding, the record's payload and its header;
 *  W3. store-release of head, past the record.
 * The second barrier of W1 orders the new tail before every store of W2.
 *
 * A reader starts where its open file is, at the live end after open or
 * lseek(fd, 0, SEEK_END), at the oldest record after lseek(fd, 0, SEEK_SET):
 *  R0. pos and seq from ioctl CHANNEL_IOC_POS and CHANNEL_IOC_SEQ.  (Taking
 *      head from the control page instead leaves seq unknown, so losses
 *      before the first record read could not be counted.)
 * A reader at position pos, expecting sequence number seq:
 *  R1. load-acquire head; nothing new while pos == head;
 *  R2. pos past padding (unless pos == head), as above;
 *  R3. copy the header and the payload at pos.  Until R4 passes, the bytes
 *      may be torn: never trust the length to stay inside the ring (at most
 *      data_size - (pos & (data_size - 1)) - sizeof(struct channel_record));
 *  R4. read barrier (atomic_thread_fence(memory_order_acquire)), then read
 *      tail as in R5: if tail is past the position of R1 (before R2: the
 *      padding header counts too), a writer overwrote what was read; the
 *      reader was overrun, lost tail_seq - seq records, and goes on at tail
 *      with seq = tail_seq.  Otherwise the copy is the record;
 *  R5. tail and tail_seq as a pair: g = load-acquire tail_gen; retry while g
 *      is odd; load tail and tail_seq; read barrier; retry unless tail_gen is
 *      still g.
 * The device's own read() takes R1 to R3's header under its lock, then
 * copies the payload without it and validates the copy as in R4.
 */
#define CHANNEL_MMAP_VERSION	2
#define CHANNEL_CONTROL_SIZE	4096

struct channel_control {
	__u32 version;		/* CHANNEL_MMAP_VERSION */
	__u32 record_align;	/* 8 */
	__u64 head;		/* end of the last complete record */
	__u64 tail;		/* start of the oldest record still held */
	__u64 data_offset;	/* of the ring in the mapping: CHANNEL_CONTROL_SIZE */
	__u64 data_size;	/* bytes, a power of two */
	__u64 tail_seq;		/* sequence number of the record at tail */
	__u64 tail_gen;		/* odd while tail and tail_seq change (R5); since version 2 */
};

#define CHANNEL_RECORD_PAD	0x1u

struct channel_record {
	__u32 length;		/* payload bytes */
	__u32 flags;		/* CHANNEL_RECORD_PAD: skip to the start of the ring */
	__u64 seq;		/* 0, 1, 2, ... per channel */
};

#endif /* _UAPI_LINUX_CHANNEL_H */
