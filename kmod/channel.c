// SPDX-License-Identifier: GPL-2.0
/*
 * channel.ko: broadcast channels as character devices, /dev/channelN.
 *
 * Each channel is a ring of records.  Writers append under the channel's
 * rwsem held for writing and never wait for readers: the oldest records are
 * overwritten.  Every open file is a reader with its own position (as with
 * /dev/kmsg); readers copy out under the rwsem held for reading, so several
 * copy at once.  The ring and a control page can be mapped read-only, for
 * readers that consume without copies.  The layout and the memory ordering
 * are in include/uapi/linux/channel.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
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
MODULE_PARM_DESC(buf_size, "Ring bytes per channel, rounded up to a power of two (default 1 MiB)");

#define CHANNEL_MAX_CHANNELS	256
#define CHANNEL_MIN_BUF		PAGE_SIZE
#define CHANNEL_MAX_BUF		(256UL << 20)
#define HDR_SIZE		sizeof(struct channel_record)

struct channel {
	struct rw_semaphore lock;	/* write: appending; read: copying out */
	wait_queue_head_t wait;		/* readers waiting for a record */
	void *area;			/* control page, then the ring */
	struct channel_control *ctl;
	char *ring;
	u64 size;			/* ring bytes, a power of two */
	u64 head, tail, tail_seq, next_seq;	/* the writer's copies, under lock */
	struct cdev cdev;
	struct device *dev;
	atomic64_t records, bytes, dropped;
	atomic_t readers;
};

struct channel_reader {
	struct channel *ch;
	struct mutex lock;	/* one read, seek or ioctl at a time per open file */
	u64 pos;		/* start of the next record to read */
	u64 seq;		/* its sequence number */
	u32 partial;		/* payload bytes of that record already read */
	u64 lost;		/* records lost to overruns, in all */
};

static dev_t channel_devt;
static struct class *channel_class;
static struct channel *channels;

static u64 record_span(u32 length)
{
	return HDR_SIZE + ALIGN((u64)length, 8);
}

static u64 max_record(const struct channel *ch)
{
	return ch->size / 4;
}

/*
 * Where the record at (or after) pos starts: pos itself, or the start of the
 * ring's next lap when too little room is left for a header or a pad record
 * is there.
 */
/*
 * Past the padding at pos to the next record, or pos itself.  Never past
 * head: the bytes at head's offset are not a record yet (a stale PAD header
 * from an earlier lap may sit there), so pos == head stays where it is.
 */
static u64 skip_pad(const struct channel *ch, u64 pos)
{
	u64 off = pos & (ch->size - 1);
	const struct channel_record *rec;

	if (pos == ch->head)
		return pos;
	if (ch->size - off < HDR_SIZE)
		return pos + ch->size - off;
	rec = (const struct channel_record *)(ch->ring + off);
	if (rec->flags & CHANNEL_RECORD_PAD)
		return pos + ch->size - off;
	return pos;
}

static const struct channel_record *record_at(const struct channel *ch, u64 pos)
{
	return (const struct channel_record *)(ch->ring + (pos & (ch->size - 1)));
}

/* Drop the oldest record.  Called with the lock held for writing. */
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

static void publish_tail(struct channel *ch)
{
	WRITE_ONCE(ch->ctl->tail_seq, ch->tail_seq);
	/* Pairs with the mmap reader's load-acquire of tail after it copied a record. */
	smp_store_release(&ch->ctl->tail, ch->tail);
}

