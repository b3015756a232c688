// SPDX-License-Identifier: GPL-2.0

//! Copy ranges: `SRC:DST:LEN`, on the command line or one per line in a file.

use crate::size;

/// One range to copy, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub src: u64,
    pub dst: u64,
    pub len: u64,
}

impl std::str::FromStr for Range {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let [src, dst, len] = parts[..] else {
            return Err(format!("'{text}' is not SRC:DST:LEN"));
        };
        let range = Range {
            src: size::parse(src)?,
            dst: size::parse(dst)?,
            len: size::parse(len)?,
        };
        if range.len == 0 {
            return Err(format!("'{text}': length is 0"));
        }
        Ok(range)
    }
}

/// Parses a ranges file: one `SRC:DST:LEN` per line; blank lines and `#` comments are skipped.
pub fn parse_file(text: &str) -> Result<Vec<Range>, String> {
    let mut ranges = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        ranges.push(line.parse().map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    Ok(ranges)
}

/// Splits `ranges` into steps of at most `step` bytes each, in order, for progress reports.
pub fn steps(ranges: &[Range], step: u64) -> Vec<Vec<Range>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut room = step;
    for r in ranges {
        let mut done = 0;
        while done < r.len {
            let n = (r.len - done).min(room);
            current.push(Range {
                src: r.src + done,
                dst: r.dst + done,
                len: n,
            });
            done += n;
            room -= n;
            if room == 0 {
                out.push(std::mem::take(&mut current));
                room = step;
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ranges() {
        assert_eq!(
            "4K:1M:8K".parse::<Range>(),
            Ok(Range {
                src: 4096,
                dst: 1 << 20,
                len: 8192
            })
        );
        assert!("4K:1M".parse::<Range>().is_err());
        assert!("0:0:0".parse::<Range>().is_err());
        let file = "# copies\n0:1M:4K\n\n8K:2M:4K # second\n";
        assert_eq!(parse_file(file).map(|r| r.len()), Ok(2));
        assert!(parse_file("0:1M:4K\nbogus\n")
            .unwrap_err()
            .starts_with("line 2"));
    }

    #[test]
    fn steps_cover_all_bytes_in_order() {
        let ranges = [
            Range {
                src: 0,
                dst: 100 << 20,
                len: 3 << 20,
            },
            Range {
                src: 10 << 20,
                dst: 200 << 20,
                len: 1 << 20,
            },
        ];
        let steps = steps(&ranges, 2 << 20);
        assert_eq!(steps.len(), 2);
        let flat: Vec<Range> = steps.concat();
        assert_eq!(
            flat[0],
            Range {
                src: 0,
                dst: 100 << 20,
                len: 2 << 20
            }
        );
        assert_eq!(
            flat[1],
            Range {
                src: 2 << 20,
                dst: 102 << 20,
                len: 1 << 20
            }
        );
        assert_eq!(flat[2], ranges[1]);
    }
}
