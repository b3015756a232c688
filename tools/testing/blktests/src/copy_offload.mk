# SPDX-License-Identifier: GPL-2.0
# The C helpers of the copy offload cases. A makefile of its own, so that it
# builds them in an upstream blktests checkout next to upstream's src/Makefile
# without replacing it (UPSTREAM.md):
#
#	make -C src -f copy_offload.mk UAPI=/path/to/linux/include/uapi
#
# Here src/Makefile includes it. O= names the output directory (default: the
# sources' directory, upstream's $SRCDIR); the kernel's uapi headers of this
# series (linux/blk-copy.h) come from $(UAPI).
O ?= .
UAPI ?= ../../../../include/uapi
CFLAGS ?= -O2 -Wall -Wextra

PROGS := blkpg check_copied cmp_pieces copy_cfr copy_ioctl copy_uring diff_blocks fill_random mmap_write write_direct

# The BLOCK_URING_CMD_COPY helpers need liburing (Debian: liburing-dev);
# without it they are not built, and the cases that use them are skipped
# (_have_src_program).
URING_PROGS := copy_uring
HAVE_LIBURING := $(shell echo '\#include <liburing.h>' | \
	$(CC) -E -x c - >/dev/null 2>&1 && echo y)
ifneq ($(HAVE_LIBURING),y)
PROGS := $(filter-out $(URING_PROGS),$(PROGS))
endif

all: $(addprefix $(O)/,$(PROGS))

$(addprefix $(O)/,$(URING_PROGS)): LDLIBS += -luring
$(O)/copy_qd: LDLIBS += -luring -lpthread

$(O)/%: %.c errno_name.h mono_time.h ready_file.h size_arg.h $(UAPI)/linux/blk-copy.h
	@mkdir -p $(O)
	$(CC) $(CFLAGS) -I$(UAPI) -o $@ $< $(LDLIBS)

clean:
	rm -f $(addprefix $(O)/,$(PROGS) $(URING_PROGS) copy_bench copy_qd)

.PHONY: all clean
