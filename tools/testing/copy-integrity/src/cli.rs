// SPDX-License-Identifier: GPL-2.0

//! Command line options.

use blkcopy::size;

use crate::ops::Mix;

pub const USAGE: &str = "\
Usage: copy-integrity [options] <device>

Runs a random sequence of BLKCOPY, copy_file_range(), O_DIRECT reads and writes,
discards and deliberately invalid copies on a region of <device>, checks the
device against an in-memory model byte for byte, and shrinks a failing sequence
to a minimal one. <device> may be a regular file (reads, writes and
copy_file_range() only). Sizes take the units K, M, G (KiB, ...) or s (sectors).

Options:
 --seed N             seed (default: random; printed at the start as seed=N)
 --ops N              ops per job (default 1000 unless --time is given)
 --time SECS          stop after SECS seconds (whichever of --ops and --time first)
 --offset BYTES       start of the region (default 0)
 --length BYTES       length of the region (default: to the end, at most 64M)
 --max-len BYTES      largest op length (default 1M)
 --max-ranges N       most ranges per BLKCOPY (default 16, at most 256)
 --mix K=W,...        weights of blkcopy, cfr, read, write, discard, invalid;
                      kinds not named get 0
                      (default blkcopy=30,cfr=15,read=10,write=30,discard=5,invalid=10)
 --verify-every K     compare the whole region every K ops (default 100; 0: at the end)
 --jobs J             J threads, each on its own part of the region (default 1)
 --race               copies race with writes to their sources and destinations
 --faults             the kernel fails allocations and bios on purpose: set the
                      thread's make-it-fail around each call under test (the
                      caller sets up failslab, fail_page_alloc and
                      fail_make_request with task-filter); accept EIO and
                      ENOMEM (and EOPNOTSUPP from an offload-only BLKCOPY) if
                      the data is what the call reports (the copied part holds
                      the source, each other destination block its old or its
                      copied data, a failed write's blocks old or new), count
                      them in the summary (failed_*); not with --race
 --save FILE          save the minimal failing sequence to FILE
 --replay FILE        run a saved sequence instead of a random one
 --shrink-budget N    runs the shrinker may spend (default 300, 0: no shrinking)
 --block-size N       block size for a regular file (default 4096)
 -h, --help           show this help

The last line of output is a summary of key=value pairs ending in result=pass or
result=fail. Exit status: 0 pass, 1 mismatch or unexpected result, 2 usage or
setup error.
";

/// Parsed options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub device: String,
    pub seed: Option<u64>,
    pub ops: Option<u64>,
    pub time: Option<u64>,
    pub offset: u64,
    pub length: Option<u64>,
    pub max_len: u64,
    pub max_ranges: usize,
    pub mix: Mix,
    pub verify_every: u64,
    pub jobs: u64,
    pub race: bool,
    pub faults: bool,
    pub save: Option<String>,
    pub replay: Option<String>,
    pub shrink_budget: usize,
    pub block_size: Option<u64>,
}

fn number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{name}: '{text}' is not a number"))
}

/// Parses the arguments (without the program name); None for --help.
pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        device: String::new(),
        seed: None,
        ops: None,
        time: None,
        offset: 0,
        length: None,
        max_len: 1 << 20,
        max_ranges: 16,
        mix: Mix::default(),
        verify_every: 100,
        jobs: 1,
        race: false,
        faults: false,
        save: None,
        replay: None,
        shrink_budget: 300,
        block_size: None,
    };
    let mut devices = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("option '{name}' needs a value"))
        };
        match name {
            "-h" | "--help" => return Ok(None),
            "--seed" => o.seed = Some(number(name, &value()?)?),
            "--ops" => o.ops = Some(number(name, &value()?)?),
            "--time" => o.time = Some(number(name, &value()?)?),
            "--offset" => o.offset = size::parse(&value()?)?,
            "--length" => o.length = Some(size::parse(&value()?)?),
            "--max-len" => o.max_len = size::parse(&value()?)?,
            "--max-ranges" => o.max_ranges = number(name, &value()?)?,
            "--mix" => o.mix = value()?.parse()?,
            "--verify-every" => o.verify_every = number(name, &value()?)?,
            "--jobs" => o.jobs = number(name, &value()?)?,
            "--race" => o.race = true,
            "--faults" => o.faults = true,
            "--save" => o.save = Some(value()?),
            "--replay" => o.replay = Some(value()?),
            "--shrink-budget" => o.shrink_budget = number(name, &value()?)?,
            "--block-size" => o.block_size = Some(size::parse(&value()?)?),
            a if a.starts_with('-') && a.len() > 1 => return Err(format!("unknown option '{a}'")),
            a => devices.push(a.to_string()),
        }
    }
    match &devices[..] {
        [d] => o.device = d.clone(),
        [] => return Err("no device".into()),
        _ => return Err("more than one device".into()),
    }
    if !(1..=blkcopy::sys::BLKCOPY_MAX_RANGES).contains(&o.max_ranges) {
        return Err("--max-ranges must be 1 to 256".into());
    }
    if !(1..=64).contains(&o.jobs) {
        return Err("--jobs must be 1 to 64".into());
    }
    if o.max_len == 0 {
        return Err("--max-len must not be 0".into());
    }
    if o.faults && o.race {
        return Err("--faults does not go with --race".into());
    }
    if o.block_size.is_some_and(|b| b == 0 || !b.is_power_of_two()) {
        return Err("--block-size must be a power of two".into());
    }
    Ok(Some(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options() {
        let o = parse(&args(
            "--seed 5 --ops=100 --length 4M --mix blkcopy=1 --race /dev/x",
        ))
        .ok()
        .flatten();
        let o = o.expect("parses");
        assert_eq!(
            (o.seed, o.ops, o.length),
            (Some(5), Some(100), Some(4 << 20))
        );
        assert_eq!((o.mix.blkcopy, o.mix.write), (1, 0));
        assert!(o.race && o.device == "/dev/x" && !o.faults);
        assert_eq!(parse(&args("--help")), Ok(None));
        let o = parse(&args("--faults --ops 10 /dev/x")).ok().flatten();
        assert!(o.is_some_and(|o| o.faults && !o.race));
        for bad in [
            "",
            "/dev/a /dev/b",
            "--ops x /dev/a",
            "--max-ranges 257 /dev/a",
            "--bogus /dev/a",
            "--seed",
            "--mix foo=1 /dev/a",
            "--faults --race /dev/a",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }
}
