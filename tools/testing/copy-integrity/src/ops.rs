// SPDX-License-Identifier: GPL-2.0

//! Operations, their text form (one per line), the rules that make them valid, and the random
//! generator.

use std::fmt;

use blkcopy::range::Range;
use blkcopy::sys::{BLKCOPY_MAX_BYTES, BLKCOPY_MAX_RANGES};

use crate::model::Region;
use crate::rng::Rng;

/// What an op must return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Success, everything copied.
    Ok,
    /// Exactly this errno, and no change.
    Errno(i32),
    /// copy_file_range() returns exactly this, and nothing changes.
    Returns(u64),
}

/// One operation; offsets are bytes on the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// O_DIRECT write of stamps of generation `gen`.
    Write { off: u64, len: u64, gen: u64 },
    /// O_DIRECT read, compared with the model.
    Read { off: u64, len: u64 },
    /// BLKDISCARD; afterwards each block holds zeroes or what it held.
    Discard { off: u64, len: u64 },
    /// One BLKCOPY call.
    Blkcopy {
        ranges: Vec<Range>,
        offload_only: bool,
        expect: Expect,
    },
    /// copy_file_range() within the device.
    Cfr {
        src: u64,
        dst: u64,
        len: u64,
        expect: Expect,
    },
}

impl Op {
    /// Whether the op is one of the deliberately invalid ones.
    #[cfg(test)]
    pub fn is_invalid(&self) -> bool {
        matches!(
            self,
            Op::Blkcopy { expect, .. } | Op::Cfr { expect, .. } if *expect != Expect::Ok
        )
    }
}

fn errno_name(e: i32) -> String {
    match e {
        libc::EINVAL => "EINVAL".into(),
        libc::ENOSPC => "ENOSPC".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        e => format!("errno{e}"),
    }
}

