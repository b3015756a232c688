#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The thin snapshot copy-on-write row of `make bench`, in the guest (mk/guest-bench.sh).

    bench-thin.py write DEV BLOCK BYTES TAG
    bench-thin.py verify SNAP DEV BLOCK BYTES TAG

write: one 4 KiB O_DIRECT write at the start of each BLOCK-byte pool block of
the first BYTES of thin volume DEV, one after the other. Each block is shared
with a snapshot taken before, so each write makes dm-thin copy the whole block
to a new one (dm-kcopyd) before the write is done. What is written names TAG
and the block. Prints "SECS CPU_USER CPU_SYS WRITES": the wall time of the
writes and the guest's CPU seconds in that time (all CPUs, from /proc/stat:
user + nice, system + irq + softirq, as copy_bench counts them).

verify: reads SNAP and DEV block by block with O_DIRECT. Every block of DEV
must hold TAG's 4 KiB for it, then the rest of SNAP's block. Prints
"SNAP_SHA256 DEV_SHA256 BAD FIRST_BAD": the sha256 of the first BYTES of each,
the number of blocks of DEV that are not as expected and the byte offset of
the first of them (-1: none).

Exits 1 when a read or write fails, 2 on bad usage.
"""
import hashlib
import mmap
import os
import struct
import sys
import time

PIECE = 4096


def piece(tag, block):
    """The 4 KiB written to block number block in run tag: 32-byte records naming both."""
    return struct.pack("<8sQQQ", b"thin cow", tag, block, PIECE) * (PIECE // 32)


def cpu_ticks():
    """Guest CPU ticks so far, all CPUs: (user + nice, system + irq + softirq)."""
    with open("/proc/stat") as f:
        v = f.readline().split()
    return int(v[1]) + int(v[2]), int(v[3]) + int(v[6]) + int(v[7])


def write(dev, block, size, tag):
    pieces = [piece(tag, b) for b in range(size // block)]
    buf = mmap.mmap(-1, PIECE)  # page aligned, as O_DIRECT needs
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
    hz = os.sysconf("SC_CLK_TCK")
    u0, s0 = cpu_ticks()
    t0 = time.monotonic()
    for b, p in enumerate(pieces):
        buf[:] = p
        if os.pwrite(fd, buf, b * block) != PIECE:
            sys.exit(f"bench-thin.py: short write at {b * block}")
    t1 = time.monotonic()
    u1, s1 = cpu_ticks()
    os.close(fd)
    print(f"{t1 - t0:.6f} {(u1 - u0) / hz:.3f} {(s1 - s0) / hz:.3f} {len(pieces)}")


def read_block(fd, buf, off, dev):
    if os.preadv(fd, [buf], off) != len(buf):
        sys.exit(f"bench-thin.py: short read of {dev} at {off}")


def verify(snap, dev, block, size, tag):
    sbuf, dbuf = mmap.mmap(-1, block), mmap.mmap(-1, block)
    sfd = os.open(snap, os.O_RDONLY | os.O_DIRECT)
    dfd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    ssum, dsum = hashlib.sha256(), hashlib.sha256()
    bad, first = 0, -1
    for b in range(size // block):
        off = b * block
        read_block(sfd, sbuf, off, snap)
        read_block(dfd, dbuf, off, dev)
        ssum.update(sbuf)
        dsum.update(dbuf)
        # Slices of an mmap are bytes, whose comparison is one memcmp.
        if dbuf[:PIECE] != piece(tag, b) or dbuf[PIECE:] != sbuf[PIECE:]:
            bad += 1
            if first < 0:
                first = off
    os.close(sfd)
    os.close(dfd)
    print(f"{ssum.hexdigest()} {dsum.hexdigest()} {bad} {first}")


def main():
    args = sys.argv[1:]
    try:
        if len(args) == 5 and args[0] == "write":
            block, size, tag = int(args[2]), int(args[3]), int(args[4])
            run = lambda: write(args[1], block, size, tag)
        elif len(args) == 6 and args[0] == "verify":
            block, size, tag = int(args[3]), int(args[4]), int(args[5])
            run = lambda: verify(args[1], args[2], block, size, tag)
        else:
            raise ValueError
        if block < PIECE or block % PIECE or size % block:
            raise ValueError
    except ValueError:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        run()
    except OSError as e:
        print(f"bench-thin.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
