// SPDX-License-Identifier: GPL-2.0
/*
 * channel.ko: broadcast channels as character devices, /dev/channelN.
 *
 * Each channel is a ring of records.  Writers append and never wait for
 * readers: the oldest records are overwritten.  Every open file is a reader
 * with its own position (as with /dev/kmsg).  The ring and a control page can
 * be mapped read-only, for readers that consume without copies; the layout
 * and the reader protocol are in include/uapi/linux/channel.h.
 *
 * No user copy is made under a lock that anyone else waits for.  A write
 * copies the caller's payload into a kernel buffer first, then appends it
 * under ch->lock.  A read takes a snapshot of its record under ch->lock,
 * drops the lock, copies out straight from the ring, then validates the
 * copy the way mmap readers do: if a writer moved tail past the record
 * meanwhile, the copy may be torn and the reader was overrun (EPIPE).  So
 * ch->lock is only ever held for a bounded memcpy within the kernel, and a
 * caller whose buffer faults forever (a mapping of a stalled FUSE file)
 * holds up nobody but itself.  Every sleep is interruptible or killable.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#include "include/uapi/linux/channel.h"

static unsigned int nr_channels = 4;
module_param(nr_channels, uint, 0444);
MODULE_PARM_DESC(nr_channels, "Number of channels, /dev/channel0 ... (default 4)");

static unsigned long buf_size = 1 << 20;
module_param(buf_size, ulong, 0444);
MODULE_PARM_DESC(buf_size, "Ring bytes per channel, one page to 256 MiB, rounded up to a power of two (default 1 MiB)");

#define CHANNEL_MAX_CHANNELS	256
#define CHANNEL_MIN_BUF		PAGE_SIZE
#define CHANNEL_MAX_BUF		(256UL << 20)
#define HDR_SIZE		sizeof(struct channel_record)

/*
 * Locking, outermost first:
 *  - channel_reader.lock (mutex): one read, write, seek or ioctl at a time
 *    on an open file.  Held across the copies from and to user space (which
 *    may fault for ever), so only the same open file's other users wait for
 *    it, and they wait killably.  Never held while a read waits for a record.
 *  - channel.lock (rwsem): the ring's bookkeeping (head, tail, tail_seq,
 *    next_seq) and its record headers.  Held for writing while a record is
 *    appended, for reading while a snapshot is taken; never across a user
 *    copy or a sleep, so every wait for it is short, and killable anyway.
 *  - channel.readers_lock (spinlock): the list of readers and lost_closed.
 *  - channel_reader.pos_lock (spinlock): a reader's pos, seq, partial and
 *    lost, so that sysfs can sum losses without the reader's mutex.
 * Payload bytes in the ring are read without any lock (copy_to_user and
 * mmap readers alike) and validated afterwards against the published tail.
 */
struct channel {
	struct rw_semaphore lock;
	wait_queue_head_t wait;		/* readers waiting for a record */
	void *area;			/* control page, then the ring */
	struct channel_control *ctl;	/* what is published to readers */
	char *ring;
	u64 size;			/* ring bytes, a power of two */
	u64 head, tail, tail_seq, next_seq;	/* the writer's copies, under lock */
	u64 tail_gen;			/* ctl->tail_gen, under lock */
	atomic64_t records, bytes;
	spinlock_t readers_lock;	/* readers and lost_closed */
	struct list_head readers;	/* open files with read access */
	u64 lost_closed;		/* records lost by readers now closed */
	struct cdev cdev;
	struct device dev;		/* owns the structure: freed at its release */
};

struct channel_reader {
	struct channel *ch;
	struct list_head node;	/* in ch->readers, if opened for reading */
	struct mutex lock;	/* one read, write, seek or ioctl at a time */
	spinlock_t pos_lock;	/* pos, seq, partial and lost */
	u64 pos;		/* start of the next record to read */
	u64 seq;		/* its sequence number */
	u32 partial;		/* payload bytes of that record already read */
	u64 lost;		/* records lost to overruns, once noticed */
	void *bounce;		/* this file's writes are copied in here first */
	size_t bounce_size;
};

static dev_t channel_devt;
static struct class *channel_class;
static struct channel **channels;
/* Opens fail until every channel is set up: a failed load frees them all. */
static bool channels_ready;

