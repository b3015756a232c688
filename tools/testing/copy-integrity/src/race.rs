// SPDX-License-Identifier: GPL-2.0

//! Race mode: copies racing with writes to their sources, destinations and elsewhere.
//!
//! Every block carries a unique stamp, so after each race the content of every block tells
//! which write produced it. Documentation/block/copy-offload.rst promises that each
//! destination block ends up holding its old content, a value written to it during the race,
//! or the old or racing-written value of its source block; and that nothing outside the
//! destination is written. Blocks outside the destination are held to the stricter rule that
//! they hold their latest value: only the racing writer, which waits for each write, touches
//! them.

use std::io;
use std::time::Duration;

use blkcopy::range::Range;
use blkcopy::sys::Aligned;

use crate::device::Device;
use crate::model::Region;
use crate::ops::{Generator, Op};
use crate::runner::{JobConfig, JobResult, Runner, Stats};
use crate::stamp::{self, Content, Found};

/// A racing write of stamps of generation `gen` to blocks `start..start + len` of the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockWrite {
    pub start: usize,
    pub len: usize,
    pub gen: u64,
}

/// A copy of `len` blocks from block `src` to block `dst` of the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockCopy {
    pub src: usize,
    pub dst: usize,
    pub len: usize,
}

/// A block whose content after a race is not allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub block: usize,
    pub found: Found,
    pub allowed: Vec<Content>,
}

/// What the racing writes put into block `b`, in order; `first` is the device block of
/// block 0.
fn written(writes: &[BlockWrite], b: usize, first: u64) -> impl Iterator<Item = Content> + '_ {
    writes
        .iter()
        .filter(move |w| (w.start..w.start + w.len).contains(&b))
        .map(move |w| Content::Stamp {
            origin: first + b as u64,
            gen: w.gen,
        })
}

/// The values block `b` may hold after `copies` raced with `writes`, given the `old` content
/// of the region.
pub fn allowed(
    old: &[Content],
    first: u64,
    copies: &[BlockCopy],
    writes: &[BlockWrite],
    b: usize,
) -> Vec<Content> {
    let source = copies
        .iter()
        .find(|c| (c.dst..c.dst + c.len).contains(&b))
        .map(|c| c.src + (b - c.dst));
    match source {
        Some(s) => {
            let mut values = vec![old[b], old[s]];
            values.extend(written(writes, b, first));
            values.extend(written(writes, s, first));
            values
        }
        None => vec![written(writes, b, first).last().unwrap_or(old[b])],
    }
}

/// Checks the blocks `found` after a race against the documented semantics.
pub fn check(
    old: &[Content],
    first: u64,
    copies: &[BlockCopy],
    writes: &[BlockWrite],
    found: &[(usize, Found)],
) -> Vec<Violation> {
    found
        .iter()
        .filter_map(|&(block, f)| {
            let allowed = allowed(old, first, copies, writes, block);
            let ok = matches!(f, Found::Known(c) if allowed.contains(&c));
            (!ok).then_some(Violation {
                block,
                found: f,
                allowed,
            })
        })
        .collect()
}

/// Blocks to read after a race: the destinations with a block of margin on each side, and
/// every written block; sorted, without duplicates.
fn blocks_to_check(n: usize, copies: &[BlockCopy], writes: &[BlockWrite]) -> Vec<usize> {
    let mut blocks: Vec<usize> = copies
        .iter()
        .flat_map(|c| c.dst.saturating_sub(1)..(c.dst + c.len + 1).min(n))
        .chain(writes.iter().flat_map(|w| w.start..w.start + w.len))
        .collect();
    blocks.sort_unstable();
    blocks.dedup();
    blocks
}

