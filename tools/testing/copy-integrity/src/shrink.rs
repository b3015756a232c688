// SPDX-License-Identifier: GPL-2.0

//! Reproduction: shrinking a failing sequence by delta debugging, and the sequence file that
//! `--save` writes and `--replay` reads.

use crate::device::Device;
use crate::model::Region;
use crate::ops::Op;
use crate::runner::{replay, Finding};

/// Shrinks `ops` to a subsequence, in order, for which `fails` still holds: drops chunks
/// (halves, quarters, ...) while that keeps it failing, down to single ops, so that the result
/// fails but dropping any one op makes it pass (unless `budget` calls of `fails` ran out).
pub fn shrink(ops: &[Op], budget: usize, mut fails: impl FnMut(&[Op]) -> bool) -> Vec<Op> {
    let mut ops = ops.to_vec();
    let mut tries = 0;
    let mut parts = 2;
    while ops.len() >= 2 && tries < budget {
        let chunk = ops.len().div_ceil(parts);
        let mut reduced = false;
        let mut start = 0;
        while start < ops.len() && ops.len() >= 2 && tries < budget {
            let end = (start + chunk).min(ops.len());
            let candidate: Vec<Op> = ops[..start].iter().chain(&ops[end..]).cloned().collect();
            tries += 1;
            if fails(&candidate) {
                ops = candidate;
                reduced = true;
            } else {
                start = end;
            }
        }
        if !reduced {
            if chunk == 1 {
                break;
            }
            parts = (parts * 2).min(ops.len());
        }
    }
    ops
}

/// Shrinks the ops of a failed run on `region` of `dev`: each candidate runs from the initial
/// pattern and must fail the same way (a mismatch, or an unexpected result).
pub fn minimize(
    dev: &dyn Device,
    region: Region,
    seed: u64,
    ops: &[Op],
    first: &Finding,
    budget: usize,
) -> Vec<Op> {
    // Ops after the one that failed play no part.
    let ops = &ops[..(first.op as usize)
        .clamp(1, ops.len().max(1))
        .min(ops.len())];
    shrink(ops, budget, |candidate| {
        replay(dev, region, seed, candidate, false)
            .finding
            .is_some_and(|f| f.mismatch == first.mismatch)
    })
}

/// A saved sequence: what `--replay` needs to run it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sequence {
    pub seed: u64,
    pub block_size: u64,
    pub region: Region,
    pub ops: Vec<Op>,
}

impl Sequence {
    /// The text form: a header, then one op per line.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "# copy-integrity sequence: copy-integrity --replay FILE DEVICE\n\
             seed {}\nblock-size {}\nregion {} {}\n",
            self.seed, self.block_size, self.region.start, self.region.len
        );
        for op in &self.ops {
            text.push_str(&format!("{op}\n"));
        }
        text
    }

    /// Parses the text form; `#` starts a comment.
    pub fn parse(text: &str) -> Result<Sequence, String> {
        let mut seq = Sequence {
            seed: 0,
            block_size: 0,
            region: Region { start: 0, len: 0 },
            ops: Vec::new(),
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            let err = |e: String| format!("line {}: {e}", n + 1);
            let words: Vec<&str> = line.split_whitespace().collect();
            let num = |i: usize| -> Result<u64, String> {
                words
                    .get(i)
                    .and_then(|w| w.parse().ok())
                    .ok_or_else(|| err(format!("'{line}': expected a number")))
            };
            match words.first().copied() {
                None => {}
                Some("seed") => seq.seed = num(1)?,
                Some("block-size") => seq.block_size = num(1)?,
                Some("region") => {
                    seq.region = Region {
                        start: num(1)?,
                        len: num(2)?,
                    }
                }
                Some(_) => seq.ops.push(line.parse().map_err(err)?),
            }
        }
        if seq.block_size == 0 || seq.region.len == 0 {
            return Err("missing block-size or region".into());
        }
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{Fault, MemDevice};
    use crate::ops::GenConfig;
    use crate::runner::{run_job, JobConfig};

    fn write(gen: u64) -> Op {
        Op::Write {
            off: 0,
            len: 512,
            gen,
        }
    }

    #[test]
    fn shrinks_to_the_culprits() {
        let ops: Vec<Op> = (1..=100).map(write).collect();
        let mut calls = 0;
        let min = shrink(&ops, 10_000, |c| {
            calls += 1;
            c.contains(&write(17)) && c.contains(&write(42))
        });
        assert_eq!(min, vec![write(17), write(42)]);
        assert!(calls < 100, "{calls} calls");
        // A budget stops it early, still failing.
        let partial = shrink(&ops, 3, |c| c.contains(&write(5)));
        assert!(partial.contains(&write(5)));
    }

    #[test]
    fn finds_and_shrinks_an_injected_bug() {
        // Copies longer than 120 blocks (of at most 128) lose their last block.
        let dev = MemDevice::new(4 << 20, 512, true, Fault::DropLastBlock(120 * 512));
        let region = Region {
            start: 0,
            len: 4 << 20,
        };
        let cfg = JobConfig {
            gen: GenConfig {
                region,
                bs: 512,
                dev_size: 4 << 20,
                max_len: 64 << 10,
                max_ranges: 8,
                mix: "blkcopy=2,cfr=1,write=3,read=1,discard=1"
                    .parse()
                    .unwrap_or_default(),
                block_rules: true,
            },
            seed: 3,
            ops: Some(500),
            deadline: None,
            verify_every: 50,
            faults: false,
        };
        let run = run_job(&dev, &cfg);
        let finding = run.finding.expect("the bug is found");
        assert!(finding.mismatch, "{}", finding.message);
        assert!(finding.message.contains("mismatch at offset"));
        assert!(run.ops.len() > 10, "found early: {}", run.ops.len());
        let min = minimize(&dev, region, cfg.seed, &run.ops, &finding, 500);
        assert!(!min.is_empty() && min.len() <= 2, "{min:?}");
        assert!(replay(&dev, region, cfg.seed, &min, false)
            .finding
            .is_some());
        // The saved form replays the same ops.
        let seq = Sequence {
            seed: cfg.seed,
            block_size: 512,
            region,
            ops: min,
        };
        assert_eq!(Sequence::parse(&seq.to_text()), Ok(seq));
        // Without the bug, the same seed passes.
        let good = MemDevice::new(4 << 20, 512, true, Fault::None);
        let run = run_job(&good, &cfg);
        assert_eq!(run.finding, None);
        assert!(run.stats.blkcopy > 0 && run.stats.invalid == 0 && run.stats.discards > 0);
    }
}
