// SPDX-License-Identifier: GPL-2.0

//! Executes ops against a device and its model, and checks the device against the model.

use std::io;
use std::time::Instant;

use blkcopy::sys::Aligned;

use crate::device::{Caps, Device};
use crate::model::{Model, Region};
use crate::ops::{Expect, GenConfig, Generator, Op};
use crate::stamp::{self, Content, Found};

/// Bytes moved per read or write call.
pub const CHUNK: u64 = 1 << 20;

/// Counters for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub ops: u64,
    pub blkcopy: u64,
    pub offloaded: u64,
    pub cfr: u64,
    pub short_cfr: u64,
    pub reads: u64,
    pub writes: u64,
    pub discards: u64,
    pub invalid: u64,
    pub bytes_copied: u64,
    pub races: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.ops += o.ops;
        self.blkcopy += o.blkcopy;
        self.offloaded += o.offloaded;
        self.cfr += o.cfr;
        self.short_cfr += o.short_cfr;
        self.reads += o.reads;
        self.writes += o.writes;
        self.discards += o.discards;
        self.invalid += o.invalid;
        self.bytes_copied += o.bytes_copied;
        self.races += o.races;
    }
}

/// Something the device did wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Number of the op (1-based) it showed up in; 0 while writing the initial pattern.
    pub op: u64,
    /// A data mismatch (otherwise an unexpected errno or return value).
    pub mismatch: bool,
    pub message: String,
}

/// Shortens an op's text for a report.
pub fn short(op: &Op) -> String {
    let mut text = op.to_string();
    if text.len() > 160 {
        text.truncate(text[..160].rfind(' ').unwrap_or(160));
        text.push_str(" ...");
    }
    text
}

fn errno(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => format!("{e} (errno {n})"),
        None => e.to_string(),
    }
}

/// Runs ops on one region of a device and keeps its model.
pub struct Runner<'a> {
    pub(crate) dev: &'a dyn Device,
    pub(crate) caps: Caps,
    pub(crate) seed: u64,
    bs: u64,
    pub model: Model,
    pub stats: Stats,
    buf: Aligned,
    scratch: Vec<u8>,
}

impl<'a> Runner<'a> {
    /// A runner for `region` of `dev`, whose stamps derive from `seed`.
    pub fn new(dev: &'a dyn Device, region: Region, seed: u64) -> Self {
        let bs = dev.block_size();
        Runner {
            dev,
            caps: dev.caps(),
            seed,
            bs,
            model: Model::new(region, bs),
            stats: Stats::default(),
            buf: Aligned::new(CHUNK.max(bs) as usize),
            scratch: vec![0; bs as usize],
        }
    }

    fn error(&self, op: u64, what: &str, message: String) -> Finding {
        Finding {
            op,
            mismatch: false,
            message: format!("op #{op} ({what}): {message}"),
        }
    }

    /// Writes `contents` (whole blocks) at `off`.
    fn write_blocks(&mut self, off: u64, contents: &[Content]) -> io::Result<()> {
        let per_chunk = (self.buf.as_slice().len() as u64 / self.bs) as usize;
        for (k, part) in contents.chunks(per_chunk).enumerate() {
            let bytes = part.len() * self.bs as usize;
            let buf = &mut self.buf.as_mut_slice()[..bytes];
            stamp::fill_blocks(buf, self.bs as usize, part.iter().copied(), self.seed);
            let at = off + (k * per_chunk) as u64 * self.bs;
            self.dev.write_at(buf, at)?;
        }
        Ok(())
    }

    /// Resets the region to the initial pattern, on the device and in the model.
    pub fn init(&mut self) -> Result<(), Finding> {
        let region = self.model.region();
        self.model = Model::new(region, self.bs);
        let contents = self.model.contents(region.start, region.len).to_vec();
        self.write_blocks(region.start, &contents)
            .map_err(|e| self.error(0, "initial pattern", format!("write failed: {}", errno(&e))))
    }

    /// Reads `len` bytes at `off` and calls `each(runner, block index, found)` for every block
    /// until it returns an error.
    fn scan(
        &mut self,
        off: u64,
        len: u64,
        op: u64,
        what: &str,
        mut each: impl FnMut(&mut Self, usize, &[u8]) -> Result<(), Finding>,
    ) -> Result<(), Finding> {
        let step = self.buf.as_slice().len() as u64;
        let mut buf = std::mem::replace(&mut self.buf, Aligned::new(self.bs as usize));
        let mut result = Ok(());
        let mut done = 0;
        while done < len && result.is_ok() {
            let n = (len - done).min(step);
            let chunk = &mut buf.as_mut_slice()[..n as usize];
            if let Err(e) = self.dev.read_at(chunk, off + done) {
                result = Err(self.error(op, what, format!("read failed: {}", errno(&e))));
                break;
            }
            for (k, block) in chunk.chunks(self.bs as usize).enumerate() {
                let i = self.model.index(off + done) + k;
                result = each(self, i, block);
                if result.is_err() {
                    break;
                }
            }
            done += n;
        }
        self.buf = buf;
        result
    }

