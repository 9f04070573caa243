// SPDX-License-Identifier: GPL-2.0-only
/*
 * channel.ko against its model: one random sequence of writes, reads (of
 * every buffer size, so partial reads too), seeks, polls and loss queries,
 * run in lockstep through a /dev/channelN and through src/chan_ring.c (the
 * built-in backend's ring), comparing every result.  Stops at the first
 * difference, saying which operation it was.
 *
 *   ringcheck DEVICE SEED OPS
 *
 * The module must be freshly loaded (no other user of DEVICE).  Prints one
 * line of counts at the end, so a test can check what the run covered.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../kmod/include/uapi/linux/channel.h"
#include "../../src/chan_ring.h"

#define READERS 3

static uint64_t rng_state;

static uint64_t rnd(uint64_t n)
{
	/* xorshift64*: the same sequence for a seed, everywhere */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (rng_state * 2685821657736338717ULL) % n;
}

static long op;

static void differ(const char *what, long long dev, long long model)
{
	fprintf(stderr, "ringcheck: operation %ld (%s): device %lld, model %lld\n", op, what, dev,
		model);
	exit(1);
}

/* A length that exercises the ring: small, large, the largest, one too many, or near the end. */
static size_t pick_length(const struct chan_ring *ring)
{
	uint64_t max = chan_ring_max_record(ring);
	uint64_t room = ring->size - (ring->head & (ring->size - 1));

	switch (rnd(8)) {
	case 0:
		return max;
	case 1:
		return max + 1;
	case 2:		/* a record that ends 8 bytes (or 0 to 16) before the end of the ring */
		if (room > 24 + 16)
			return room - 16 - 8 * rnd(3) - rnd(8);
		return 1 + rnd(8);
	case 3:
		return 1 + rnd(max);
	default:
		return 1 + rnd(64);
	}
}

static uint64_t sysfs_counter(const char *device, const char *name)
{
	char path[256];
	unsigned long long value = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/channel/%s/%s", strrchr(device, '/') + 1, name);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llu", &value) != 1) {
		perror(path);
		exit(1);
	}
	fclose(f);
	return value;
}

/* The module's sysfs counters against the model's. */
static void check_counters(const char *device, const struct chan_ring *ring,
			   const struct chan_cursor *cur)
{
	uint64_t dropped = ring->dropped;

	for (int i = 0; i < READERS; i++)
		dropped += chan_ring_pending_loss(ring, &cur[i]);
	if (sysfs_counter(device, "records") != ring->records)
		differ("records", (long long)sysfs_counter(device, "records"), (long long)ring->records);
	if (sysfs_counter(device, "bytes") != ring->bytes)
		differ("bytes", (long long)sysfs_counter(device, "bytes"), (long long)ring->bytes);
	if (sysfs_counter(device, "dropped") != dropped)
		differ("dropped", (long long)sysfs_counter(device, "dropped"), (long long)dropped);
}

int main(int argc, char **argv)
{
	long writes = 0, reads = 0, partial = 0, epipe = 0, eagain = 0, pads = 0, seeks = 0;
	int readers[READERS], writer;
	struct chan_cursor cur[READERS];
	const struct channel_control *ctl;
	struct chan_ring ring;
	char *buf, *want;
	long ops;

	if (argc != 4) {
		fprintf(stderr, "usage: ringcheck DEVICE SEED OPS\n");
		return 2;
	}
	rng_state = strtoull(argv[2], NULL, 0) * 2 + 1;
	ops = atol(argv[3]);
	writer = open(argv[1], O_WRONLY);
	if (writer < 0) {
		perror(argv[1]);
		return 1;
	}
	ctl = mmap(NULL, CHANNEL_CONTROL_SIZE, PROT_READ, MAP_SHARED,
		   readers[0] = open(argv[1], O_RDONLY | O_NONBLOCK), 0);
	if (readers[0] < 0 || ctl == MAP_FAILED) {
		perror("open or mmap");
		return 1;
	}
	chan_ring_init(&ring, ctl->data_size);
	for (int i = 1; i < READERS; i++)
		readers[i] = open(argv[1], O_RDONLY | O_NONBLOCK);
	for (int i = 0; i < READERS; i++)
		chan_ring_cursor_init(&ring, &cur[i]);
	buf = malloc(ring.size);
	want = malloc(ring.size);

	for (op = 0; op < ops; op++) {
		unsigned choice = rnd(100);
		int i = rnd(READERS);

		if (choice < 45) {
			size_t len = pick_length(&ring);
			uint64_t head_before = ring.head;
			ssize_t got;
			int err;

			for (size_t k = 0; k < len && k < ring.size; k++)
				buf[k] = (char)(op + k * 7);
			got = write(writer, buf, len);
			err = chan_ring_append(&ring, buf, len);
			if (got < 0 ? -errno != err : (size_t)got != len || err != 0)
				differ("write", got < 0 ? -errno : got, err ? err : (long long)len);
			if (!err) {
				writes++;
				pads += (head_before & (ring.size - 1)) + (ring.head - head_before) > ring.size;
			}
		} else if (choice < 85) {
			size_t size = rnd(3) ? 1 + rnd(chan_ring_max_record(&ring) + 16) : 1 + rnd(40);
			ssize_t got = read(readers[i], buf, size);
			ssize_t exp = chan_ring_read(&ring, &cur[i], want, size);

			if (got < 0)
				got = -errno;
			if (got != exp)
				differ("read", got, exp);
			if (got > 0 && memcmp(buf, want, got) != 0)
				differ("read bytes", 0, 1);
			reads += got > 0;
			partial += got > 0 && cur[i].partial != 0;
			epipe += got == -EPIPE;
			eagain += got == -EAGAIN;
		} else if (choice < 90) {
			int whence = rnd(2) ? SEEK_SET : SEEK_END;

			if (lseek(readers[i], 0, whence) != 0)
				differ("lseek", -errno, 0);
			chan_ring_seek(&ring, &cur[i], whence);
			seeks++;
		} else if (choice < 97) {
			struct pollfd pfd = {
				.fd = readers[i],
				.events = POLLIN | POLLRDNORM | POLLPRI | POLLOUT | POLLWRNORM,
			};

			if (poll(&pfd, 1, 0) != 1)
				differ("poll count", -1, 1);
			if (pfd.revents != (short)chan_ring_poll(&ring, &cur[i]))
				differ("poll events", pfd.revents, chan_ring_poll(&ring, &cur[i]));
		} else {
			uint64_t lost, told_or_not = cur[i].lost + chan_ring_pending_loss(&ring, &cur[i]);

			if (ioctl(readers[i], CHANNEL_IOC_LOST, &lost) != 0)
				differ("ioctl", -errno, 0);
			if (lost != told_or_not)
				differ("records lost", (long long)lost, (long long)told_or_not);
		}
		if (ctl->head != ring.head || ctl->tail != ring.tail || ctl->tail_seq != ring.tail_seq)
			differ("control page head", (long long)ctl->head, (long long)ring.head);
	}
	check_counters(argv[1], &ring, cur);
	printf("ops %ld writes %ld reads %ld partial %ld epipe %ld eagain %ld pads %ld seeks %ld\n",
	       ops, writes, reads, partial, epipe, eagain, pads, seeks);
	chan_ring_free(&ring);
	return 0;
}
