// SPDX-License-Identifier: GPL-2.0-only
/*
 * A zero-copy channel reader: maps /dev/channelN read-only and consumes
 * records straight from the ring, following the protocol in
 * kmod/include/uapi/linux/channel.h.  An example as much as a test helper.
 *
 *   chanread DEVICE COUNT [--from-oldest]
 *
 * Prints READY once mapped, then one line per record, "seq length sum"
 * (sum: the byte sum of the payload), and "OVERRUN lost" when the writer
 * overtook it.  Waits for records with poll(2).  Exits after COUNT records,
 * or after a record that is exactly "END".
 */
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../kmod/include/uapi/linux/channel.h"

static const struct channel_control *ctl;
static const char *ring;

/* R2: where the record at or after pos starts (records never wrap). */
static uint64_t skip_pad(uint64_t pos)
{
	uint64_t off = pos & (ctl->data_size - 1);
	const struct channel_record *rec = (const void *)(ring + off);

	if (ctl->data_size - off < sizeof(*rec) || (rec->flags & CHANNEL_RECORD_PAD))
		return pos + ctl->data_size - off;
	return pos;
}

/* R5: tail and tail_seq as a pair, by the control page's seqcount. */
static void read_tail(uint64_t *tail, uint64_t *tail_seq)
{
	uint64_t gen;

	for (;;) {
		gen = __atomic_load_n(&ctl->tail_gen, __ATOMIC_ACQUIRE);
		if (gen & 1)
			continue;
		*tail = __atomic_load_n(&ctl->tail, __ATOMIC_RELAXED);
		*tail_seq = __atomic_load_n(&ctl->tail_seq, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&ctl->tail_gen, __ATOMIC_RELAXED) == gen)
			return;
	}
}

int main(int argc, char **argv)
{
	uint64_t pos, seq, head, tail, tail_seq;
	long count, done = 0;
	struct pollfd pfd;
	void *map;
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: chanread DEVICE COUNT [--from-oldest]\n");
		return 2;
	}
	count = atol(argv[2]);
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	map = mmap(NULL, CHANNEL_CONTROL_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		perror("mmap control");
		return 1;
	}
	ctl = map;
	map = mmap(NULL, ctl->data_offset + ctl->data_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		perror("mmap ring");
		return 1;
	}
	ctl = map;
	ring = (const char *)map + ctl->data_offset;
	if (ctl->version < 2) {
		fprintf(stderr, "chanread: mmap protocol version %u, want 2\n", ctl->version);
		return 1;
	}
	/* R0: where the open file is, the live end unless asked for the oldest record. */
	if (argc > 3 && strcmp(argv[3], "--from-oldest") == 0 && lseek(fd, 0, SEEK_SET) != 0) {
		perror("lseek");
		return 1;
	}
	if (ioctl(fd, CHANNEL_IOC_POS, &pos) != 0 || ioctl(fd, CHANNEL_IOC_SEQ, &seq) != 0) {
		perror("ioctl CHANNEL_IOC_POS/SEQ");
		return 1;
	}
	printf("READY\n");
	fflush(stdout);
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (done < count) {
		const struct channel_record *rec;
		uint64_t sum = 0, rec_seq, room, start;
		uint32_t len;

		head = __atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE);
		start = pos;
		if (pos != head)
			pos = skip_pad(pos);
		if (pos == head) {
			/* The device's own position is at the live end, so POLLIN means "new". */
			lseek(fd, 0, SEEK_END);
			if (__atomic_load_n(&ctl->head, __ATOMIC_ACQUIRE) == head)
				poll(&pfd, 1, -1);
			continue;
		}
		/* R3: copy (here: sum) the record; its length may be torn until R4 passed. */
		rec = (const void *)(ring + (pos & (ctl->data_size - 1)));
		len = __atomic_load_n(&rec->length, __ATOMIC_RELAXED);
		rec_seq = __atomic_load_n(&rec->seq, __ATOMIC_RELAXED);
		room = ctl->data_size - (pos & (ctl->data_size - 1)) - sizeof(*rec);
		for (uint32_t i = 0; i < len && i < room; i++)
			sum += (unsigned char)((const char *)(rec + 1))[i];
		/* R4: valid only if the writer has not moved tail past it meanwhile. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		read_tail(&tail, &tail_seq);
		if (tail > start) {	/* start: the padding header read in R2 counts too */
			printf("OVERRUN %llu\n", (unsigned long long)(tail_seq - seq));
			pos = tail;
			seq = tail_seq;
			continue;
		}
		printf("%llu %u %llu\n", (unsigned long long)rec_seq, len, (unsigned long long)sum);
		pos += sizeof(*rec) + ((len + 7) & ~7u);
		seq = rec_seq + 1;
		done++;
		if (len == 3 && sum == 'E' + 'N' + 'D')
			break;
	}
	fflush(stdout);
	return 0;
}