fn parse_expect(text: &str) -> Result<Expect, String> {
    Ok(match text {
        "EINVAL" => Expect::Errno(libc::EINVAL),
        "ENOSPC" => Expect::Errno(libc::ENOSPC),
        "EOPNOTSUPP" => Expect::Errno(libc::EOPNOTSUPP),
        t => match t.strip_prefix("errno") {
            Some(n) => Expect::Errno(n.parse().map_err(|_| format!("bad errno '{t}'"))?),
            None => Expect::Returns(t.parse().map_err(|_| format!("bad expect '{t}'"))?),
        },
    })
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Ok => write!(f, "ok"),
            Expect::Errno(e) => write!(f, "{}", errno_name(*e)),
            Expect::Returns(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Write { off, len, gen } => write!(f, "write {off} {len} {gen}"),
            Op::Read { off, len } => write!(f, "read {off} {len}"),
            Op::Discard { off, len } => write!(f, "discard {off} {len}"),
            Op::Blkcopy {
                ranges,
                offload_only,
                expect,
            } => {
                write!(f, "blkcopy")?;
                if *offload_only {
                    write!(f, " offload-only")?;
                }
                if *expect != Expect::Ok {
                    write!(f, " expect={expect}")?;
                }
                for r in ranges {
                    write!(f, " {}:{}:{}", r.src, r.dst, r.len)?;
                }
                Ok(())
            }
            Op::Cfr {
                src,
                dst,
                len,
                expect,
            } => {
                write!(f, "cfr {src} {dst} {len}")?;
                if *expect != Expect::Ok {
                    write!(f, " expect={expect}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for Op {
    type Err = String;

    fn from_str(line: &str) -> Result<Op, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> Result<u64, String> {
            let w = words
                .get(i)
                .ok_or_else(|| format!("'{line}': too few fields"))?;
            w.parse().map_err(|_| format!("'{line}': bad number '{w}'"))
        };
        let mut expect = Expect::Ok;
        let mut rest = Vec::new();
        for w in words.iter().skip(1) {
            match w.strip_prefix("expect=") {
                Some(e) => expect = parse_expect(e)?,
                None => rest.push(*w),
            }
        }
        Ok(match words.first().copied() {
            Some("write") => Op::Write {
                off: num(1)?,
                len: num(2)?,
                gen: num(3)?,
            },
            Some("read") => Op::Read {
                off: num(1)?,
                len: num(2)?,
            },
            Some("discard") => Op::Discard {
                off: num(1)?,
                len: num(2)?,
            },
            Some("cfr") => Op::Cfr {
                src: num(1)?,
                dst: num(2)?,
                len: num(3)?,
                expect,
            },
            Some("blkcopy") => {
                let offload_only = rest.first() == Some(&"offload-only");
                let mut ranges = Vec::new();
                for r in &rest[usize::from(offload_only)..] {
                    let n: Vec<u64> = r
                        .split(':')
                        .map(|x| x.parse().map_err(|_| format!("'{line}': bad range '{r}'")))
                        .collect::<Result<_, _>>()?;
                    let [src, dst, len] = n[..] else {
                        return Err(format!("'{line}': bad range '{r}'"));
                    };
                    ranges.push(Range { src, dst, len });
                }
                Op::Blkcopy {
                    ranges,
                    offload_only,
                    expect,
                }
            }
            _ => return Err(format!("unknown op '{line}'")),
        })
    }
}

/// Whether `[a, a + alen)` and `[b, b + blen)` share a byte.
pub fn overlaps(a: u64, alen: u64, b: u64, blen: u64) -> bool {
    a < b.saturating_add(blen) && b < a.saturating_add(alen)
}

/// The errno BLKCOPY must fail with for `ranges` on a device of `size` bytes with logical
/// blocks of `bs` bytes, before copying anything; None when the ranges are valid
/// (include/uapi/linux/blk-copy.h).
pub fn blkcopy_error(ranges: &[Range], bs: u64, size: u64) -> Option<i32> {
    let bad = ranges.is_empty()
        || ranges.len() > BLKCOPY_MAX_RANGES
        || ranges.iter().map(|r| u128::from(r.len)).sum::<u128>() > u128::from(BLKCOPY_MAX_BYTES)
        || ranges.iter().any(|r| {
            r.len == 0
                || !(r.src | r.dst | r.len).is_multiple_of(bs)
                || r.src.checked_add(r.len).is_none_or(|e| e > size)
                || r.dst.checked_add(r.len).is_none_or(|e| e > size)
        })
        || ranges.iter().enumerate().any(|(i, d)| {
            ranges[i + 1..]
                .iter()
                .any(|o| overlaps(d.dst, d.len, o.dst, o.len))
                || ranges.iter().any(|s| overlaps(d.dst, d.len, s.src, s.len))
        });
    bad.then_some(libc::EINVAL)
}

/// What copy_file_range() of `len` bytes from `src` to `dst` within one block device of `size`
/// bytes, opened with O_DIRECT, does: the bytes it copies, or its errno (the VFS shortens the
/// copy to the end of the source and refuses overlap; block/copy/file_range.rs refuses a
/// destination at the end, shortens one running past it, and refuses misalignment).
pub fn cfr_outcome(src: u64, dst: u64, len: u64, bs: u64, size: u64) -> Result<u64, i32> {
    let mut count = if src >= size { 0 } else { len.min(size - src) };
    if overlaps(src, count, dst, count) {
        return Err(libc::EINVAL);
    }
    if count == 0 {
        return Ok(0);
    }
    if dst >= size {
        return Err(libc::ENOSPC);
    }
    count = count.min(size - dst).min(BLKCOPY_MAX_BYTES);
    if !(src | dst | count).is_multiple_of(bs) {
        return Err(libc::EINVAL);
    }
    Ok(count)
}

/// Relative weights of the kinds of op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    pub blkcopy: u64,
    pub cfr: u64,
    pub read: u64,
    pub write: u64,
    pub discard: u64,
    pub invalid: u64,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            blkcopy: 30,
            cfr: 15,
            read: 10,
            write: 30,
            discard: 5,
            invalid: 10,
        }
    }
}

impl std::str::FromStr for Mix {
    type Err = String;

    /// `blkcopy=W,cfr=W,...`; kinds not named get weight 0.
    fn from_str(text: &str) -> Result<Mix, String> {
        let mut mix = Mix {
            blkcopy: 0,
            cfr: 0,
            read: 0,
            write: 0,
            discard: 0,
            invalid: 0,
        };
        for item in text.split(',') {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}' is not KIND=WEIGHT"))?;
            let w = value.parse().map_err(|_| format!("bad weight '{value}'"))?;
            *match key {
                "blkcopy" => &mut mix.blkcopy,
                "cfr" | "copy_file_range" => &mut mix.cfr,
                "read" => &mut mix.read,
                "write" => &mut mix.write,
                "discard" => &mut mix.discard,
                "invalid" => &mut mix.invalid,
                k => return Err(format!("unknown kind '{k}'")),
            } = w;
        }
        Ok(mix)
    }
}