static u64 record_span(u32 length)
{
	return HDR_SIZE + ALIGN((u64)length, 8);
}

static u64 max_record(const struct channel *ch)
{
	return ch->size / 4;
}

static const struct channel_record *record_at(const struct channel *ch, u64 pos)
{
	return (const struct channel_record *)(ch->ring + (pos & (ch->size - 1)));
}

/*
 * Past the padding at pos to the next record, or pos itself.  Never past
 * head: the bytes at head's offset are not a record yet (a stale PAD header
 * from an earlier lap may sit there), so pos == head stays where it is.
 * Called with ch->lock held.
 */
static u64 skip_pad(const struct channel *ch, u64 pos)
{
	u64 off = pos & (ch->size - 1);

	if (pos == ch->head)
		return pos;
	if (ch->size - off < HDR_SIZE || (record_at(ch, pos)->flags & CHANNEL_RECORD_PAD))
		return pos + ch->size - off;
	return pos;
}

/* Drop the oldest record.  Called with ch->lock held for writing. */
static void drop_oldest(struct channel *ch)
{
	const struct channel_record *rec;

	ch->tail = skip_pad(ch, ch->tail);
	if (ch->tail == ch->head)
		return;
	rec = record_at(ch, ch->tail);
	ch->tail += record_span(rec->length);
	ch->tail_seq = rec->seq + 1;
}

/*
 * Publish tail and tail_seq as a pair, inside an odd tail_gen (a seqcount
 * in the control page: the kernel's seqcount_t cannot live in a uapi page).
 * The second barrier also orders these stores before the ring stores that
 * follow, so a reader that sees overwritten bytes, then issues a read
 * barrier, sees the tail that moved past them.
 */
static void publish_tail(struct channel *ch)
{
	struct channel_control *ctl = ch->ctl;

	WRITE_ONCE(ctl->tail_gen, ++ch->tail_gen);
	/* Odd tail_gen before the new pair: pairs with the reader's barrier (R5). */
	smp_wmb();
	WRITE_ONCE(ctl->tail_seq, ch->tail_seq);
	WRITE_ONCE(ctl->tail, ch->tail);
	/* The pair before even tail_gen and before the ring stores (R4, R5). */
	smp_wmb();
	WRITE_ONCE(ctl->tail_gen, ++ch->tail_gen);
}

static ssize_t channel_write(struct file *file, const char __user *buf, size_t count,
			     loff_t *ppos)
{
	struct channel_reader *r = file->private_data;
	struct channel *ch = r->ch;
	struct channel_record *rec;
	u64 off, start, end, old_tail;
	ssize_t ret;

	if (count == 0)
		return 0;
	if (count > max_record(ch))
		return -EMSGSIZE;

	/*
	 * Copy from the caller before taking the channel's lock: a fault then
	 * changes nothing (no record dropped, no padding written), and a copy
	 * that sleeps (a buffer on a slow or stalled filesystem) holds up only
	 * this open file.  The buffer is the file's own, kept for its next
	 * writes: an allocation per record would cost more than the copy.
	 */
	if (mutex_lock_killable(&r->lock))
		return -EINTR;
	if (r->bounce_size < count) {
		kvfree(r->bounce);
		r->bounce_size = 0;
		/* Records reach buf_size / 4 bytes, more than kmalloc gives. */
		r->bounce = kvmalloc(count, GFP_KERNEL);
		if (!r->bounce) {
			ret = -ENOMEM;
			goto out;
		}
		r->bounce_size = count;
	}
	if (copy_from_user(r->bounce, buf, count)) {
		ret = -EFAULT;
		goto out;
	}
	if (down_write_killable(&ch->lock)) {
		ret = -EINTR;
		goto out;
	}
	start = ch->head;
	off = start & (ch->size - 1);
	/* A record never wraps: pad to the end of the ring when it would. */
	if (ch->size - off < record_span(count))
		start += ch->size - off;
	end = start + record_span(count);
	old_tail = ch->tail;
	while (end - ch->tail > ch->size)
		drop_oldest(ch);
	if (ch->tail != old_tail)
		publish_tail(ch);

	if (start != ch->head && ch->size - off >= HDR_SIZE) {
		rec = (struct channel_record *)(ch->ring + off);
		rec->length = 0;
		rec->flags = CHANNEL_RECORD_PAD;
		rec->seq = ch->next_seq;
	}
	rec = (struct channel_record *)(ch->ring + (start & (ch->size - 1)));
	memcpy(rec + 1, r->bounce, count);
	rec->length = count;
	rec->flags = 0;
	rec->seq = ch->next_seq++;
	ch->head = end;
	/* The record is complete before readers, who load-acquire head, can see it. */
	smp_store_release(&ch->ctl->head, end);
	atomic64_inc(&ch->records);
	atomic64_add(count, &ch->bytes);
	up_write(&ch->lock);
	wake_up_interruptible_all(&ch->wait);
	ret = count;
out:
	mutex_unlock(&r->lock);
	return ret;
}

