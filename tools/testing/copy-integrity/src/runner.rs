// SPDX-License-Identifier: GPL-2.0

//! Executes ops against a device and its model, and checks the device against the model.

use std::io;
use std::time::Instant;

use blkcopy::sys::Aligned;

use crate::device::{Caps, Device};
use crate::faults::{self, Call, Failures};
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
    /// Ops that failed as injected faults explain (`--faults`).
    pub failed: Failures,
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
        self.failed += o.failed;
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

/// Calls `f` on `dev`, with fault injection on for this thread around it when `faults` is set:
/// the calls of the op under test go through here, those that check its outcome do not.
/// Turning injection on and off only fails when `make-it-fail` cannot be written, which
/// `RealDevice::with_faults` checked at the start; a job that cannot turn it off must not go on.
fn under_test<T>(dev: &dyn Device, faults: bool, f: impl FnOnce(&dyn Device) -> T) -> T {
    if !faults {
        return f(dev);
    }
    let gate = |on| {
        if let Err(e) = dev.inject(on) {
            panic!(
                "cannot turn fault injection {}: {e}",
                if on { "on" } else { "off" }
            );
        }
    };
    gate(true);
    let out = f(dev);
    gate(false);
    out
}

/// Runs ops on one region of a device and keeps its model.
pub struct Runner<'a> {
    pub(crate) dev: &'a dyn Device,
    pub(crate) caps: Caps,
    pub(crate) seed: u64,
    bs: u64,
    pub model: Model,
    pub stats: Stats,
    /// Faults are injected into the calls under test (`--faults`).
    faults: bool,
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
            faults: false,
            buf: Aligned::new(CHUNK.max(bs) as usize),
            scratch: vec![0; bs as usize],
        }
    }

    /// The runner with faults injected into the calls under test, or not.
    pub fn with_faults(mut self, faults: bool) -> Self {
        self.faults = faults;
        self
    }

    /// Whether injected faults explain the error `e` of a `call` under test; if so, counts
    /// it as a failure, `partial` when a copy had copied part of its ranges.
    fn fault(&mut self, e: &io::Error, call: Call, partial: bool) -> bool {
        let errno = faults::injected(e, call).filter(|_| self.faults);
        if let Some(n) = errno {
            self.stats.failed.count(n, partial);
        }
        errno.is_some()
    }

    fn error(&self, op: u64, what: &str, message: String) -> Finding {
        Finding {
            op,
            mismatch: false,
            message: format!("op #{op} ({what}): {message}"),
        }
    }

    /// Writes `contents` (whole blocks) at `off`, one call per chunk, as a call under test
    /// (`under_test`) or not. A failed call stops it; the error comes with the offset and
    /// length of the chunk that call wrote.
    fn write_blocks(
        &mut self,
        off: u64,
        contents: &[Content],
        test: bool,
    ) -> Result<(), (u64, u64, io::Error)> {
        let per_chunk = (self.buf.as_slice().len() as u64 / self.bs) as usize;
        let (dev, faults) = (self.dev, self.faults && test);
        for (k, part) in contents.chunks(per_chunk).enumerate() {
            let bytes = part.len() * self.bs as usize;
            let buf = &mut self.buf.as_mut_slice()[..bytes];
            stamp::fill_blocks(buf, self.bs as usize, part.iter().copied(), self.seed);
            let at = off + (k * per_chunk) as u64 * self.bs;
            under_test(dev, faults, |d| d.write_at(buf, at)).map_err(|e| (at, bytes as u64, e))?;
        }
        Ok(())
    }

    /// Resets the region to the initial pattern, on the device and in the model.
    pub fn init(&mut self) -> Result<(), Finding> {
        let region = self.model.region();
        self.model = Model::new(region, self.bs);
        let contents = self.model.contents(region.start, region.len).to_vec();
        self.write_blocks(region.start, &contents, false)
            .map_err(|(_, _, e)| {
                self.error(0, "initial pattern", format!("write failed: {}", errno(&e)))
            })
    }

    /// Reads `len` bytes at `off` and calls `each(runner, block index, found)` for every block
    /// until it returns an error. The reads are calls under test when `test` is set: one that
    /// fails as injected faults explain ends the scan, successfully.
    fn scan(
        &mut self,
        off: u64,
        len: u64,
        op: u64,
        what: &str,
        test: bool,
        mut each: impl FnMut(&mut Self, usize, &[u8]) -> Result<(), Finding>,
    ) -> Result<(), Finding> {
        let step = self.buf.as_slice().len() as u64;
        let mut buf = std::mem::replace(&mut self.buf, Aligned::new(self.bs as usize));
        let (dev, faults) = (self.dev, self.faults && test);
        let mut result = Ok(());
        let mut done = 0;
        while done < len && result.is_ok() {
            let n = (len - done).min(step);
            let chunk = &mut buf.as_mut_slice()[..n as usize];
            if let Err(e) = under_test(dev, faults, |d| d.read_at(chunk, off + done)) {
                if !(test && self.fault(&e, Call::Io, false)) {
                    result = Err(self.error(op, what, format!("read failed: {}", errno(&e))));
                }
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
        self.compare(off, len, op, what, false)
    }

    /// Compares `len` bytes at `off` with the model, reading them as calls under test or not.
    fn compare(
        &mut self,
        off: u64,
        len: u64,
        op: u64,
        what: &str,
        test: bool,
    ) -> Result<(), Finding> {
        let seed = self.seed;
        let mut want = vec![0; self.bs as usize];
        self.scan(off, len, op, what, test, |r, i, block| {
            stamp::fill(&mut want, r.model.get(i), seed);
            if want == block {
                Ok(())
            } else {
                Err(r.mismatch(i, block, op, what))
            }
        })
    }

    /// Reads `len` bytes at `off` after an op that failed as injected faults explain, and
    /// adopts what each block holds, which must be one of the two contents `allowed(model,
    /// block index)` gives (a failed write or copy may have written any of the blocks it did
    /// not report as done); anything else is a mismatch.
    fn adopt(
        &mut self,
        off: u64,
        len: u64,
        op: u64,
        what: &str,
        allowed: impl Fn(&Model, usize) -> [Content; 2],
    ) -> Result<(), Finding> {
        let seed = self.seed;
        let mut scratch = vec![0; self.bs as usize];
        self.scan(off, len, op, what, false, |r, i, block| {
            let choices = allowed(&r.model, i);
            match stamp::decode(block, seed, &mut scratch) {
                Found::Known(c) if choices.contains(&c) => {
                    r.model.set(i, c, op);
                    Ok(())
                }
                found => {
                    let at = r.model.region().start + i as u64 * r.bs;
                    Err(Finding {
                        op,
                        mismatch: true,
                        message: format!(
                            "op #{op} ({what}, failed): mismatch at offset {at} (block {}): \
                             expected {} or {}, found {}",
                            r.model.device_block(i),
                            stamp::describe(choices[0]),
                            stamp::describe(choices[1]),
                            stamp::describe_found(found),
                        ),
                    })
                }
            }
        })
    }

    /// Checks a copy of `ranges` (src, dst, len) that failed as injected faults explain after
    /// copying `copied` bytes of each: the copied part of each destination holds its source,
    /// and every other block of it its old content or its source's (chunks after the one that
    /// failed may have completed).
    fn copy_failed(
        &mut self,
        ranges: &[(u64, u64, u64)],
        copied: &[u64],
        op: u64,
        what: &str,
    ) -> Result<(), Finding> {
        self.stats.bytes_copied += copied.iter().sum::<u64>();
        self.model.copy(ranges, copied, op);
        for (&(src, dst, len), &done) in ranges.iter().zip(copied) {
            self.verify(dst, done, op, what)?;
            // Sources never overlap destinations: the model still has the old content of
            // the rest of the destination and the content of its source.
            let (from, to) = (self.model.index(src + done), self.model.index(dst + done));
            self.adopt(dst + done, len - done, op, what, |m, i| {
                [m.get(i), m.get(from + (i - to))]
            })?;
        }
        Ok(())
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
        // An allocation the call makes before it checks its arguments may fail instead.
        let ok = ok || matches!(&result, Err(e) if self.fault(e, Call::Invalid, false));
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
                let Err((at, n, e)) = self.write_blocks(off, &contents, true) else {
                    self.model.write(off, len, gen);
                    return Ok(());
                };
                if !self.fault(&e, Call::Io, false) {
                    let msg = format!("write failed: {}", errno(&e));
                    return Err(self.error(op, &what, msg));
                }
                // The calls before the failed one wrote their blocks, the failed one any of its
                // blocks, and none after it ran.
                self.model.write(off, at - off, gen);
                self.adopt(at, n, op, &what, |m, i| {
                    let new = Content::Stamp {
                        origin: m.device_block(i),
                        gen,
                    };
                    [m.get(i), new]
                })?;
                self.verify(at + n, off + len - (at + n), op, &what)
            }
            Op::Read { off, len } => {
                self.stats.reads += 1;
                self.compare(off, len, op, &what, true)
            }
            Op::Discard { off, len } => {
                self.stats.discards += 1;
                let dev = self.dev;
                if let Err(e) = under_test(dev, self.faults, |d| d.discard(off, len)) {
                    if !self.fault(&e, Call::Io, false) {
                        return Err(self.error(op, &what, format!("failed: {}", errno(&e))));
                    }
                }
                // Each block holds zeroes or what it held, whether the discard failed or not;
                // the model adopts which.
                let seed = self.seed;
                let mut scratch = vec![0; self.bs as usize];
                self.scan(off, len, op, &what, false, |r, i, block| {
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
                let dev = self.dev;
                let out = under_test(dev, self.faults, |d| d.blkcopy(ranges, offload_only));
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
                let can_offload = self.caps.can_offload;
                let refused = |e: &io::Error| {
                    offload_only && !can_offload && e.raw_os_error() == Some(libc::EOPNOTSUPP)
                };
                let call = match offload_only {
                    true => Call::OffloadOnly,
                    false => Call::Io,
                };
                let fault = match &out.error {
                    Some(e) if self.faults && !refused(e) => faults::injected(e, call),
                    _ => None,
                };
                if let Some(n) = fault {
                    faults::check_copied(ranges, &out.copied, self.bs).map_err(|m| {
                        let e = io::Error::from_raw_os_error(n);
                        self.error(op, &what, format!("failed: {}, but {m}", errno(&e)))
                    })?;
                    let partial = out.copied.iter().any(|&c| c > 0);
                    self.stats.failed.count(n, partial);
                    return self.copy_failed(&triples, &out.copied, op, &what);
                }
                self.model.copy(&triples, &out.copied, op);
                self.stats.bytes_copied += out.copied.iter().sum::<u64>();
                let problem = match &out.error {
                    Some(e) if refused(e) => None,
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
                let dev = self.dev;
                if expect != Expect::Ok {
                    let result = under_test(dev, self.faults, |d| d.copy_file_range(src, dst, len));
                    return self.check_invalid(result, expect, &[(dst, len)], op, &what);
                }
                self.stats.cfr += 1;
                // A short copy is allowed: apply what was copied and copy the rest.
                let mut done = 0;
                while done < len {
                    let (s, d) = (src + done, dst + done);
                    let result =
                        under_test(dev, self.faults, |dv| dv.copy_file_range(s, d, len - done));
                    let n = match result {
                        Ok(n) if n > 0 && n <= len - done => n,
                        Ok(n) => {
                            let msg = format!("returned {n} after {done} of {len} bytes");
                            return Err(self.error(op, &what, msg));
                        }
                        Err(e) if self.fault(&e, Call::Io, done > 0) => {
                            // Stopped here: what it copied before holds the source, every block
                            // after it its old content or its source's.
                            self.verify(dst, done, op, &what)?;
                            return self.copy_failed(&[(s, d, len - done)], &[0], op, &what);
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
    /// Inject faults into the calls under test (`--faults`).
    pub faults: bool,
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
    let mut runner = Runner::new(dev, cfg.gen.region, cfg.seed).with_faults(cfg.faults);
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

/// Resets the region and runs `ops`, verifying after each copy and at the end; with faults
/// injected into the calls under test when `faults` is set.
pub fn replay(dev: &dyn Device, region: Region, seed: u64, ops: &[Op], faults: bool) -> JobResult {
    let mut runner = Runner::new(dev, region, seed).with_faults(faults);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{Fault, Injection, MemDevice};

    #[test]
    fn failures_are_errors_without_faults() {
        // The device fails calls but the runner does not inject faults: the first failure is
        // an unexpected result, as it was before --faults existed; with faults, the same ops
        // pass.
        let region = Region {
            start: 0,
            len: 4 << 20,
        };
        let cfg = GenConfig {
            region,
            bs: 512,
            dev_size: 4 << 20,
            max_len: 256 << 10,
            max_ranges: 8,
            mix: Default::default(),
            block_rules: true,
        };
        for faults in [false, true] {
            let dev = MemDevice::new(4 << 20, 512, true, Fault::Injected(Injection::Clean));
            let mut runner = Runner::new(&dev, region, 5).with_faults(faults);
            assert_eq!(runner.init(), Ok(()));
            let eio = io::Error::from_raw_os_error(libc::EIO);
            assert_eq!(runner.fault(&eio, Call::Io, false), faults);
            let mut gen = Generator::new(cfg.clone(), 5);
            // Without faults, every call of this thread may fail, the checks' reads too; with
            // them, the runner turns injection on for the calls under test only.
            let _ = dev.inject(!faults);
            let finding = (1..=200).find_map(|n| runner.run(n, &gen.next_op(n)).err());
            let _ = dev.inject(false);
            match faults {
                false => {
                    let f = finding.expect("a failure is an error");
                    assert!(!f.mismatch && f.message.contains("failed"), "{f:?}");
                    assert_eq!(runner.stats.failed, Failures::default());
                }
                true => {
                    assert_eq!(finding, None);
                    assert!(runner.stats.failed.total() > 20, "{:?}", runner.stats);
                    assert_eq!(runner.verify_all(200), Ok(()));
                }
            }
        }
    }

    #[test]
    fn a_write_that_fails_part_way_keeps_what_it_wrote() {
        // Writes of three chunks: when a later chunk fails, the earlier ones hold the new data
        // and the model must say so.
        let region = Region {
            start: 0,
            len: 4 << 20,
        };
        let dev = MemDevice::new(4 << 20, 512, true, Fault::Injected(Injection::Clean));
        let mut runner = Runner::new(&dev, region, 9).with_faults(true);
        assert_eq!(runner.init(), Ok(()));
        for gen in 1..=40 {
            let write = Op::Write {
                off: (gen % 2) << 20,
                len: 3 * CHUNK,
                gen,
            };
            assert_eq!(runner.run(gen, &write), Ok(()));
        }
        assert!(runner.stats.failed.total() >= 10, "{:?}", runner.stats);
        assert_eq!(runner.verify_all(40), Ok(()));
    }
}
