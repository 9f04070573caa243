/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The built-in channel ring: channel.ko's semantics in user space, with the
 * same record layout (struct channel_record from the module's uapi header):
 * records are 8-byte aligned, never wrap, and positions only grow.
 * Not locked: the caller holds its channel's lock.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

struct chan_ring {
	char *data;
	uint64_t size;		/* a power of two */
	uint64_t head, tail, tail_seq, next_seq;
	uint64_t records, bytes;
	uint64_t dropped;	/* losses cursors were told of, or had when they seeked or closed */
};

/* One reader's place in the ring. */
struct chan_cursor {
	uint64_t pos, seq;
	uint32_t partial;	/* payload bytes of the record at pos already read */
	uint64_t lost;		/* records lost to overruns, in all */
};

int chan_ring_init(struct chan_ring *ring, uint64_t size);
void chan_ring_free(struct chan_ring *ring);
uint64_t chan_ring_max_record(const struct chan_ring *ring);

/* Append one record: 0, or -EMSGSIZE.  Overwrites the oldest records as needed. */
int chan_ring_append(struct chan_ring *ring, const void *buf, size_t len);

/* A new reader at the live end. */
void chan_ring_cursor_init(const struct chan_ring *ring, struct chan_cursor *cur);

/*
 * Copy bytes of the next record (at most one) for cur: how many, -EAGAIN if
 * there is none, or -EPIPE once after an overrun (cur then moves to the oldest
 * record held).
 */
ssize_t chan_ring_read(struct chan_ring *ring, struct chan_cursor *cur, void *buf, size_t size);

/*
 * SEEK_SET: the oldest record held; SEEK_END: the live end.  An overrun cursor's
 * losses are counted first, as they are when it closes (chan_ring_settle_losses).
 */
void chan_ring_seek(struct chan_ring *ring, struct chan_cursor *cur, int whence);

/* Records cur has lost and not yet been told of (it is behind tail), as channel.ko counts them. */
uint64_t chan_ring_pending_loss(const struct chan_ring *ring, const struct chan_cursor *cur);

/* Count cur's pending losses as told (in cur->lost and ring->dropped), moving it to tail. */
void chan_ring_settle_losses(struct chan_ring *ring, struct chan_cursor *cur);

/* POLLIN, POLLERR|POLLPRI (overrun), plus POLLOUT always. */
unsigned chan_ring_poll(const struct chan_ring *ring, const struct chan_cursor *cur);