/*
 * Records r has lost and not yet been told of: those between its position
 * and tail.  Called with ch->lock and r->pos_lock held.
 */
static u64 pending_loss(const struct channel *ch, const struct channel_reader *r)
{
	return r->pos < ch->tail ? ch->tail_seq - r->seq : 0;
}

/*
 * An overrun reader moves to tail, and its losses are counted.  Returns the
 * records lost, or 0 if r was not overrun (a position before tail always
 * has lost at least one record).  Called with ch->lock held.
 */
static u64 take_overrun(struct channel *ch, struct channel_reader *r)
{
	u64 lost;

	spin_lock(&r->pos_lock);
	lost = pending_loss(ch, r);
	if (lost) {
		r->lost += lost;
		r->pos = ch->tail;
		r->seq = ch->tail_seq;
		r->partial = 0;
	}
	spin_unlock(&r->pos_lock);
	return lost;
}

static void set_position(struct channel_reader *r, u64 pos, u64 seq)
{
	spin_lock(&r->pos_lock);
	r->pos = pos;
	r->seq = seq;
	r->partial = 0;
	spin_unlock(&r->pos_lock);
}

static bool reader_has_data(struct channel *ch, struct channel_reader *r)
{
	u64 pos = READ_ONCE(r->pos);

	/* A wake-up condition: the read rechecks under ch->lock, so no barrier pairs here. */
	return READ_ONCE(ch->ctl->head) != pos || READ_ONCE(ch->ctl->tail) > pos;
}

/*
 * Find r's next record and copy its header to rec: 0, -EAGAIN if there is
 * none yet, -EPIPE after an overrun, -EINTR for a fatal signal.
 */
static int next_record(struct channel *ch, struct channel_reader *r,
		       struct channel_record *rec)
{
	int ret = 0;

	if (down_read_killable(&ch->lock))
		return -EINTR;
	if (take_overrun(ch, r)) {
		ret = -EPIPE;
		goto out;
	}
	spin_lock(&r->pos_lock);
	r->pos = skip_pad(ch, r->pos);
	spin_unlock(&r->pos_lock);
	if (r->pos == ch->head)
		ret = -EAGAIN;
	else
		*rec = *record_at(ch, r->pos);
out:
	up_read(&ch->lock);
	return ret;
}

static ssize_t channel_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct channel_reader *r = file->private_data;
	struct channel *ch = r->ch;
	struct channel_record rec;
	const char *from;
	ssize_t ret;
	size_t n;

	if (mutex_lock_interruptible(&r->lock))
		return -ERESTARTSYS;
	for (;;) {
		ret = next_record(ch, r, &rec);
		if (ret == -EAGAIN) {
			mutex_unlock(&r->lock);
			if (file->f_flags & O_NONBLOCK)
				return -EAGAIN;
			ret = wait_event_interruptible(ch->wait, reader_has_data(ch, r));
			if (ret)
				return ret;
			if (mutex_lock_interruptible(&r->lock))
				return -ERESTARTSYS;
			continue;
		}
		if (ret)
			goto out;
		/* No lock but our own: this copy may fault, or sleep, as long as it likes. */
		from = (const char *)record_at(ch, r->pos) + HDR_SIZE + r->partial;
		n = min_t(size_t, count, rec.length - r->partial);
		if (copy_to_user(buf, from, n)) {
			ret = -EFAULT;
			goto out;
		}
		/*
		 * The copy is the record only if no writer moved tail past it
		 * meanwhile (pairs with the barriers in publish_tail()).  If
		 * one did, the next round reports the overrun.
		 */
		smp_rmb();
		if (READ_ONCE(ch->ctl->tail) <= r->pos)
			break;
	}
	spin_lock(&r->pos_lock);
	r->partial += n;
	if (r->partial == rec.length) {
		r->pos += record_span(rec.length);
		r->seq = rec.seq + 1;
		r->partial = 0;
	}
	spin_unlock(&r->pos_lock);
	ret = n;
