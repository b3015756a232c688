// SPDX-License-Identifier: GPL-2.0

//! The in-memory model of a region: what each logical block should hold, and which op last
//! changed it.

use crate::stamp::Content;

/// A byte range of the device that a job works on, in whole logical blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Offset on the device in bytes.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

impl Region {
    /// The end offset (exclusive).
    pub fn end(&self) -> u64 {
        self.start + self.len
    }

    /// Whether `len` bytes at `off` lie inside the region.
    pub fn contains(&self, off: u64, len: u64) -> bool {
        off >= self.start && off.checked_add(len).is_some_and(|end| end <= self.end())
    }

    /// Splits the region into `n` parts of whole blocks of `bs` bytes (the last takes the rest).
    pub fn split(&self, n: u64, bs: u64) -> Vec<Region> {
        let part = self.len / n / bs * bs;
        (0..n)
            .map(|i| Region {
                start: self.start + i * part,
                len: if i + 1 == n {
                    self.len - i * part
                } else {
                    part
                },
            })
            .collect()
    }
}

/// The expected content of a region, block by block.
#[derive(Clone, Debug)]
pub struct Model {
    region: Region,
    bs: u64,
    blocks: Vec<Content>,
    /// Number of the op that last changed each block (0: the initial pattern).
    last: Vec<u64>,
}

impl Model {
    /// The model of `region` holding the initial pattern (generation 0 in every block).
    pub fn new(region: Region, bs: u64) -> Self {
        let first = region.start / bs;
        let n = (region.len / bs) as usize;
        Model {
            region,
            bs,
            blocks: (0..n as u64)
                .map(|i| Content::Stamp {
                    origin: first + i,
                    gen: 0,
                })
                .collect(),
            last: vec![0; n],
        }
    }

    /// The region modelled.
    pub fn region(&self) -> Region {
        self.region
    }

    /// The logical block size.
    pub fn block_size(&self) -> u64 {
        self.bs
    }

    /// Number of blocks.
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Index in the region of the block at device offset `off`.
    pub fn index(&self, off: u64) -> usize {
        ((off - self.region.start) / self.bs) as usize
    }

    /// Device block number of the region's block `i`.
    pub fn device_block(&self, i: usize) -> u64 {
        self.region.start / self.bs + i as u64
    }

    /// Content of block `i`.
    pub fn get(&self, i: usize) -> Content {
        self.blocks[i]
    }

    /// The op that last changed block `i`.
    pub fn last_op(&self, i: usize) -> u64 {
        self.last[i]
    }

    /// The blocks of `len` bytes at device offset `off`.
    pub fn contents(&self, off: u64, len: u64) -> &[Content] {
        let i = self.index(off);
        &self.blocks[i..i + (len / self.bs) as usize]
    }

    /// Sets block `i` to `content`, changed by op `op`.
    pub fn set(&mut self, i: usize, content: Content, op: u64) {
        if self.blocks[i] != content {
            self.blocks[i] = content;
            self.last[i] = op;
        }
    }

    /// The stamps op `gen` writes to `len` bytes at `off`.
    pub fn write_contents(&self, off: u64, len: u64, gen: u64) -> Vec<Content> {
        (0..len / self.bs)
            .map(|k| Content::Stamp {
                origin: off / self.bs + k,
                gen,
            })
            .collect()
    }

    /// Records write `gen` (op `gen`) of `len` bytes at `off`.
    pub fn write(&mut self, off: u64, len: u64, gen: u64) {
        let first = self.index(off);
        for (k, c) in self.write_contents(off, len, gen).into_iter().enumerate() {
            self.set(first + k, c, gen);
        }
    }

    /// Records a copy by op `op` of ranges `(src, dst, len)` of which the first `copied` bytes
    /// each were copied. Sources are read before any destination is written, which is what the
    /// device does: no destination overlaps a source.
    pub fn copy(&mut self, ranges: &[(u64, u64, u64)], copied: &[u64], op: u64) {
        let data: Vec<Vec<Content>> = ranges
            .iter()
            .zip(copied)
            .map(|(&(src, _, len), &done)| {
                self.contents(src, done.min(len) / self.bs * self.bs)
                    .to_vec()
            })
            .collect();
        for (&(_, dst, _), blocks) in ranges.iter().zip(data) {
            let first = self.index(dst);
            for (k, c) in blocks.into_iter().enumerate() {
                self.set(first + k, c, op);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_copies() {
        let region = Region {
            start: 4096,
            len: 8 * 512,
        };
        let mut m = Model::new(region, 512);
        assert_eq!(m.get(0), Content::Stamp { origin: 8, gen: 0 });
        m.write(4096 + 512, 1024, 5);
        assert_eq!(m.get(2), Content::Stamp { origin: 10, gen: 5 });
        assert_eq!(m.last_op(2), 5);
        // Two ranges from overlapping sources; the second only half copied.
        m.copy(
            &[(4096, 4096 + 2048, 1024), (4096 + 512, 4096 + 3072, 1024)],
            &[1024, 512],
            6,
        );
        assert_eq!(m.get(4), m.get(0));
        assert_eq!(m.get(5), Content::Stamp { origin: 9, gen: 5 });
        assert_eq!(m.get(6), Content::Stamp { origin: 9, gen: 5 });
        assert_eq!(m.get(7), Content::Stamp { origin: 15, gen: 0 });
        assert_eq!(m.last_op(6), 6);
        assert_eq!(m.last_op(7), 0);
        assert!(region.contains(4096, 4096) && !region.contains(4096, 4097));
        let parts = region.split(3, 512);
        assert_eq!(parts.iter().map(|r| r.len).sum::<u64>(), region.len);
        assert_eq!(parts[1].start, parts[0].end());
    }
}