/// What the generator needs to know about the device and the run.
#[derive(Clone, Debug)]
pub struct GenConfig {
    pub region: Region,
    pub bs: u64,
    /// Size of the whole device, for ops past its end.
    pub dev_size: u64,
    pub max_len: u64,
    pub max_ranges: usize,
    pub mix: Mix,
    /// Whether the device follows the block device rules (BLKCOPY, O_DIRECT alignment,
    /// ENOSPC); a regular file only gets reads, writes and copy_file_range().
    pub block_rules: bool,
}

/// Generates random ops inside a region.
pub struct Generator {
    cfg: GenConfig,
    rng: Rng,
}

impl Generator {
    /// A generator for `cfg`, determined by `seed`.
    pub fn new(cfg: GenConfig, seed: u64) -> Self {
        Generator {
            cfg,
            rng: Rng::new(seed),
        }
    }

    /// The random stream, for callers that make further choices (race mode).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// A random extent of at most `max` bytes inside the region: `(offset, length)`.
    pub fn extent(&mut self, max: u64) -> (u64, u64) {
        let (bs, region) = (self.cfg.bs, self.cfg.region);
        let max_blocks = (max.min(region.len) / bs).max(1);
        let blocks = if self.rng.chance(50) {
            self.rng.range(1, max_blocks.min(8))
        } else {
            self.rng.range(1, max_blocks)
        };
        (self.place(blocks * bs), blocks * bs)
    }

    /// A random offset at which `len` bytes (at most the region) fit in the region.
    pub fn place(&mut self, len: u64) -> u64 {
        let (bs, region) = (self.cfg.bs, self.cfg.region);
        region.start + self.rng.below((region.len - len) / bs + 1) * bs
    }

