// SPDX-License-Identifier: GPL-2.0

//! Block stamps: every logical block the tester writes says which write produced it.
//!
//! The first 16 bytes of a stamped block hold the index of the device block it was written to
//! (its origin) and the write generation (the number of the op that wrote it, 0 for the initial
//! pattern), both little-endian; the rest is derived from the run's seed and those two numbers.
//! Reading any block back therefore tells whether it holds zeroes, the data of a known write
//! (wherever copies moved it since), or something the tester never wrote.

use crate::rng::{mix, Rng};

/// What one logical block holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Content {
    /// All zeroes (after a discard).
    Zero,
    /// The data written by write `gen` to device block `origin`.
    Stamp { origin: u64, gen: u64 },
}

/// What a block read from the device turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Content the tester knows.
    Known(Content),
    /// Anything else; the header's two numbers as read.
    Unknown { origin: u64, gen: u64 },
}

/// Fills `buf` (one logical block) with `content` for a run with `seed`.
pub fn fill(buf: &mut [u8], content: Content, seed: u64) {
    let Content::Stamp { origin, gen } = content else {
        buf.fill(0);
        return;
    };
    let mut rng = Rng::new(mix(seed ^ mix(origin ^ mix(gen))));
    buf[..8].copy_from_slice(&origin.to_le_bytes());
    buf[8..16].copy_from_slice(&gen.to_le_bytes());
    for chunk in buf[16..].chunks_mut(8) {
        let word = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// Fills `buf`, a whole number of blocks of `bs` bytes, with consecutive `contents`.
pub fn fill_blocks(buf: &mut [u8], bs: usize, contents: impl Iterator<Item = Content>, seed: u64) {
    for (block, content) in buf.chunks_mut(bs).zip(contents) {
        fill(block, content, seed);
    }
}

/// Identifies the block `buf`; `scratch` is a buffer of the same length.
pub fn decode(buf: &[u8], seed: u64, scratch: &mut [u8]) -> Found {
    if buf.iter().all(|&b| b == 0) {
        return Found::Known(Content::Zero);
    }
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let (origin, gen) = (word(0), word(8));
    fill(scratch, Content::Stamp { origin, gen }, seed);
    if scratch == buf {
        Found::Known(Content::Stamp { origin, gen })
    } else {
        Found::Unknown { origin, gen }
    }
}

/// Describes `content` for a report.
pub fn describe(content: Content) -> String {
    match content {
        Content::Zero => "zeroes".into(),
        Content::Stamp { origin, gen: 0 } => format!("initial pattern of block {origin}"),
        Content::Stamp { origin, gen } => format!("data of op #{gen} (written to block {origin})"),
    }
}

/// Describes what was found.
pub fn describe_found(found: Found) -> String {
    match found {
        Found::Known(c) => describe(c),
        Found::Unknown { origin, gen } => {
            format!("unknown data (header says block {origin}, op #{gen}; the rest differs)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_differ() {
        let mut a = vec![0u8; 512];
        let mut scratch = vec![0u8; 512];
        let c = Content::Stamp { origin: 9, gen: 3 };
        fill(&mut a, c, 1);
        assert_eq!(decode(&a, 1, &mut scratch), Found::Known(c));
        // Another seed's data, or a torn block, is not recognized.
        assert!(matches!(decode(&a, 2, &mut scratch), Found::Unknown { .. }));
        a[100] ^= 1;
        assert_eq!(
            decode(&a, 1, &mut scratch),
            Found::Unknown { origin: 9, gen: 3 }
        );
        let mut b = vec![0u8; 512];
        fill(&mut b, Content::Stamp { origin: 9, gen: 4 }, 1);
        assert_ne!(a[16..], b[16..]);
        fill(&mut b, Content::Zero, 1);
        assert_eq!(decode(&b, 1, &mut scratch), Found::Known(Content::Zero));
    }
}