static ssize_t channel_write(struct file *file, const char __user *buf, size_t count,
			     loff_t *ppos)
{
	struct channel_reader *r = file->private_data;
	struct channel *ch = r->ch;
	struct channel_record *rec;
	u64 off, start, end;
	void *payload;

	if (count == 0)
		return 0;
	if (count > max_record(ch))
		return -EMSGSIZE;

	/*
	 * Copy from the caller before taking the lock: a fault then changes
	 * nothing (no record dropped, no padding written), and a copy that
	 * sleeps (a buffer on a slow or stalled filesystem) holds up nobody.
	 */
	payload = memdup_user(buf, count);
	if (IS_ERR(payload))
		return PTR_ERR(payload);

	down_write(&ch->lock);
	start = ch->head;
	off = start & (ch->size - 1);
	/* A record never wraps: pad to the end of the ring when it would. */
	if (ch->size - off < record_span(count))
		start += ch->size - off;
	end = start + record_span(count);
	while (end - ch->tail > ch->size)
		drop_oldest(ch);
	publish_tail(ch);

	if (start != ch->head && ch->size - off >= HDR_SIZE) {
		rec = (struct channel_record *)(ch->ring + off);
		rec->length = 0;
		rec->flags = CHANNEL_RECORD_PAD;
		rec->seq = ch->next_seq;
	}
	rec = (struct channel_record *)(ch->ring + (start & (ch->size - 1)));
	memcpy(rec + 1, payload, count);
	rec->length = count;
	rec->flags = 0;
	rec->seq = ch->next_seq++;
	ch->head = end;
	/* The record is complete before mmap readers, who load-acquire head, can see it. */
	smp_store_release(&ch->ctl->head, end);
	atomic64_inc(&ch->records);
	atomic64_add(count, &ch->bytes);
	up_write(&ch->lock);
	kfree(payload);

	wake_up_interruptible_all(&ch->wait);
	return count;
}

/* Records this reader missed, or 0.  Called with the channel lock held. */
static u64 check_overrun(struct channel *ch, struct channel_reader *r)
{
	u64 lost;

	if (r->pos >= ch->tail)
		return 0;
	lost = ch->tail_seq - r->seq;
	r->pos = ch->tail;
	r->seq = ch->tail_seq;
	r->partial = 0;
	r->lost += lost;
	atomic64_add(lost, &ch->dropped);
	return lost;
}

static bool reader_has_data(struct channel *ch, struct channel_reader *r)
{
	return READ_ONCE(ch->head) != r->pos || READ_ONCE(ch->tail) > r->pos;
}

static ssize_t channel_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct channel_reader *r = file->private_data;
	struct channel *ch = r->ch;
	const struct channel_record *rec;
	ssize_t ret;
	size_t n;

	if (mutex_lock_interruptible(&r->lock))
		return -ERESTARTSYS;
	for (;;) {
		down_read(&ch->lock);
		if (check_overrun(ch, r)) {
			ret = -EPIPE;
			goto out_unlock;
		}
		r->pos = skip_pad(ch, r->pos);
		if (r->pos != ch->head)
			break;
		up_read(&ch->lock);
		if (file->f_flags & O_NONBLOCK) {
			ret = -EAGAIN;
			goto out;
		}
		ret = wait_event_interruptible(ch->wait, reader_has_data(ch, r));
		if (ret)
			goto out;
	}

	rec = record_at(ch, r->pos);
	n = min_t(size_t, count, rec->length - r->partial);
	if (copy_to_user(buf, (const char *)(rec + 1) + r->partial, n)) {
		ret = -EFAULT;
		goto out_unlock;
	}
	r->partial += n;
	if (r->partial == rec->length) {
		r->pos += record_span(rec->length);
		r->seq = rec->seq + 1;
		r->partial = 0;
	}
	ret = n;
out_unlock:
	up_read(&ch->lock);
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
	down_read(&ch->lock);
	pos = r->pos;
	if (pos < ch->tail)
		mask |= EPOLLERR | EPOLLPRI;
	else if (skip_pad(ch, pos) != ch->head)
		mask |= EPOLLIN | EPOLLRDNORM;
	up_read(&ch->lock);
	return mask;
}

/* SEEK_SET 0: the oldest record still held.  SEEK_END 0: the live end. */
static loff_t channel_llseek(struct file *file, loff_t offset, int whence)
{
	struct channel_reader *r = file->private_data;
	struct channel *ch = r->ch;

	if (offset != 0 || (whence != SEEK_SET && whence != SEEK_END))
		return -EINVAL;
	mutex_lock(&r->lock);
	down_read(&ch->lock);
	if (whence == SEEK_SET) {
		r->pos = ch->tail;
		r->seq = ch->tail_seq;
	} else {
		r->pos = ch->head;
		r->seq = ch->next_seq;
	}
	r->partial = 0;
	up_read(&ch->lock);
	mutex_unlock(&r->lock);
	return 0;
}