/// Reads the region's `blocks` (sorted), in runs of contiguous blocks, and identifies each.
fn read_blocks(
    runner: &Runner,
    blocks: &[usize],
    found: &mut Vec<(usize, Found)>,
) -> io::Result<()> {
    let bs = runner.model.block_size() as usize;
    let per_read = crate::runner::CHUNK as usize / bs;
    let mut buf = Aligned::new(per_read * bs);
    let mut scratch = vec![0; bs];
    let start = runner.model.region().start;
    let mut rest = blocks;
    while let Some(&first) = rest.first() {
        let run = rest
            .iter()
            .enumerate()
            .take_while(|&(k, &b)| b == first + k && k < per_read)
            .count();
        let bytes = &mut buf.as_mut_slice()[..run * bs];
        runner.dev.read_at(bytes, start + (first * bs) as u64)?;
        for (k, block) in bytes.chunks(bs).enumerate() {
            found.push((first + k, stamp::decode(block, runner.seed, &mut scratch)));
        }
        rest = &rest[run..];
    }
    Ok(())
}

/// Runs a copy op to completion (a short copy_file_range() continues); returns the bytes
/// copied per range, or a description of what went wrong.
fn run_copy(runner: &Runner, op: &Op) -> Result<(Vec<u64>, bool), String> {
    match op {
        Op::Blkcopy {
            ranges,
            offload_only,
            ..
        } => {
            let out = runner.dev.blkcopy(ranges, *offload_only);
            match out.error {
                Some(e)
                    if *offload_only
                        && !runner.caps.can_offload
                        && e.raw_os_error() == Some(libc::EOPNOTSUPP) =>
                {
                    Ok((out.copied, false))
                }
                Some(e) => Err(format!("BLKCOPY failed: {e}")),
                None if ranges.iter().zip(&out.copied).any(|(r, &c)| c != r.len) => {
                    Err(format!("BLKCOPY copied {:?}", out.copied))
                }
                None => Ok((out.copied, out.offloaded)),
            }
        }
        Op::Cfr { src, dst, len, .. } => {
            let mut done = 0;
            while done < *len {
                match runner
                    .dev
                    .copy_file_range(src + done, dst + done, len - done)
                {
                    Ok(n) if n > 0 && n <= len - done => done += n,
                    Ok(n) => return Err(format!("copy_file_range returned {n} after {done}")),
                    Err(e) => return Err(format!("copy_file_range failed: {e}")),
                }
            }
            Ok((vec![done], false))
        }
        _ => Ok((Vec::new(), false)),
    }
}

/// The racing writer: performs `writes` with a small delay before each.
fn write_all(
    dev: &dyn Device,
    region: Region,
    seed: u64,
    writes: &[(BlockWrite, u64)],
) -> io::Result<()> {
    let bs = dev.block_size();
    let most = writes.iter().map(|(w, _)| w.len).max().unwrap_or(1);
    let mut buf = Aligned::new(most * bs as usize);
    let first = region.start / bs;
    for &(w, delay_us) in writes {
        std::thread::sleep(Duration::from_micros(delay_us));
        let bytes = &mut buf.as_mut_slice()[..w.len * bs as usize];
        let contents = (0..w.len).map(|k| Content::Stamp {
            origin: first + (w.start + k) as u64,
            gen: w.gen,
        });
        stamp::fill_blocks(bytes, bs as usize, contents, seed);
        dev.write_at(bytes, region.start + w.start as u64 * bs)?;
    }
    Ok(())
}