out:
	mutex_unlock(&r->lock);
	return ret;
}

static __poll_t channel_poll(struct file *file, poll_table *wait)
{
	struct channel_reader *r = file->private_data;
	struct channel *ch = r->ch;
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;
	u64 pos;

	poll_wait(file, &ch->wait, wait);
	if (down_read_killable(&ch->lock))
		return EPOLLERR;
	pos = READ_ONCE(r->pos);
	if (pos < ch->tail)
		mask |= EPOLLERR | EPOLLPRI;
	else if (skip_pad(ch, pos) != ch->head)
		mask |= EPOLLIN | EPOLLRDNORM;
	up_read(&ch->lock);
	return mask;
}

/* r's mutex, then its channel's lock for reading, killably: seeks and ioctls. */
static int lock_reader(struct channel_reader *r)
{
	if (mutex_lock_killable(&r->lock))
		return -EINTR;
	if (down_read_killable(&r->ch->lock)) {
		mutex_unlock(&r->lock);
		return -EINTR;
	}
	return 0;
}

static void unlock_reader(struct channel_reader *r)
{
	up_read(&r->ch->lock);
	mutex_unlock(&r->lock);
}

/*
 * SEEK_SET 0: the oldest record still held.  SEEK_END 0: the live end.
 * Records an overrun reader lost before it seeks stay counted as lost.
 */
static loff_t channel_llseek(struct file *file, loff_t offset, int whence)
{
	struct channel_reader *r = file->private_data;
	struct channel *ch = r->ch;

	if (offset != 0 || (whence != SEEK_SET && whence != SEEK_END))
		return -EINVAL;
	if (lock_reader(r))
		return -EINTR;
	take_overrun(ch, r);
	if (whence == SEEK_SET)
		set_position(r, ch->tail, ch->tail_seq);
	else
		set_position(r, ch->head, ch->next_seq);
	unlock_reader(r);
	return 0;
}

/* Records r has lost in all, told or not.  Called with ch->lock held. */
static u64 reader_lost(const struct channel *ch, struct channel_reader *r)
{
	u64 lost;

	spin_lock(&r->pos_lock);
	lost = r->lost + pending_loss(ch, r);
	spin_unlock(&r->pos_lock);
	return lost;
}

static long channel_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct channel_reader *r = file->private_data;
	struct channel *ch = r->ch;
	u64 value;

	if (cmd != CHANNEL_IOC_LOST && cmd != CHANNEL_IOC_POS && cmd != CHANNEL_IOC_SEQ)
		return -ENOTTY;
	if (lock_reader(r))
		return -EINTR;
	if (cmd == CHANNEL_IOC_LOST)
		value = reader_lost(ch, r);
	else if (cmd == CHANNEL_IOC_POS)
		value = r->pos;
	else
		value = r->seq;
	unlock_reader(r);
	return put_user(value, (u64 __user *)arg);
}