static long channel_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct channel_reader *r = file->private_data;
	u64 value;

	mutex_lock(&r->lock);
	switch (cmd) {
	case CHANNEL_IOC_LOST:
		value = r->lost;
		break;
	case CHANNEL_IOC_POS:
		value = r->pos;
		break;
	default:
		mutex_unlock(&r->lock);
		return -ENOTTY;
	}
	mutex_unlock(&r->lock);
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

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	r->ch = ch;
	mutex_init(&r->lock);
	down_read(&ch->lock);
	r->pos = ch->head;
	r->seq = ch->next_seq;
	up_read(&ch->lock);
	if (file->f_mode & FMODE_READ)
		atomic_inc(&ch->readers);
	file->private_data = r;
	/* Positions are the reader's own: pread and pwrite have none to give. */
	file->f_mode &= ~(FMODE_PREAD | FMODE_PWRITE);
	return 0;
}

static int channel_release(struct inode *inode, struct file *file)
{
	struct channel_reader *r = file->private_data;

	if (file->f_mode & FMODE_READ)
		atomic_dec(&r->ch->readers);
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

	return sysfs_emit(buf, "%d\n", atomic_read(&ch->readers));
}
static DEVICE_ATTR_RO(readers);

static ssize_t dropped_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct channel *ch = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%lld\n", atomic64_read(&ch->dropped));
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

static int channel_setup(struct channel *ch, unsigned int minor)
{
	int err;

	init_rwsem(&ch->lock);
	init_waitqueue_head(&ch->wait);
	ch->size = buf_size;
	ch->area = vmalloc_user(CHANNEL_CONTROL_SIZE + ch->size);
	if (!ch->area)
		return -ENOMEM;
	ch->ctl = ch->area;
	ch->ring = (char *)ch->area + CHANNEL_CONTROL_SIZE;
	ch->ctl->version = CHANNEL_MMAP_VERSION;
	ch->ctl->record_align = 8;
	ch->ctl->data_offset = CHANNEL_CONTROL_SIZE;
	ch->ctl->data_size = ch->size;

	cdev_init(&ch->cdev, &channel_fops);
	ch->cdev.owner = THIS_MODULE;
	err = cdev_add(&ch->cdev, MKDEV(MAJOR(channel_devt), minor), 1);
	if (err)
		goto err_free;
	ch->dev = device_create(channel_class, NULL, MKDEV(MAJOR(channel_devt), minor), ch,
				"channel%u", minor);
	if (IS_ERR(ch->dev)) {
		err = PTR_ERR(ch->dev);
		goto err_cdev;
	}
	return 0;

err_cdev:
	cdev_del(&ch->cdev);
err_free:
	vfree(ch->area);
	return err;
}

static void channel_teardown(struct channel *ch)
{
	device_destroy(channel_class, ch->cdev.dev);
	cdev_del(&ch->cdev);
	vfree(ch->area);
}

static int __init channel_init(void)
{
	unsigned int i;
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
	for (i = 0; i < nr_channels; i++) {
		err = channel_setup(&channels[i], i);
		if (err)
			goto err_channels;
	}
	pr_info("%u channels of %lu bytes\n", nr_channels, buf_size);
	return 0;

err_channels:
	while (i--)
		channel_teardown(&channels[i]);
	kfree(channels);
err_class:
	class_destroy(channel_class);
err_region:
	unregister_chrdev_region(channel_devt, nr_channels);
	return err;
}

static void __exit channel_exit(void)
{
	unsigned int i;

	for (i = 0; i < nr_channels; i++)
		channel_teardown(&channels[i]);
	kfree(channels);
	class_destroy(channel_class);
	unregister_chrdev_region(channel_devt, nr_channels);
}

module_init(channel_init);
module_exit(channel_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Broadcast channels: every reader receives every record");
MODULE_AUTHOR("ipcfs developers");
