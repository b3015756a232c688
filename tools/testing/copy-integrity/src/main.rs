// SPDX-License-Identifier: GPL-2.0

//! copy-integrity: a randomized integrity tester for block device copy offload.
//!
//! Runs random BLKCOPY, copy_file_range(), O_DIRECT reads and writes, discards and invalid
//! copies on a region of a block device, checks the device against an in-memory model byte
//! for byte, and shrinks a failing sequence to a minimal one that can be saved and replayed.
//! Race mode checks the semantics of copies racing with writes; fault mode (`--faults`) checks
//! that ops the kernel fails on purpose fail cleanly. See `cli::USAGE`.

mod cli;
mod device;
#[cfg(test)]
mod fake;
mod faults;
mod model;
mod ops;
mod race;
mod rng;
mod runner;
mod shrink;
mod stamp;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use device::{Device, RealDevice};
use model::Region;
use ops::GenConfig;
use runner::{JobConfig, JobResult, Stats};
use shrink::Sequence;

/// Default and largest default region: whole device up to 64 MiB.
const DEFAULT_REGION: u64 = 64 << 20;

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail,
    /// Setup failed (writing the initial pattern).
    Setup,
}

/// A seed from the clock and the process id.
fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    rng::mix(nanos ^ (u64::from(std::process::id()) << 32)) >> 1
}

/// The region to test, checked against the device.
fn region_of(o: &cli::Options, bs: u64, size: u64) -> Result<Region, String> {
    if o.offset >= size {
        return Err(format!("--offset {} is past the end ({size})", o.offset));
    }
    let len = o.length.unwrap_or((size - o.offset).min(DEFAULT_REGION));
    let region = Region {
        start: o.offset,
        len,
    };
    if !(region.start | region.len).is_multiple_of(bs) {
        return Err(format!("--offset and --length must be multiples of {bs}"));
    }
    if region.end() > size {
        return Err(format!(
            "region {}+{} is past the end ({size})",
            region.start, len
        ));
    }
    if len / bs / o.jobs < 16 {
        return Err("the region needs at least 16 blocks per job".into());
    }
    Ok(region)
}

/// Shrinks the failing sequence of a job, prints it and saves it.
fn reproduce(
    dev: &dyn Device,
    o: &cli::Options,
    seq: &Sequence,
    finding: &runner::Finding,
    save: Option<String>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut min = seq.clone();
    if o.faults {
        writeln!(
            out,
            "not shrinking: faults were injected, a replay fails elsewhere or not at all"
        )?;
    } else if o.shrink_budget > 0 {
        writeln!(out, "shrinking {} ops...", seq.ops.len())?;
        min.ops = shrink::minimize(
            dev,
            seq.region,
            seq.seed,
            &seq.ops,
            finding,
            o.shrink_budget,
        );
        let again = runner::replay(dev, seq.region, seq.seed, &min.ops, false);
        match again.finding {
            Some(f) => writeln!(out, "minimal sequence fails with: {}", f.message)?,
            None => writeln!(out, "minimal sequence did not fail again (flaky)")?,
        }
    }
    writeln!(out, "sequence ({} ops):", min.ops.len())?;
    out.write_all(min.to_text().as_bytes())?;
    if let Some(path) = save {
        std::fs::write(&path, min.to_text())?;
        writeln!(out, "saved to {path}; replay with --replay {path}")?;
    }
    Ok(())
}