static int channel_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct channel_reader *r = file->private_data;
	struct channel *ch = r->ch;
	unsigned long len = vma->vm_end - vma->vm_start;

	if (vma->vm_flags & VM_WRITE)
		return -EPERM;
	if (vma->vm_pgoff != 0 || len > CHANNEL_CONTROL_SIZE + ch->size)
		return -EINVAL;
	/*
	 * Nor writable later, by mprotect().  (checkpatch warns of the version
	 * test: it is how one out-of-tree source builds on 6.1 and on >= 6.3,
	 * where vm_flags became read-only.)
	 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_clear(vma, VM_MAYWRITE);
#else
	vma->vm_flags &= ~VM_MAYWRITE;
#endif
	return remap_vmalloc_range(vma, ch->area, 0);
}

static int channel_open(struct inode *inode, struct file *file)
{
	struct channel *ch = container_of(inode->i_cdev, struct channel, cdev);
	struct channel_reader *r;

	/* Pairs with the store-release at the end of channel_init(). */
	if (!smp_load_acquire(&channels_ready))
		return -ENODEV;
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->ch = ch;
	mutex_init(&r->lock);
	spin_lock_init(&r->pos_lock);
	INIT_LIST_HEAD(&r->node);
	if (down_read_killable(&ch->lock)) {
		kfree(r);
		return -EINTR;
	}
	r->pos = ch->head;
	r->seq = ch->next_seq;
	up_read(&ch->lock);
	if (file->f_mode & FMODE_READ) {
		spin_lock(&ch->readers_lock);
		list_add(&r->node, &ch->readers);
		spin_unlock(&ch->readers_lock);
	}
	file->private_data = r;
	/* Positions are the reader's own: pread and pwrite have none to give. */
	file->f_mode &= ~(FMODE_PREAD | FMODE_PWRITE);
	return 0;
}

static int channel_release(struct inode *inode, struct file *file)
{
	struct channel_reader *r = file->private_data;
	struct channel *ch = r->ch;

	if (file->f_mode & FMODE_READ) {
		/* Release cannot fail: wait for the (short) lock unconditionally. */
		down_read(&ch->lock);
		spin_lock(&ch->readers_lock);
		list_del(&r->node);
		ch->lost_closed += reader_lost(ch, r);
		spin_unlock(&ch->readers_lock);
		up_read(&ch->lock);
	}
	kvfree(r->bounce);
	kfree(r);
	return 0;
}

static const struct file_operations channel_fops = {
	.owner		= THIS_MODULE,
	.open		= channel_open,
	.release	= channel_release,
	.read		= channel_read,
	.write		= channel_write,
	.poll		= channel_poll,
	.llseek		= channel_llseek,
	.unlocked_ioctl	= channel_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= channel_mmap,
};

/* ---- sysfs: /sys/class/channel/channelN/{records,bytes,readers,dropped} ---- */

static ssize_t records_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct channel *ch = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%lld\n", atomic64_read(&ch->records));
}
static DEVICE_ATTR_RO(records);

static ssize_t bytes_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct channel *ch = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%lld\n", atomic64_read(&ch->bytes));
}
static DEVICE_ATTR_RO(bytes);

static ssize_t readers_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct channel *ch = dev_get_drvdata(dev);
	struct channel_reader *r;
	unsigned int n = 0;

	spin_lock(&ch->readers_lock);
	list_for_each_entry(r, &ch->readers, node)
		n++;
	spin_unlock(&ch->readers_lock);
	return sysfs_emit(buf, "%u\n", n);
}
static DEVICE_ATTR_RO(readers);

/* Records lost to overruns, summed over readers open and closed, noticed or not. */
static ssize_t dropped_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct channel *ch = dev_get_drvdata(dev);
	struct channel_reader *r;
	u64 sum;

	if (down_read_killable(&ch->lock))
		return -EINTR;
	spin_lock(&ch->readers_lock);
	sum = ch->lost_closed;
	list_for_each_entry(r, &ch->readers, node)
		sum += reader_lost(ch, r);
	spin_unlock(&ch->readers_lock);
	up_read(&ch->lock);
	return sysfs_emit(buf, "%llu\n", sum);
}
static DEVICE_ATTR_RO(dropped);

static struct attribute *channel_attrs[] = {
	&dev_attr_records.attr,
	&dev_attr_bytes.attr,
	&dev_attr_readers.attr,
	&dev_attr_dropped.attr,
	NULL,
};
ATTRIBUTE_GROUPS(channel);

/* ---- module ---- */

/* The last reference to a channel's device is gone: no open file uses it. */
static void channel_free(struct device *dev)
{
	struct channel *ch = container_of(dev, struct channel, dev);

	vfree(ch->area);
	kfree(ch);
}

/* A channel with its memory, not yet visible: undone by put_device(). */
static struct channel *channel_create(unsigned int minor)
{
	struct channel *ch;
	int err;

