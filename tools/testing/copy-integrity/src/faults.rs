// SPDX-License-Identifier: GPL-2.0

//! Injected faults (`--faults`): which failures the kernel may answer an op with while it fails
//! allocations and bios on purpose, and the count of those failures for the summary.
//!
//! The caller sets up failslab, fail_page_alloc and fail_make_request with a task filter; the
//! tester turns `make-it-fail` on for its own thread around each call under test only (see
//! `Device::inject`), so that its checks and its own memory management never fail. An op that
//! fails with an errno the faults explain is then checked against what it reports instead of
//! what it was asked: see `runner::Runner::run`.

use std::io;

use blkcopy::range::Range;

/// What kind of call failed, which decides the errnos injected faults explain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// A read, write, discard, copy_file_range() or BLKCOPY that may copy in the kernel: a
    /// failed bio gives EIO, a failed allocation ENOMEM.
    Io,
    /// A BLKCOPY with BLKCOPY_OFFLOAD_ONLY: besides EIO and ENOMEM, EOPNOTSUPP when a fault
    /// stopped the offload and the call may not fall back to copying in the kernel.
    OffloadOnly,
    /// A deliberately invalid copy: it issues no I/O, so only an allocation made before the
    /// arguments were checked can fail it, with ENOMEM.
    Invalid,
}

/// The errno of `e` when injected faults explain it for `call`.
pub fn injected(e: &io::Error, call: Call) -> Option<i32> {
    let n = e.raw_os_error()?;
    let explained = match call {
        Call::Io => n == libc::EIO || n == libc::ENOMEM,
        Call::OffloadOnly => n == libc::EIO || n == libc::ENOMEM || n == libc::EOPNOTSUPP,
        Call::Invalid => n == libc::ENOMEM,
    };
    explained.then_some(n)
}

/// Checks the `copied` a failed BLKCOPY reported for each of `ranges`: whole blocks of `bs`
/// bytes, at most the range, and the ranges copied in order (each range before the first short
/// one copied whole, none after it copied at all), as include/uapi/linux/blk-copy.h promises.
pub fn check_copied(ranges: &[Range], copied: &[u64], bs: u64) -> Result<(), String> {
    if copied.len() != ranges.len() {
        return Err(format!(
            "{} copied counts for {} ranges",
            copied.len(),
            ranges.len()
        ));
    }
    let mut short = None;
    for (k, (r, &c)) in ranges.iter().zip(copied).enumerate() {
        if c > r.len || !c.is_multiple_of(bs) {
            return Err(format!(
                "range {}:{}:{} copied {c}: not whole blocks of the range",
                r.src, r.dst, r.len
            ));
        }
        if let Some(s) = short {
            if c > 0 {
                return Err(format!(
                    "range {k} copied {c} after range {s} stopped short: not in order"
                ));
            }
        } else if c < r.len {
            short = Some(k);
        }
    }
    Ok(())
}

/// Ops that failed with an errno injected faults explain, by errno.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failures {
    pub eio: u64,
    pub enomem: u64,
    pub eopnotsupp: u64,
    /// Copies among them that had copied part of their ranges when they failed: BLKCOPY with
    /// a `copied` above 0, or copy_file_range() after a short return.
    pub partial: u64,
}

impl Failures {
    /// All failures.
    pub fn total(&self) -> u64 {
        self.eio + self.enomem + self.eopnotsupp
    }

    /// Counts a failure with `errno` (one `injected` returned), `partial` when a copy had
    /// copied part of it.
    pub fn count(&mut self, errno: i32, partial: bool) {
        match errno {
            libc::EIO => self.eio += 1,
            libc::ENOMEM => self.enomem += 1,
            _ => self.eopnotsupp += 1,
        }
        self.partial += u64::from(partial);
    }

    /// The key=value pairs of the summary line.
    pub fn summary(&self) -> String {
        format!(
            "failed={} failed_eio={} failed_enomem={} failed_eopnotsupp={} failed_partial={}",
            self.total(),
            self.eio,
            self.enomem,
            self.eopnotsupp,
            self.partial
        )
    }
}

impl std::ops::AddAssign for Failures {
    fn add_assign(&mut self, o: Failures) {
        self.eio += o.eio;
        self.enomem += o.enomem;
        self.eopnotsupp += o.eopnotsupp;
        self.partial += o.partial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(n: i32) -> io::Error {
        io::Error::from_raw_os_error(n)
    }

    #[test]
    fn errnos_faults_explain() {
        for call in [Call::Io, Call::OffloadOnly] {
            assert_eq!(injected(&err(libc::EIO), call), Some(libc::EIO));
            assert_eq!(injected(&err(libc::ENOMEM), call), Some(libc::ENOMEM));
        }
        assert_eq!(
            injected(&err(libc::EOPNOTSUPP), Call::OffloadOnly),
            Some(libc::EOPNOTSUPP)
        );
        // A copy that may fall back never gives up with EOPNOTSUPP; an invalid copy issues no
        // I/O; no fault explains EFAULT, EINVAL, EINTR or an error without an errno.
        assert_eq!(injected(&err(libc::EOPNOTSUPP), Call::Io), None);
        assert_eq!(injected(&err(libc::EIO), Call::Invalid), None);
        assert_eq!(
            injected(&err(libc::ENOMEM), Call::Invalid),
            Some(libc::ENOMEM)
        );
        for n in [
            libc::EFAULT,
            libc::EINVAL,
            libc::EINTR,
            libc::EAGAIN,
            libc::ENOSPC,
        ] {
            for call in [Call::Io, Call::OffloadOnly, Call::Invalid] {
                assert_eq!(injected(&err(n), call), None, "errno {n}, {call:?}");
            }
        }
        assert_eq!(injected(&io::Error::other("x"), Call::Io), None);
    }

    #[test]
    fn copied_must_be_an_in_order_prefix() {
        let r = |src, dst, len| Range { src, dst, len };
        let ranges = [r(0, 8192, 4096), r(4096, 16384, 8192), r(0, 32768, 4096)];
        for good in [
            [0, 0, 0],
            [4096, 4096, 0],
            [4096, 8192, 4096],
            [4096, 8192, 0],
        ] {
            assert_eq!(check_copied(&ranges, &good, 4096), Ok(()), "{good:?}");
        }
        for bad in [
            [0, 4096, 0],
            [4096, 0, 4096],
            [2048, 0, 0],
            [8192, 0, 0],
            [4096, 4096, 4096],
        ] {
            assert!(check_copied(&ranges, &bad, 4096).is_err(), "{bad:?}");
        }
        assert!(check_copied(&ranges, &[0, 0], 4096).is_err());
        // 512-byte blocks: a copy may stop at any of them.
        assert_eq!(check_copied(&ranges, &[3584, 0, 0], 512), Ok(()));
    }

    #[test]
    fn counts_and_summary() {
        let mut f = Failures::default();
        f.count(libc::EIO, false);
        f.count(libc::ENOMEM, true);
        f.count(libc::EOPNOTSUPP, true);
        let mut all = Failures::default();
        all += f;
        all += f;
        assert_eq!(all.total(), 6);
        assert_eq!(
            all.summary(),
            "failed=6 failed_eio=2 failed_enomem=2 failed_eopnotsupp=2 failed_partial=4"
        );
    }
}