/// Runs the tester on `dev` (named `name`) and prints to `out`.
fn run(
    dev: &dyn Device,
    name: &str,
    o: &cli::Options,
    out: &mut dyn Write,
) -> Result<Outcome, String> {
    let io = |e: std::io::Error| e.to_string();
    let (bs, size, caps) = (dev.block_size(), dev.size(), dev.caps());
    let replayed = match &o.replay {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            let seq = Sequence::parse(&text).map_err(|e| format!("{path}: {e}"))?;
            if seq.block_size != bs || seq.region.end() > size {
                return Err(format!("{path}: recorded for another block size or size"));
            }
            Some(seq)
        }
        None => None,
    };
    let (region, seed, jobs) = match &replayed {
        Some(seq) => (seq.region, seq.seed, 1),
        None => (
            region_of(o, bs, size)?,
            o.seed.unwrap_or_else(random_seed),
            o.jobs,
        ),
    };
    let mode = match (&replayed, o.race) {
        (Some(_), _) => "replay",
        (None, true) => "race",
        (None, false) => "random",
    };
    writeln!(
        out,
        "copy-integrity: seed={seed} device={name} size={size} block_size={bs} region={}+{} \
         jobs={jobs} mode={mode} can_offload={} discard={}{}",
        region.start,
        region.len,
        u8::from(caps.can_offload),
        u8::from(caps.discard),
        if o.faults { " faults=1" } else { "" }
    )
    .map_err(io)?;

    let mut mix = o.mix;
    if !caps.discard {
        mix.discard = 0;
    }
    let deadline = o.time.map(|t| Instant::now() + Duration::from_secs(t));
    let ops = o.ops.or(if o.time.is_none() { Some(1000) } else { None });
    let configs: Vec<JobConfig> = region
        .split(jobs, bs)
        .into_iter()
        .enumerate()
        .map(|(j, part)| JobConfig {
            gen: GenConfig {
                region: part,
                bs,
                dev_size: size,
                max_len: o.max_len.max(bs) / bs * bs,
                max_ranges: o.max_ranges,
                mix,
                block_rules: caps.block_rules,
            },
            seed: if jobs == 1 {
                seed
            } else {
                rng::mix(seed ^ (j as u64 + 1))
            },
            ops,
            deadline,
            verify_every: o.verify_every,
            faults: o.faults,
        })
        .collect();
    if jobs > 1 {
        for (j, c) in configs.iter().enumerate() {
            let r = c.gen.region;
            writeln!(out, "job {j}: seed={} region={}+{}", c.seed, r.start, r.len).map_err(io)?;
        }
    }

    let results: Vec<JobResult> = match &replayed {
        Some(seq) => vec![runner::replay(
            dev, seq.region, seq.seed, &seq.ops, o.faults,
        )],
        None => std::thread::scope(|s| {
            let handles: Vec<_> = configs
                .iter()
                .map(|c| {
                    s.spawn(move || match o.race {
                        true => race::run_race_job(dev, c),
                        false => runner::run_job(dev, c),
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| JobResult {
                        finding: Some(runner::Finding {
                            op: 0,
                            mismatch: false,
                            message: "job panicked".into(),
                        }),
                        ..Default::default()
                    })
                })
                .collect()
        }),
    };

    let mut stats = Stats::default();
    let (mut mismatches, mut errors, mut setup) = (0, 0, false);
    for (j, r) in results.iter().enumerate() {
        stats += r.stats;
        let Some(f) = &r.finding else { continue };
        writeln!(out, "job {j}: FAIL: {}", f.message).map_err(io)?;
        if f.mismatch {
            mismatches += 1;
        } else {
            errors += 1;
        }
        setup |= f.op == 0;
        let job_seed = configs.get(j).map_or(seed, |c| c.seed);
        if o.race && replayed.is_none() {
            writeln!(
                out,
                "job {j}: race mode does not shrink; rerun with --seed {seed}"
            )
            .map_err(io)?;
        } else if f.op > 0 {
            let seq = Sequence {
                seed: job_seed,
                block_size: bs,
                region: replayed
                    .as_ref()
                    .map_or(configs[j].gen.region, |s| s.region),
                ops: r.ops.clone(),
            };
            let save = o.save.as_ref().map(|p| match j {
                0 => p.clone(),
                _ => format!("{p}.job{j}"),
            });
            reproduce(dev, o, &seq, f, save, out).map_err(io)?;
        }
    }
    if stats.short_cfr > 0 {
        writeln!(
            out,
            "note: {} short copy_file_range() returns",
            stats.short_cfr
        )
        .map_err(io)?;
    }
    let pass = mismatches == 0 && errors == 0;
    let failed = match o.faults {
        true => format!(" {}", stats.failed.summary()),
        false => String::new(),
    };
    writeln!(
        out,
        "copy-integrity: device={name} seed={seed} ops={} blkcopy={} offloaded={} \
         copy_file_range={} reads={} writes={} discards={} invalid={} bytes_copied={} \
         races={}{failed} mismatches={mismatches} errors={errors} result={}",
        stats.ops,
        stats.blkcopy,
        stats.offloaded,
        stats.cfr,
        stats.reads,
        stats.writes,
        stats.discards,
        stats.invalid,
        stats.bytes_copied,
        stats.races,
        if pass { "pass" } else { "fail" }
    )
    .map_err(io)?;
    Ok(match (pass, setup) {
        (true, _) => Outcome::Pass,
        (false, true) => Outcome::Setup,
        (false, false) => Outcome::Fail,
    })
}