/// Runs races on the job's region until the limits or the first finding.
pub fn run_race_job(dev: &dyn Device, cfg: &JobConfig) -> JobResult {
    let region = cfg.gen.region;
    let bs = dev.block_size();
    let mut runner = Runner::new(dev, region, cfg.seed);
    let mut gen = Generator::new(cfg.gen.clone(), cfg.seed);
    let mut result = JobResult::default();
    let mut stats = Stats::default();
    let mut race = |runner: &mut Runner, n: u64| -> Result<u64, crate::runner::Finding> {
        let use_blkcopy = cfg.gen.block_rules && gen.rng().chance(60);
        let op = if use_blkcopy {
            gen.blkcopy()
        } else {
            gen.cfr()
        };
        let Some(op) = op else { return Ok(1) };
        let ranges: Vec<Range> = match &op {
            Op::Blkcopy { ranges, .. } => ranges.clone(),
            Op::Cfr { src, dst, len, .. } => vec![Range {
                src: *src,
                dst: *dst,
                len: *len,
            }],
            _ => Vec::new(),
        };
        let idx = |off: u64| ((off - region.start) / bs) as usize;
        let copies: Vec<BlockCopy> = ranges
            .iter()
            .map(|r| BlockCopy {
                src: idx(r.src),
                dst: idx(r.dst),
                len: (r.len / bs) as usize,
            })
            .collect();
        // Writes into sources, destinations and anywhere, each a few blocks.
        let nblocks = runner.model.blocks();
        let nwrites = gen.rng().range(1, 6);
        let mut writes = Vec::new();
        for k in 0..nwrites {
            let rng = gen.rng();
            let c = copies[rng.below(copies.len() as u64) as usize];
            let len = rng.range(1, 8) as usize;
            let start = match rng.below(5) {
                0 | 1 => c.src + rng.below(c.len as u64) as usize,
                2 | 3 => c.dst + rng.below(c.len as u64) as usize,
                _ => rng.below(nblocks as u64) as usize,
            };
            let start = start.min(nblocks - 1);
            let w = BlockWrite {
                start,
                len: len.min(nblocks - start),
                gen: n + 1 + k,
            };
            writes.push((w, rng.below(100)));
        }
        result.ops.push(op.clone());
        for (w, _) in &writes {
            let off = region.start + w.start as u64 * bs;
            result.ops.push(Op::Write {
                off,
                len: w.len as u64 * bs,
                gen: w.gen,
            });
        }
        let old: Vec<Content> = (0..nblocks).map(|i| runner.model.get(i)).collect();
        let (copied, written) = std::thread::scope(|s| {
            let writer = s.spawn(|| write_all(dev, region, cfg.seed, &writes));
            let copied = run_copy(runner, &op);
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("writer panicked")));
            (copied, written)
        });
        let what = crate::runner::short(&op);
        let fail = |message: String| crate::runner::Finding {
            op: n,
            mismatch: false,
            message: format!("op #{n} ({what}, racing): {message}"),
        };
        let (copied, offloaded) = copied.map_err(fail)?;
        written.map_err(|e| fail(format!("racing write failed: {e}")))?;
        stats.races += 1;
        stats.ops += 1 + nwrites;
        stats.writes += nwrites;
        stats.bytes_copied += copied.iter().sum::<u64>();
        match op {
            Op::Blkcopy { .. } => {
                stats.blkcopy += 1;
                stats.offloaded += u64::from(offloaded);
            }
            _ => stats.cfr += 1,
        }
        // Read back what the race may have touched, check it, and adopt it.
        let block_writes: Vec<BlockWrite> = writes.iter().map(|(w, _)| *w).collect();
        let mut found = Vec::new();
        read_blocks(
            runner,
            &blocks_to_check(nblocks, &copies, &block_writes),
            &mut found,
        )
        .map_err(|e| fail(format!("read failed: {e}")))?;
        let first = region.start / bs;
        for &(b, f) in &found {
            if let Found::Known(c) = f {
                runner.model.set(b, c, n);
            }
        }
        let bad = check(&old, first, &copies, &block_writes, &found);
        if let Some(v) = bad.first() {
            let allowed: Vec<String> = v.allowed.iter().map(|&c| stamp::describe(c)).collect();
            return Err(crate::runner::Finding {
                op: n,
                mismatch: true,
                message: format!(
                    "op #{n} ({what}, racing with {nwrites} writes): {} bad blocks; block {} \
                     holds {}, allowed: {}",
                    bad.len(),
                    first + v.block as u64,
                    stamp::describe_found(v.found),
                    allowed.join(" | ")
                ),
            });
        }
        Ok(1 + nwrites)
    };
    let mut run = |runner: &mut Runner| -> Result<(), crate::runner::Finding> {
        runner.init()?;
        let mut n = 1;
        let mut next_verify = cfg.verify_every;
        while cfg.more(n) {
            n += race(runner, n)?;
            if cfg.verify_every > 0 && n > next_verify {
                runner.verify_all(n - 1)?;
                next_verify += cfg.verify_every;
            }
        }
        runner.verify_all(n - 1)
    };
    result.finding = run(&mut runner).err();
    stats += runner.stats;
    result.stats = stats;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{Fault, MemDevice};
    use crate::ops::GenConfig;

    fn stamp(origin: u64, gen: u64) -> Content {
        Content::Stamp { origin, gen }
    }

    #[test]
    fn checker_follows_the_documented_semantics() {
        // Blocks 0..8 of a region starting at device block 100, each with its initial pattern.
        let old: Vec<Content> = (0..8).map(|b| stamp(100 + b, 0)).collect();
        let copies = [BlockCopy {
            src: 0,
            dst: 4,
            len: 2,
        }];
        let writes = [
            BlockWrite {
                start: 0,
                len: 1,
                gen: 7,
            },
            BlockWrite {
                start: 5,
                len: 2,
                gen: 8,
            },
        ];
        let ok = |b, c| check(&old, 100, &copies, &writes, &[(b, Found::Known(c))]).is_empty();
        // Destination: old, its racing write, its source's old or racing-written value.
        assert!(ok(4, stamp(104, 0)));
        assert!(ok(4, stamp(100, 0)));
        assert!(ok(4, stamp(100, 7)));
        assert!(ok(5, stamp(105, 8)));
        assert!(ok(5, stamp(101, 0)));
        assert!(!ok(4, stamp(101, 0)), "another source block's value");
        assert!(!ok(4, Content::Zero));
        // Outside the destination: the latest value only.
        assert!(ok(0, stamp(100, 7)));
        assert!(!ok(0, stamp(100, 0)), "a racing write was lost");
        assert!(ok(2, stamp(102, 0)));
        assert!(
            !ok(3, stamp(100, 0)),
            "copied data leaked before the destination"
        );
        assert!(ok(6, stamp(106, 8)));
        assert!(
            !ok(6, stamp(102, 0)),
            "copied data leaked after the destination"
        );
        let unknown = Found::Unknown { origin: 0, gen: 0 };
        assert_eq!(check(&old, 100, &copies, &writes, &[(4, unknown)]).len(), 1);
        assert_eq!(blocks_to_check(8, &copies, &writes), vec![0, 3, 4, 5, 6]);
    }

    fn config(ops: u64) -> JobConfig {
        let region = Region {
            start: 64 << 10,
            len: 2 << 20,
        };
        JobConfig {
            gen: GenConfig {
                region,
                bs: 512,
                dev_size: 4 << 20,
                max_len: 32 << 10,
                max_ranges: 4,
                mix: Default::default(),
                block_rules: true,
            },
            seed: 11,
            ops: Some(ops),
            deadline: None,
            verify_every: 40,
            faults: false,
        }
    }

    #[test]
    fn races_pass_on_a_correct_device() {
        let dev = MemDevice::new(4 << 20, 512, false, Fault::None);
        let run = run_race_job(&dev, &config(300));
        assert_eq!(run.finding, None);
        assert!(run.stats.races > 20 && run.stats.blkcopy > 0 && run.stats.cfr > 0);
    }

    #[test]
    fn races_catch_a_leak() {
        let dev = MemDevice::new(4 << 20, 512, true, Fault::LeakPastEnd);
        let run = run_race_job(&dev, &config(300));
        let finding = run.finding.expect("the leak is found");
        assert!(
            finding.mismatch && finding.message.contains("racing"),
            "{finding:?}"
        );
    }
}
