// SPDX-License-Identifier: GPL-2.0

//! blkcopy: copy ranges within or between block devices, offloaded to the device when it can
//! copy internally.
//!
//! ```text
//! blkcopy [options] SOURCE [DEST] SRC:DST:LEN...
//! blkcopy [options] -f FILE SOURCE [DEST]
//! blkcopy --io-uring [--queue-depth N] [options] DEVICE SRC:DST:LEN...
//! ```
//!
//! Exit status: 0 copied, 1 the copy failed, 2 usage error, 3 verification found a difference.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use blkcopy::range::{self, Range};
use blkcopy::{size, sys};

const USAGE: &str = "\
Usage:
 blkcopy [options] <source> [<dest>] <src>:<dst>:<len>...
 blkcopy [options] -f <file> <source> [<dest>]

Copy ranges of a block device, or from one block device to another, without
moving the data through user space; the device copies it when it can.

Offsets and lengths take the units K, M, G, T (KiB, MiB, ...) or s (512-byte
sectors). Ranges are copied in order.

Options:
 -m, --method <method>   ioctl (BLKCOPY, within one device; the default) or
                         copy_file_range (O_DIRECT, also between devices)
 -f, --ranges-file <f>   read ranges from <f>, one per line, # comments
 -O, --offload-only      fail instead of copying through host memory (ioctl)
 -U, --io-uring          copy with BLOCK_URING_CMD_COPY, BLKCOPY as io_uring
                         commands of at most 1 GiB, several in flight (within
                         one device)
 -Q, --queue-depth <n>   commands in flight with --io-uring (default 32)
 -V, --verify            compare source and destination after the copy
 -p, --progress          show progress (default on a terminal for > 256 MiB)
 -q, --quiet             print nothing but errors
 -h, --help              show this help

Exit status: 0 copied, 1 copy failed, 2 usage error, 3 verification failed.
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Ioctl,
    CopyFileRange,
}

struct Options {
    method: Option<Method>,
    ranges_file: Option<String>,
    offload_only: bool,
    io_uring: bool,
    queue_depth: usize,
    verify: bool,
    progress: Option<bool>,
    quiet: bool,
    source: String,
    dest: Option<String>,
    ranges: Vec<Range>,
}

/// Failures, each with its exit status.
enum Failure {
    Usage(String),
    Copy(String),
    Verify(String),
}

impl Failure {
    fn exit(&self) -> ExitCode {
        let (msg, code) = match self {
            Failure::Usage(m) => (m, 2),
            Failure::Copy(m) => (m, 1),
            Failure::Verify(m) => (m, 3),
        };
        eprintln!("blkcopy: {msg}");
        if code == 2 {
            eprintln!("Try 'blkcopy --help' for more information.");
        }
        ExitCode::from(code)
    }
}

fn parse_args(args: &[String]) -> Result<Option<Options>, Failure> {
    let mut o = Options {
        method: None,
        ranges_file: None,
        offload_only: false,
        io_uring: false,
        queue_depth: 32,
        verify: false,
        progress: None,
        quiet: false,
        source: String::new(),
        dest: None,
        ranges: Vec::new(),
    };
    let mut paths = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| Failure::Usage(format!("option '{name}' needs a value")))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "-m" | "--method" => {
                o.method = Some(match value(arg)?.as_str() {
                    "ioctl" | "blkcopy" => Method::Ioctl,
                    "copy_file_range" | "copy-file-range" => Method::CopyFileRange,
                    m => return Err(Failure::Usage(format!("unknown method '{m}'"))),
                })
            }
            "-f" | "--ranges-file" => o.ranges_file = Some(value(arg)?),
            "-O" | "--offload-only" => o.offload_only = true,
            "-U" | "--io-uring" => o.io_uring = true,
            "-Q" | "--queue-depth" => {
                let v = value(arg)?;
                o.queue_depth = match v.parse() {
                    Ok(n) if (1..=4096).contains(&n) => n,
                    _ => {
                        return Err(Failure::Usage(format!(
                            "queue depth '{v}' is not 1 to 4096"
                        )))
                    }
                };
            }
            "-V" | "--verify" => o.verify = true,
            "-p" | "--progress" => o.progress = Some(true),
            "-q" | "--quiet" => o.quiet = true,
            a if a.starts_with('-') && a.len() > 1 => {
                return Err(Failure::Usage(format!("unknown option '{a}'")))
            }
            a if a.contains(':') => o.ranges.push(a.parse().map_err(Failure::Usage)?),
            a => paths.push(a.to_string()),
        }
    }
    match paths.len() {
        1 | 2 => {
            o.source = paths[0].clone();
            o.dest = paths.get(1).cloned();
        }
        0 => return Err(Failure::Usage("no source device".into())),
        _ => {
            return Err(Failure::Usage(format!(
                "unexpected argument '{}'",
                paths[2]
            )))
        }
    }
    Ok(Some(o))
}

