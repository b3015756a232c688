/* SPDX-License-Identifier: GPL-2.0 */
/* The name of an errno value, as the tests' golden output prints it. */
#ifndef ERRNO_NAME_H
#define ERRNO_NAME_H

#include <errno.h>
#include <string.h>

static inline const char *errno_name(int err)
{
	switch (err) {
	case EBADF: return "EBADF";
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case EXDEV: return "EXDEV";
	case ENOSPC: return "ENOSPC";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EIO: return "EIO";
	case ENOMEM: return "ENOMEM";
	case ENOTTY: return "ENOTTY";
	case EBUSY: return "EBUSY";
	case EOVERFLOW: return "EOVERFLOW";
	case ENXIO: return "ENXIO";
	case ENODEV: return "ENODEV";
	case ETXTBSY: return "ETXTBSY";
	/* io_uring: BLOCK_URING_CMD_COPY and IORING_OP_ASYNC_CANCEL */
	case ECANCELED: return "ECANCELED";
	case ENOENT: return "ENOENT";
	case EALREADY: return "EALREADY";
	case EAGAIN: return "EAGAIN";
	/* NVMe over Fabrics: a path error (BLK_STS_TRANSPORT), a lost link */
	case ENOLINK: return "ENOLINK";
	case ENOTCONN: return "ENOTCONN";
	default: return strerror(err);
	}
}

#endif