/// Makes the C library's allocator grow its heap rarely and in large steps, never give memory
/// back, and serve every thread from that one heap, so that the tester's own allocations almost
/// never ask the kernel for memory while fault injection is on for a call under test (an mmap()
/// or brk() that fails then would abort the tester, not fail the call).
fn keep_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt() only changes the allocator's tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match cli::parse(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("copy-integrity: {e}\nTry 'copy-integrity --help' for more information.");
            return ExitCode::from(2);
        }
    };
    if o.faults {
        keep_heap();
    }
    let result = RealDevice::open(&o.device, o.block_size)
        .and_then(|dev| if o.faults { dev.with_faults() } else { Ok(dev) })
        .and_then(|dev| run(&dev, &o.device, &o, &mut std::io::stdout().lock()));
    match result {
        Ok(Outcome::Pass) => ExitCode::SUCCESS,
        Ok(Outcome::Fail) => ExitCode::from(1),
        Ok(Outcome::Setup) => ExitCode::from(2),
        Err(e) => {
            eprintln!("copy-integrity: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fake::{Fault, Injection, MemDevice};

    fn options(s: &str) -> cli::Options {
        let args: Vec<String> = s.split_whitespace().map(String::from).collect();
        cli::parse(&args).ok().flatten().expect("valid options")
    }

    fn run_text(dev: &dyn Device, o: &cli::Options) -> (Outcome, String) {
        let mut out = Vec::new();
        let outcome = run(dev, "test", o, &mut out).expect("runs");
        (outcome, String::from_utf8_lossy(&out).into_owned())
    }

    /// The key=value pairs of the last line.
    fn summary(text: &str) -> std::collections::HashMap<String, String> {
        let last = text.lines().last().unwrap_or("");
        last.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn passes_on_a_correct_device_with_jobs() {
        let dev = MemDevice::new(8 << 20, 512, true, Fault::None);
        let (outcome, text) = run_text(&dev, &options("--seed 9 --ops 300 --jobs 3 x"));
        assert_eq!(outcome, Outcome::Pass, "{text}");
        let s = summary(&text);
        assert_eq!(s["result"], "pass");
        assert_eq!(s["ops"], "900");
        assert_eq!(s["seed"], "9");
        assert!(s["blkcopy"] != "0" && s["offloaded"] == s["blkcopy"] && s["invalid"] != "0");
        assert!(text.starts_with("copy-integrity: seed=9 "));
        // Without --faults the output is what it was before there were faults.
        assert!(!s.contains_key("failed") && !text.contains("faults="));
    }

    #[test]
    fn clean_failures_under_faults_pass_and_are_counted() {
        for (bs, jobs) in [(512, 2), (4096, 1)] {
            let dev = MemDevice::new(8 << 20, bs, true, Fault::Injected(Injection::Clean));
            let o = options(&format!("--seed 7 --ops 500 --jobs {jobs} --faults x"));
            let (outcome, text) = run_text(&dev, &o);
            assert_eq!(outcome, Outcome::Pass, "{text}");
            assert!(text
                .lines()
                .next()
                .is_some_and(|l| l.ends_with(" faults=1")));
            let s = summary(&text);
            let n = |k: &str| s.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            for key in [
                "failed_eio",
                "failed_enomem",
                "failed_eopnotsupp",
                "failed_partial",
            ] {
                assert!(n(key) > 0, "{key}: {text}");
            }
            let by_errno = n("failed_eio") + n("failed_enomem") + n("failed_eopnotsupp");
            assert_eq!(n("failed"), by_errno, "{text}");
            assert_eq!((n("mismatches"), n("errors")), (0, 0), "{text}");
            assert!(text.contains("short copy_file_range() returns"), "{text}");
        }
    }

    #[test]
    fn faults_find_bad_failures() {
        for (how, key) in [
            (Injection::OverReport, "mismatches"),
            (Injection::TornWrite, "mismatches"),
            (Injection::LeakOnFailure, "mismatches"),
            (Injection::Misplaced, "mismatches"),
            (Injection::Errno(libc::EFAULT), "errors"),
            (Injection::Errno(libc::EINTR), "errors"),
        ] {
            let dev = MemDevice::new(8 << 20, 4096, true, Fault::Injected(how));
            let (outcome, text) = run_text(&dev, &options("--seed 3 --ops 400 --faults x"));
            assert_eq!(outcome, Outcome::Fail, "{how:?}: {text}");
            assert_eq!(summary(&text)[key], "1", "{how:?}: {text}");
            assert!(text.contains("not shrinking"), "{how:?}: {text}");
        }
    }

    #[test]
    fn fails_shrinks_saves_and_replays() {
        let dir = std::env::temp_dir().join(format!("copy-integrity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("seq.txt");
        let dev = MemDevice::new(4 << 20, 4096, false, Fault::DropLastBlock(512 << 10));
        let o = options(&format!("--seed 4 --ops 400 --save {} x", file.display()));
        let (outcome, text) = run_text(&dev, &o);
        assert_eq!(outcome, Outcome::Fail, "{text}");
        assert_eq!(summary(&text)["mismatches"], "1");
        let saved = std::fs::read_to_string(&file).expect("saved");
        let seq = Sequence::parse(&saved).expect("parses");
        assert!(seq.ops.len() <= 2, "{saved}");
        let (outcome, text) = run_text(&dev, &options(&format!("--replay {} x", file.display())));
        assert_eq!(outcome, Outcome::Fail, "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn real_backend_on_a_regular_file() {
        let dir = std::env::temp_dir().join(format!("copy-integrity-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("disk.img");
        let f = std::fs::File::create(&path).expect("create");
        f.set_len(4 << 20).expect("size");
        let name = path.display().to_string();
        let dev = RealDevice::open(&name, Some(4096)).expect("opens");
        assert!(!dev.caps().block_rules);
        let o = options(&format!(
            "--seed 1 --ops 300 --max-len 128K --mix read=1,write=2,cfr=2,invalid=1 {name}"
        ));
        let (outcome, text) = run_text(&dev, &o);
        assert_eq!(outcome, Outcome::Pass, "{text}");
        let s = summary(&text);
        assert!(s["copy_file_range"] != "0" && s["invalid"] != "0" && s["blkcopy"] == "0");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn region_rules() {
        let o = options("--offset 4096 --length 1M x");
        assert_eq!(
            region_of(&o, 512, 8 << 20),
            Ok(Region {
                start: 4096,
                len: 1 << 20
            })
        );
        assert!(region_of(&o, 512, 1 << 20).is_err());
        assert!(region_of(&options("--offset 100 x"), 512, 1 << 20).is_err());
        let whole = region_of(&options("x"), 512, 1 << 30);
        assert_eq!(whole.map(|r| r.len), Ok(DEFAULT_REGION));
    }
}