/// A progress bar on standard error.
struct Progress {
    total: u64,
    shown: bool,
}

impl Progress {
    fn update(&mut self, done: u64) {
        if !self.shown {
            return;
        }
        let width = 40;
        let filled = (done as u128 * width / self.total.max(1) as u128) as usize;
        eprint!(
            "\r[{}{}] {:3}% {}/{}",
            "=".repeat(filled),
            " ".repeat(width as usize - filled),
            done as u128 * 100 / self.total.max(1) as u128,
            size::human(done),
            size::human(self.total)
        );
        let _ = std::io::stderr().flush();
    }

    fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

fn run(o: Options) -> Result<(), Failure> {
    let mut ranges = o.ranges;
    if let Some(file) = &o.ranges_file {
        let text =
            std::fs::read_to_string(file).map_err(|e| Failure::Usage(format!("{file}: {e}")))?;
        ranges
            .extend(range::parse_file(&text).map_err(|e| Failure::Usage(format!("{file}: {e}")))?);
    }
    if ranges.is_empty() {
        return Err(Failure::Usage("no ranges to copy".into()));
    }
    let dest = o.dest.clone().unwrap_or_else(|| o.source.clone());
    let same = dest == o.source;
    let method = o.method.unwrap_or(if same {
        Method::Ioctl
    } else {
        Method::CopyFileRange
    });
    if method == Method::Ioctl && !same {
        return Err(Failure::Usage(
            "BLKCOPY copies within one device; use --method copy_file_range".into(),
        ));
    }
    if o.offload_only && method != Method::Ioctl {
        return Err(Failure::Usage("--offload-only needs --method ioctl".into()));
    }
    if o.io_uring && method != Method::Ioctl {
        return Err(Failure::Usage(
            "--io-uring copies within one device, as BLKCOPY".into(),
        ));
    }

    let open = |path: &str, write: bool| {
        sys::open(path, write, true).map_err(|e| Failure::Copy(format!("{path}: {e}")))
    };
    let src = open(&o.source, same)?;
    let dst = if same {
        src.try_clone().map_err(|e| Failure::Copy(e.to_string()))?
    } else {
        open(&dest, true)?
    };

    let total: u64 = ranges.iter().map(|r| r.len).sum();
    let show = o
        .progress
        .unwrap_or(std::io::stderr().is_terminal() && total > 256 << 20);
    let mut progress = Progress {
        total,
        shown: show && !o.quiet,
    };
    let step = if progress.shown {
        64 << 20
    } else {
        sys::BLKCOPY_MAX_BYTES
    };

    let start = Instant::now();
    let mut done = 0u64;
    let mut offloaded = true;
    let mut failure = None;
    if o.io_uring {
        let commands: Vec<Vec<Range>> = range::steps(&ranges, sys::BLKCOPY_URING_MAX_BYTES)
            .iter()
            .flat_map(|s| s.chunks(sys::BLKCOPY_MAX_RANGES).map(<[Range]>::to_vec))
            .collect();
        match sys::blkcopy_uring(&src, &commands, o.queue_depth, o.offload_only, |n| {
            progress.update(n)
        }) {
            Ok(out) => {
                done = out.copied;
                offloaded = out.offloaded;
                if let Some(e) = out.error {
                    failure = Some(format!(
                        "{}: BLOCK_URING_CMD_COPY failed: {e} ({} of {} commands completed)",
                        o.source,
                        out.completed,
                        commands.len()
                    ));
                }
            }
            Err(e) => failure = Some(format!("{}: io_uring: {e}", o.source)),
        }
    }
    'steps: for step_ranges in range::steps(&ranges, step) {
        if o.io_uring {
            break;
        }
        for chunk in step_ranges.chunks(sys::BLKCOPY_MAX_RANGES) {
            match method {
                Method::Ioctl => {
                    let out = sys::blkcopy(&src, chunk, o.offload_only);
                    done += out.copied.iter().sum::<u64>();
                    offloaded &= out.offloaded;
                    if let Some(e) = out.error {
                        failure = Some(format!("{}: BLKCOPY failed: {e}", o.source));
                        break 'steps;
                    }
                }
                Method::CopyFileRange => {
                    offloaded = false;
                    for r in chunk {
                        let (n, err) = sys::copy_file_range(&src, &dst, r);
                        done += n;
                        if let Some(e) = err {
                            failure = Some(format!(
                                "{} -> {dest}: copy_file_range failed: {e}",
                                o.source
                            ));
                            break 'steps;
                        }
                    }
                }
            }
            progress.update(done);
        }
    }
    progress.finish();
    let secs = start.elapsed().as_secs_f64();
    if let Some(msg) = failure {
        return Err(Failure::Copy(format!("{msg} after {}", size::human(done))));
    }
    if !o.quiet {
        let how = match method {
            Method::Ioctl if o.io_uring && offloaded => "offloaded to the device, with io_uring",
            Method::Ioctl if o.io_uring => "copied by the kernel, with io_uring",
            Method::Ioctl if offloaded => "offloaded to the device",
            Method::Ioctl => "copied by the kernel",
            Method::CopyFileRange => "with copy_file_range",
        };
        println!(
            "copied {} in {:.3} s ({}/s), {how}",
            size::human(done),
            secs,
            size::human((done as f64 / secs.max(1e-9)) as u64)
        );
    }
    if o.verify {
        for r in &ranges {
            match sys::same_bytes(&src, r.src, &dst, r.dst, r.len) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Failure::Verify(format!(
                        "verification failed: {}:{}:{} differs",
                        r.src, r.dst, r.len
                    )))
                }
                Err(e) => return Err(Failure::Copy(format!("verification read failed: {e}"))),
            }
        }
        if !o.quiet {
            println!("verified {} ranges", ranges.len());
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args) {
        Ok(None) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Some(o)) => match run(o) {
            Ok(()) => ExitCode::SUCCESS,
            Err(f) => f.exit(),
        },
        Err(f) => f.exit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_paths_and_ranges() {
        let o = parse_args(&args("-V /dev/a 0:1M:4K /dev/b 8K:2M:4K"))
            .ok()
            .flatten()
            .unwrap();
        assert_eq!(o.source, "/dev/a");
        assert_eq!(o.dest.as_deref(), Some("/dev/b"));
        assert_eq!(o.ranges.len(), 2);
        assert!(o.verify);
    }

    #[test]
    fn usage_errors() {
        assert!(matches!(parse_args(&args("")), Err(Failure::Usage(_))));
        assert!(matches!(
            parse_args(&args("-x /dev/a")),
            Err(Failure::Usage(_))
        ));
        assert!(matches!(
            parse_args(&args("-m nope /dev/a 0:1:1")),
            Err(Failure::Usage(_))
        ));
        assert!(matches!(
            parse_args(&args("/dev/a /dev/b /dev/c")),
            Err(Failure::Usage(_))
        ));
        assert!(matches!(parse_args(&args("--help")), Ok(None)));
    }

    #[test]
    fn io_uring_options() {
        let o = parse_args(&args("-U -Q 8 /dev/a 0:1M:4K"))
            .ok()
            .flatten()
            .unwrap();
        assert!(o.io_uring);
        assert_eq!(o.queue_depth, 8);
        assert!(matches!(
            parse_args(&args("--io-uring --queue-depth 0 /dev/a 0:1M:4K")),
            Err(Failure::Usage(_))
        ));
        let o = parse_args(&args("--io-uring /dev/a /dev/b 0:0:4K"))
            .ok()
            .flatten()
            .unwrap();
        assert!(matches!(run(o), Err(Failure::Usage(_))));
    }

    #[test]
    fn ioctl_needs_one_device() {
        let o = parse_args(&args("-m ioctl /dev/a /dev/b 0:0:4K"))
            .ok()
            .flatten()
            .unwrap();
        assert!(matches!(run(o), Err(Failure::Usage(_))));
    }
}