    /// Up to `n` valid copy ranges (at least one, unless the region is too small).
    fn copy_ranges(&mut self, n: usize) -> Vec<Range> {
        let max = self
            .cfg
            .max_len
            .min(self.cfg.region.len / 4)
            .max(self.cfg.bs);
        let mut ranges: Vec<Range> = Vec::new();
        'next: while ranges.len() < n {
            for _ in 0..20 {
                let (src, len) = self.extent(max);
                let dst = self.place(len);
                let r = Range { src, dst, len };
                let mut all = ranges.clone();
                all.push(r);
                if blkcopy_error(&all, self.cfg.bs, self.cfg.dev_size).is_none() {
                    ranges = all;
                    continue 'next;
                }
            }
            break;
        }
        ranges
    }

    /// The next op, numbered `number` (which becomes the generation of a write).
    pub fn next_op(&mut self, number: u64) -> Op {
        let m = self.cfg.mix;
        let block = self.cfg.block_rules;
        let weights = [
            if block { m.blkcopy } else { 0 },
            m.cfr,
            m.read,
            m.write,
            if block { m.discard } else { 0 },
            m.invalid,
        ];
        let mut pick = self.rng.below(weights.iter().sum::<u64>().max(1));
        let kind = weights
            .iter()
            .position(|&w| {
                let hit = pick < w;
                pick = pick.saturating_sub(w);
                hit
            })
            .unwrap_or(3);
        let op = match kind {
            0 => self.blkcopy(),
            1 => self.cfr(),
            2 => {
                let (off, len) = self.extent(self.cfg.max_len);
                Some(Op::Read { off, len })
            }
            4 => {
                let (off, len) = self.extent(self.cfg.max_len);
                Some(Op::Discard { off, len })
            }
            5 => self.invalid(),
            _ => None,
        };
        op.unwrap_or_else(|| {
            let (off, len) = self.extent(self.cfg.max_len);
            Op::Write {
                off,
                len,
                gen: number,
            }
        })
    }

    /// A valid BLKCOPY, sometimes offload-only.
    pub fn blkcopy(&mut self) -> Option<Op> {
        let n = self.rng.range(1, self.cfg.max_ranges as u64) as usize;
        let ranges = self.copy_ranges(n);
        (!ranges.is_empty()).then(|| Op::Blkcopy {
            ranges,
            offload_only: self.rng.chance(25),
            expect: Expect::Ok,
        })
    }

    /// A valid copy_file_range().
    pub fn cfr(&mut self) -> Option<Op> {
        let r = *self.copy_ranges(1).first()?;
        Some(Op::Cfr {
            src: r.src,
            dst: r.dst,
            len: r.len,
            expect: Expect::Ok,
        })
    }

    /// A deliberately invalid copy, whose outcome is exact.
    fn invalid(&mut self) -> Option<Op> {
        let (bs, size) = (self.cfg.bs, self.cfg.dev_size);
        let kinds = if self.cfg.block_rules { 11 } else { 2 };
        let kind = self.rng.below(kinds);
        let n = self.rng.range(1, 3) as usize;
        let valid = self.copy_ranges(n);
        let r = *valid.first()?;
        // The outcome comes from the rules, so that a case that happens to be valid (say a
        // longer range that the end of the device shortens) is dropped, not mis-expected.
        let cfr = |src: u64, dst: u64, len: u64| {
            let expect = match cfr_outcome(src, dst, len, bs, size) {
                Ok(0) => Expect::Returns(0),
                Ok(_) => return None,
                Err(e) => Expect::Errno(e),
            };
            Some(Op::Cfr {
                src,
                dst,
                len,
                expect,
            })
        };
        let blkcopy = |ranges: Vec<Range>, offload_only| {
            let e = blkcopy_error(&ranges, bs, size)?;
            Some(Op::Blkcopy {
                ranges,
                offload_only,
                expect: Expect::Errno(e),
            })
        };
        let offload_only = self.rng.chance(25);
        match kind {
            // copy_file_range(): overlap, zero length, misalignment, past the end.
            0 => cfr(r.src, r.src + self.rng.below(r.len / bs) * bs, r.len),
            1 => cfr(r.src, r.dst, 0),
            2 => cfr(r.src + bs / 2, r.dst, r.len),
            3 => cfr(r.src, r.dst, r.len + bs / 2),
            4 => cfr(size + self.rng.below(4) * bs, r.dst, r.len),
            5 => cfr(r.src, size + self.rng.below(4) * bs, r.len),
            // BLKCOPY: valid ranges followed by a bad one.
            6..=9 => {
                let mut bad = r;
                match (kind, self.rng.below(4)) {
                    (6, _) => bad.dst = r.src + self.rng.below(r.len / bs) * bs,
                    (7, 0) => bad.src += bs / 2,
                    (7, 1) => bad.dst += bs / 2,
                    (7, 2) => bad.len += bs / 2,
                    (7, _) => bad.len = 0,
                    (8, 0) => bad.src = size - bs,
                    (8, 1) => bad.dst = size,
                    (8, _) => bad.src = u64::MAX / bs * bs,
                    // A second destination overlapping the first.
                    _ => bad.src = r.src,
                }
                if kind == 8 {
                    bad.len = bad.len.max(2 * bs);
                }
                let mut ranges = valid;
                ranges.push(bad);
                blkcopy(ranges, offload_only)
            }
            // No ranges at all.
            10 if self.rng.chance(50) => blkcopy(Vec::new(), offload_only),
            // BLKCOPY_MAX_RANGES + 1 single blocks, all from the first block of the region.
            _ => {
                let start = self.cfg.region.start;
                let ranges = (1..=BLKCOPY_MAX_RANGES as u64 + 1)
                    .map(|k| Range {
                        src: start,
                        dst: start + k * bs,
                        len: bs,
                    })
                    .filter(|r| self.cfg.region.contains(r.dst, r.len))
                    .collect();
                blkcopy(ranges, offload_only)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(block_rules: bool) -> GenConfig {
        GenConfig {
            region: Region {
                start: 1 << 20,
                len: 4 << 20,
            },
            bs: 512,
            dev_size: 8 << 20,
            max_len: 256 << 10,
            max_ranges: 16,
            mix: Mix::default(),
            block_rules,
        }
    }

    #[test]
    fn generated_ops_follow_the_rules() {
        let cfg = config(true);
        let (bs, size, region) = (cfg.bs, cfg.dev_size, cfg.region);
        let mut gen = Generator::new(cfg, 42);
        let mut seen_invalid = 0;
        for n in 1..=5000 {
            let op = gen.next_op(n);
            match &op {
                Op::Write { off, len, gen } => {
                    assert!(region.contains(*off, *len) && *len > 0 && *gen == n)
                }
                Op::Read { off, len } | Op::Discard { off, len } => {
                    assert!(region.contains(*off, *len) && *len % bs == 0)
                }
                Op::Blkcopy { ranges, expect, .. } => {
                    let err = blkcopy_error(ranges, bs, size);
                    match expect {
                        Expect::Ok => {
                            assert_eq!(err, None, "{op}");
                            assert!(ranges.len() <= 16);
                            for r in ranges {
                                assert!(region.contains(r.src, r.len));
                                assert!(region.contains(r.dst, r.len));
                            }
                        }
                        Expect::Errno(e) => assert_eq!(err, Some(*e), "{op}"),
                        Expect::Returns(_) => panic!("{op}"),
                    }
                }
                Op::Cfr {
                    src,
                    dst,
                    len,
                    expect,
                } => {
                    let out = cfr_outcome(*src, *dst, *len, bs, size);
                    match expect {
                        Expect::Ok => {
                            assert_eq!(out, Ok(*len), "{op}");
                            assert!(region.contains(*src, *len) && region.contains(*dst, *len));
                        }
                        Expect::Errno(e) => assert_eq!(out, Err(*e), "{op}"),
                        Expect::Returns(n) => assert_eq!(out, Ok(*n), "{op}"),
                    }
                }
            }
            seen_invalid += usize::from(op.is_invalid());
            // The text form round-trips.
            assert_eq!(op.to_string().parse::<Op>(), Ok(op));
        }
        assert!(seen_invalid > 200);
    }

    #[test]
    fn regular_files_get_no_block_ops() {
        let mut gen = Generator::new(config(false), 1);
        for n in 1..=2000 {
            match gen.next_op(n) {
                Op::Blkcopy { .. } | Op::Discard { .. } => panic!("block op for a file"),
                Op::Cfr { expect, .. } => assert!(matches!(
                    expect,
                    Expect::Ok | Expect::Errno(libc::EINVAL) | Expect::Returns(0)
                )),
                _ => {}
            }
        }
    }

    #[test]
    fn rules() {
        let r = |src, dst, len| Range { src, dst, len };
        let size = 1 << 20;
        assert_eq!(blkcopy_error(&[r(0, 4096, 4096)], 4096, size), None);
        // Sources may overlap each other, destinations may not overlap anything.
        assert_eq!(
            blkcopy_error(&[r(0, 8192, 4096), r(0, 16384, 4096)], 4096, size),
            None
        );
        for bad in [
            vec![],
            vec![r(0, 4096, 8192)],
            vec![r(0, 8192, 4096), r(4096, 8192, 4096)],
            vec![r(0, 8192, 4096), r(8192, 16384, 4096)],
            vec![r(0, 4096, 512)],
            vec![r(0, 4096, 0)],
            vec![r(size - 4096, 0, 8192)],
        ] {
            assert_eq!(blkcopy_error(&bad, 4096, size), Some(libc::EINVAL));
        }
        assert_eq!(cfr_outcome(0, 4096, 4096, 512, size), Ok(4096));
        assert_eq!(cfr_outcome(0, 4096, 8192, 512, size), Err(libc::EINVAL));
        assert_eq!(cfr_outcome(size, 0, 512, 512, size), Ok(0));
        assert_eq!(cfr_outcome(0, size, 512, 512, size), Err(libc::ENOSPC));
        assert_eq!(cfr_outcome(0, size - 512, 4096, 512, size), Ok(512));
        assert_eq!(cfr_outcome(0, 4096, 0, 512, size), Ok(0));
        assert_eq!(cfr_outcome(256, 4096, 512, 512, size), Err(libc::EINVAL));
    }

    #[test]
    fn mix_parses() {
        let m: Mix = "blkcopy=3,cfr=1".parse().unwrap_or_default();
        assert_eq!((m.blkcopy, m.cfr, m.write), (3, 1, 0));
        assert!("blkcopy".parse::<Mix>().is_err());
        assert!("nope=1".parse::<Mix>().is_err());
    }
}
