// SPDX-License-Identifier: GPL-2.0-only
#include "chan_ring.h"

#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "../kmod/include/uapi/linux/channel.h"

#define HDR_SIZE sizeof(struct channel_record)

static uint64_t record_span(uint32_t len)
{
	return HDR_SIZE + (((uint64_t)len + 7) & ~(uint64_t)7);
}

static struct channel_record *record_at(const struct chan_ring *ring, uint64_t pos)
{
	return (struct channel_record *)(ring->data + (pos & (ring->size - 1)));
}

/* Where the record at or after pos starts: the next lap when a pad or too little room is there. */
static uint64_t skip_pad(const struct chan_ring *ring, uint64_t pos)
{
	uint64_t off = pos & (ring->size - 1);

	if (ring->size - off < HDR_SIZE || (record_at(ring, pos)->flags & CHANNEL_RECORD_PAD))
		return pos + ring->size - off;
	return pos;
}

int chan_ring_init(struct chan_ring *ring, uint64_t size)
{
	memset(ring, 0, sizeof(*ring));
	ring->size = size;
	ring->data = g_malloc0(size);
	return 0;
}

void chan_ring_free(struct chan_ring *ring)
{
	g_free(ring->data);
}

uint64_t chan_ring_max_record(const struct chan_ring *ring)
{
	return ring->size / 4;
}

static void drop_oldest(struct chan_ring *ring)
{
	const struct channel_record *rec;

	ring->tail = skip_pad(ring, ring->tail);
	if (ring->tail == ring->head)
		return;
	rec = record_at(ring, ring->tail);
	ring->tail += record_span(rec->length);
	ring->tail_seq = rec->seq + 1;
}

int chan_ring_append(struct chan_ring *ring, const void *buf, size_t len)
{
	uint64_t start = ring->head, off = start & (ring->size - 1), end;
	struct channel_record *rec;

	if (len > chan_ring_max_record(ring))
		return -EMSGSIZE;
	if (ring->size - off < record_span(len))
		start += ring->size - off;
	end = start + record_span(len);
	while (end - ring->tail > ring->size)
		drop_oldest(ring);
	if (start != ring->head && ring->size - off >= HDR_SIZE) {
		rec = record_at(ring, ring->head);
		rec->length = 0;
		rec->flags = CHANNEL_RECORD_PAD;
		rec->seq = ring->next_seq;
	}
	rec = record_at(ring, start);
	memcpy(rec + 1, buf, len);
	rec->length = (uint32_t)len;
	rec->flags = 0;
	rec->seq = ring->next_seq++;
	ring->head = end;
	ring->records++;
	ring->bytes += len;
	return 0;
}

void chan_ring_cursor_init(const struct chan_ring *ring, struct chan_cursor *cur)
{
	memset(cur, 0, sizeof(*cur));
	cur->pos = ring->head;
	cur->seq = ring->next_seq;
}

ssize_t chan_ring_read(struct chan_ring *ring, struct chan_cursor *cur, void *buf, size_t size)
{
	const struct channel_record *rec;
	size_t n;

	if (cur->pos < ring->tail) {
		chan_ring_settle_losses(ring, cur);
		return -EPIPE;
	}
	if (cur->pos != ring->head)
		cur->pos = skip_pad(ring, cur->pos);
	if (cur->pos == ring->head)
		return -EAGAIN;
	rec = record_at(ring, cur->pos);
	n = MIN(size, rec->length - cur->partial);
	memcpy(buf, (const char *)(rec + 1) + cur->partial, n);
	cur->partial += n;
	if (cur->partial == rec->length) {
		cur->pos += record_span(rec->length);
		cur->seq = rec->seq + 1;
		cur->partial = 0;
	}
	return (ssize_t)n;
}

uint64_t chan_ring_pending_loss(const struct chan_ring *ring, const struct chan_cursor *cur)
{
	return cur->pos < ring->tail ? ring->tail_seq - cur->seq : 0;
}

/* The losses of an overrun cursor, counted now: it seeks away or closes. */
void chan_ring_settle_losses(struct chan_ring *ring, struct chan_cursor *cur)
{
	uint64_t lost = chan_ring_pending_loss(ring, cur);

	cur->lost += lost;
	ring->dropped += lost;
	if (lost) {
		cur->pos = ring->tail;
		cur->seq = ring->tail_seq;
		cur->partial = 0;
	}
}

void chan_ring_seek(struct chan_ring *ring, struct chan_cursor *cur, int whence)
{
	chan_ring_settle_losses(ring, cur);
	cur->pos = whence == SEEK_SET ? ring->tail : ring->head;
	cur->seq = whence == SEEK_SET ? ring->tail_seq : ring->next_seq;
	cur->partial = 0;
}

unsigned chan_ring_poll(const struct chan_ring *ring, const struct chan_cursor *cur)
{
	unsigned events = POLLOUT | POLLWRNORM;

	if (cur->pos < ring->tail)
		events |= POLLERR | POLLPRI;
	else if (cur->pos != ring->head && skip_pad(ring, cur->pos) != ring->head)
		events |= POLLIN | POLLRDNORM;
	return events;
}