    /// Explains that block `i` holds `found` instead of what the model says.
    pub fn mismatch(&mut self, i: usize, found: &[u8], op: u64, what: &str) -> Finding {
        let expected = self.model.get(i);
        let mut want = vec![0; self.bs as usize];
        stamp::fill(&mut want, expected, self.seed);
        let first = want
            .iter()
            .zip(found)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let at = self.model.region().start + i as u64 * self.bs;
        let got = stamp::decode(found, self.seed, &mut self.scratch);
        Finding {
            op,
            mismatch: true,
            message: format!(
                "op #{op} ({what}): mismatch at offset {at} (block {}): expected {} \
                 (last changed by op #{}), found {}; first differing byte at offset {}",
                self.model.device_block(i),
                stamp::describe(expected),
                self.model.last_op(i),
                stamp::describe_found(got),
                at + first as u64,
            ),
        }
    }

    /// Compares `len` bytes at `off` (inside the region) with the model.
    pub fn verify(&mut self, off: u64, len: u64, op: u64, what: &str) -> Result<(), Finding> {
        let seed = self.seed;
        let mut want = vec![0; self.bs as usize];
        self.scan(off, len, op, what, |r, i, block| {
            stamp::fill(&mut want, r.model.get(i), seed);
            if want == block {
                Ok(())
            } else {
                Err(r.mismatch(i, block, op, what))
            }
        })
    }

    /// Compares the whole region with the model.
    pub fn verify_all(&mut self, op: u64) -> Result<(), Finding> {
        let region = self.model.region();
        self.verify(region.start, region.len, op, "full verification")
    }

    /// Verifies the part of `len` bytes at `off` that lies in the region, if any.
    fn verify_clipped(&mut self, off: u64, len: u64, op: u64, what: &str) -> Result<(), Finding> {
        let region = self.model.region();
        let start = (off.max(region.start) / self.bs) * self.bs;
        let end = off.saturating_add(len).min(region.end()).div_ceil(self.bs) * self.bs;
        if len > 0 && start < end {
            self.verify(start, end - start, op, what)?;
        }
        Ok(())
    }

    /// Checks that a deliberately invalid op ended as `expect` and changed nothing.
    fn check_invalid(
        &mut self,
        result: io::Result<u64>,
        expect: Expect,
        dsts: &[(u64, u64)],
        op: u64,
        what: &str,
    ) -> Result<(), Finding> {
        self.stats.invalid += 1;
        let ok = match (&result, expect) {
            (Err(e), Expect::Errno(n)) => e.raw_os_error() == Some(n),
            (Ok(got), Expect::Returns(n)) => *got == n,
            _ => false,
        };
        if !ok {
            let got = match result {
                Ok(n) => format!("returned {n}"),
                Err(e) => errno(&e),
            };
            return Err(self.error(op, what, format!("expected {expect}, got {got}")));
        }
        for &(dst, len) in dsts {
            self.verify_clipped(dst, len, op, what)?;
        }
        Ok(())
    }