	ch = kzalloc(sizeof(*ch), GFP_KERNEL);
	if (!ch)
		return ERR_PTR(-ENOMEM);
	init_rwsem(&ch->lock);
	init_waitqueue_head(&ch->wait);
	spin_lock_init(&ch->readers_lock);
	INIT_LIST_HEAD(&ch->readers);
	ch->size = buf_size;
	ch->area = vmalloc_user(CHANNEL_CONTROL_SIZE + ch->size);
	if (!ch->area) {
		kfree(ch);
		return ERR_PTR(-ENOMEM);
	}
	ch->ctl = ch->area;
	ch->ring = (char *)ch->area + CHANNEL_CONTROL_SIZE;
	ch->ctl->version = CHANNEL_MMAP_VERSION;
	ch->ctl->record_align = 8;
	ch->ctl->data_offset = CHANNEL_CONTROL_SIZE;
	ch->ctl->data_size = ch->size;

	device_initialize(&ch->dev);
	ch->dev.devt = MKDEV(MAJOR(channel_devt), minor);
	ch->dev.class = channel_class;
	ch->dev.release = channel_free;
	dev_set_drvdata(&ch->dev, ch);
	err = dev_set_name(&ch->dev, "channel%u", minor);
	if (err) {
		put_device(&ch->dev);
		return ERR_PTR(err);
	}
	cdev_init(&ch->cdev, &channel_fops);
	ch->cdev.owner = THIS_MODULE;
	return ch;
}

/* Undo the first n cdev_device_add()s, then drop every channel. */
static void channel_destroy_all(unsigned int added)
{
	unsigned int i;

	for (i = 0; i < nr_channels; i++) {
		if (!channels[i])
			continue;
		if (i < added)
			cdev_device_del(&channels[i]->cdev, &channels[i]->dev);
		put_device(&channels[i]->dev);
	}
	kfree(channels);
}

static int __init channel_init(void)
{
	unsigned int i, added = 0;
	int err;

	if (nr_channels < 1 || nr_channels > CHANNEL_MAX_CHANNELS) {
		pr_err("nr_channels must be 1 to %d\n", CHANNEL_MAX_CHANNELS);
		return -EINVAL;
	}
	if (buf_size < CHANNEL_MIN_BUF || buf_size > CHANNEL_MAX_BUF) {
		pr_err("buf_size must be %lu to %lu\n", CHANNEL_MIN_BUF, CHANNEL_MAX_BUF);
		return -EINVAL;
	}
	buf_size = roundup_pow_of_two(buf_size);

	err = alloc_chrdev_region(&channel_devt, 0, nr_channels, "channel");
	if (err)
		return err;
	/* class_create() lost its module argument in 6.4 (see channel_mmap()). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	channel_class = class_create("channel");
#else
	channel_class = class_create(THIS_MODULE, "channel");
#endif
	if (IS_ERR(channel_class)) {
		err = PTR_ERR(channel_class);
		goto err_region;
	}
	channel_class->dev_groups = channel_groups;
	channels = kcalloc(nr_channels, sizeof(*channels), GFP_KERNEL);
	if (!channels) {
		err = -ENOMEM;
		goto err_class;
	}
	/* Every allocation first, then the devices: what can fail mostly fails early. */
	for (i = 0; i < nr_channels; i++) {
		channels[i] = channel_create(i);
		if (IS_ERR(channels[i])) {
			err = PTR_ERR(channels[i]);
			channels[i] = NULL;
			goto err_channels;
		}
	}
	for (added = 0; added < nr_channels; added++) {
		err = cdev_device_add(&channels[added]->cdev, &channels[added]->dev);
		if (err)
			goto err_channels;
	}
	/* Only now may opens succeed (a failure above frees channels already visible). */
	smp_store_release(&channels_ready, true);	/* pairs with channel_open() */
	pr_info("%u channels of %lu bytes\n", nr_channels, buf_size);
	return 0;

err_channels:
	channel_destroy_all(added);
err_class:
	class_destroy(channel_class);
err_region:
	unregister_chrdev_region(channel_devt, nr_channels);
	return err;
}

static void __exit channel_exit(void)
{
	channel_destroy_all(nr_channels);
	class_destroy(channel_class);
	unregister_chrdev_region(channel_devt, nr_channels);
}

module_init(channel_init);
module_exit(channel_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Broadcast channels: every reader receives every record");
MODULE_AUTHOR("ipcfs developers");