    /// Runs op number `op` and checks its result.
    pub fn run(&mut self, op: u64, o: &Op) -> Result<(), Finding> {
        self.stats.ops += 1;
        let what = short(o);
        match *o {
            Op::Write { off, len, gen } => {
                self.stats.writes += 1;
                let contents = self.model.write_contents(off, len, gen);
                self.model.write(off, len, gen);
                self.write_blocks(off, &contents)
                    .map_err(|e| self.error(op, &what, format!("write failed: {}", errno(&e))))
            }
            Op::Read { off, len } => {
                self.stats.reads += 1;
                self.verify(off, len, op, &what)
            }
            Op::Discard { off, len } => {
                self.stats.discards += 1;
                if let Err(e) = self.dev.discard(off, len) {
                    return Err(self.error(op, &what, format!("failed: {}", errno(&e))));
                }
                // Each block holds zeroes or what it held; the model adopts which.
                let seed = self.seed;
                let mut scratch = vec![0; self.bs as usize];
                self.scan(off, len, op, &what, |r, i, block| {
                    match stamp::decode(block, seed, &mut scratch) {
                        Found::Known(Content::Zero) => r.model.set(i, Content::Zero, op),
                        Found::Known(c) if c == r.model.get(i) => {}
                        _ => return Err(r.mismatch(i, block, op, &what)),
                    }
                    Ok(())
                })
            }
            Op::Blkcopy {
                ref ranges,
                offload_only,
                expect,
            } => {
                let out = self.dev.blkcopy(ranges, offload_only);
                if expect != Expect::Ok {
                    let dsts: Vec<_> = ranges.iter().map(|r| (r.dst, r.len)).collect();
                    let copied: u64 = out.copied.iter().sum();
                    let result = match out.error {
                        Some(e) if copied == 0 => Err(e),
                        Some(e) => Err(io::Error::other(format!("{e} with {copied} copied"))),
                        None => Ok(copied),
                    };
                    return self.check_invalid(result, expect, &dsts, op, &what);
                }
                self.stats.blkcopy += 1;
                self.stats.offloaded += u64::from(out.offloaded);
                let triples: Vec<_> = ranges.iter().map(|r| (r.src, r.dst, r.len)).collect();
                self.model.copy(&triples, &out.copied, op);
                self.stats.bytes_copied += out.copied.iter().sum::<u64>();
                let problem = match &out.error {
                    Some(e)
                        if offload_only
                            && !self.caps.can_offload
                            && e.raw_os_error() == Some(libc::EOPNOTSUPP) =>
                    {
                        None
                    }
                    Some(e) => Some(format!("failed: {}", errno(e))),
                    None if offload_only && !out.offloaded => {
                        Some("succeeded offload-only without BLKCOPY_OFFLOADED".into())
                    }
                    None => ranges
                        .iter()
                        .zip(&out.copied)
                        .find(|(r, &c)| c != r.len)
                        .map(|(r, c)| format!("range {}:{}:{} copied {c}", r.src, r.dst, r.len)),
                };
                if let Some(p) = problem {
                    return Err(self.error(op, &what, p));
                }
                for r in ranges {
                    self.verify(r.dst, r.len, op, &what)?;
                }
                Ok(())
            }
            Op::Cfr {
                src,
                dst,
                len,
                expect,
            } => {
                if expect != Expect::Ok {
                    let result = self.dev.copy_file_range(src, dst, len);
                    return self.check_invalid(result, expect, &[(dst, len)], op, &what);
                }
                self.stats.cfr += 1;
                // A short copy is allowed: apply what was copied and copy the rest.
                let mut done = 0;
                while done < len {
                    let (s, d) = (src + done, dst + done);
                    let n = match self.dev.copy_file_range(s, d, len - done) {
                        Ok(n) if n > 0 && n <= len - done => n,
                        Ok(n) => {
                            let msg = format!("returned {n} after {done} of {len} bytes");
                            return Err(self.error(op, &what, msg));
                        }
                        Err(e) => {
                            let msg = format!("failed after {done} bytes: {}", errno(&e));
                            return Err(self.error(op, &what, msg));
                        }
                    };
                    self.model.copy(&[(s, d, n)], &[n], op);
                    self.stats.bytes_copied += n;
                    done += n;
                    self.stats.short_cfr += u64::from(done < len);
                }
                self.verify(dst, len, op, &what)
            }
        }
    }
}

/// What a job is asked to do.
#[derive(Clone, Debug)]
pub struct JobConfig {
    pub gen: GenConfig,
    pub seed: u64,
    pub ops: Option<u64>,
    pub deadline: Option<Instant>,
    /// Verify the whole region every this many ops (0: only at the end).
    pub verify_every: u64,
}

impl JobConfig {
    /// Whether op number `n` (1-based) should still run.
    pub fn more(&self, n: u64) -> bool {
        self.ops.is_none_or(|max| n <= max) && self.deadline.is_none_or(|d| Instant::now() < d)
    }
}

/// What a job did.
#[derive(Debug, Default)]
pub struct JobResult {
    pub stats: Stats,
    pub finding: Option<Finding>,
    /// The ops run, up to the one that failed.
    pub ops: Vec<Op>,
}

/// Runs random ops on a region until the limits or the first finding.
pub fn run_job(dev: &dyn Device, cfg: &JobConfig) -> JobResult {
    let mut runner = Runner::new(dev, cfg.gen.region, cfg.seed);
    let mut gen = Generator::new(cfg.gen.clone(), cfg.seed);
    let mut result = JobResult::default();
    let mut run = || -> Result<(), Finding> {
        runner.init()?;
        let mut n = 1;
        while cfg.more(n) {
            let op = gen.next_op(n);
            result.ops.push(op.clone());
            runner.run(n, &op)?;
            if cfg.verify_every > 0 && n % cfg.verify_every == 0 {
                runner.verify_all(n)?;
            }
            n += 1;
        }
        runner.verify_all(n - 1)
    };
    result.finding = run().err();
    result.stats = runner.stats;
    result
}

/// Resets the region and runs `ops`, verifying after each copy and at the end.
pub fn replay(dev: &dyn Device, region: Region, seed: u64, ops: &[Op]) -> JobResult {
    let mut runner = Runner::new(dev, region, seed);
    let run = |runner: &mut Runner| -> Result<(), Finding> {
        runner.init()?;
        for (k, op) in ops.iter().enumerate() {
            runner.run(k as u64 + 1, op)?;
        }
        runner.verify_all(ops.len() as u64)
    };
    let finding = run(&mut runner).err();
    JobResult {
        stats: runner.stats,
        finding,
        ops: ops.to_vec(),
    }
}
