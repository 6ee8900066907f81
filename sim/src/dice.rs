//! Dice notation and rolling.
//!
//! Rolls use the raw 32-bit output of the room's ChaCha8 generator and our
//! own range reduction (below), never a library distribution whose algorithm
//! could change between versions and silently change every replay.

use rand_core::Rng;
use std::fmt;
use tickroom_protocol::{ErrorBody, ErrorCode};

/// Largest absolute modifier in `NdS±M`.
pub const MAX_MODIFIER: i32 = 1_000_000;

/// A parsed roll: `count` dice of `sides` sides plus `modifier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiceSpec {
    pub count: u16,
    pub sides: u32,
    pub modifier: i32,
}

fn invalid(notation: &str, why: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::InvalidArgument,
        format!("bad dice notation {notation:?}: {why}"),
    )
    .with("field", "notation")
}

fn number<T: std::str::FromStr>(notation: &str, digits: &str, what: &str) -> Result<T, ErrorBody> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(notation, &format!("{what} must be a number")));
    }
    digits
        .parse()
        .map_err(|_| invalid(notation, &format!("{what} is too large")))
}

impl DiceSpec {
    /// Parses `NdS`, `dS` (one die), `NdS+M` or `NdS-M` (case-insensitive `d`,
    /// no inner spaces) within `1..=max_dice` dice of `2..=max_sides` sides.
    pub fn parse(notation: &str, max_dice: u16, max_sides: u32) -> Result<DiceSpec, ErrorBody> {
        let s = notation.trim();
        let (count, rest) = s
            .split_once(['d', 'D'])
            .ok_or_else(|| invalid(notation, "expected NdS, e.g. 2d6+1"))?;
        let count: u16 = if count.is_empty() {
            1
        } else {
            number(notation, count, "dice count")?
        };
        let (sides, modifier) = match rest.find(['+', '-']) {
            Some(i) => {
                let m: i32 = number(notation, &rest[i + 1..], "modifier")?;
                let m = if rest.as_bytes()[i] == b'-' { -m } else { m };
                (&rest[..i], m)
            }
            None => (rest, 0),
        };
        let sides: u32 = number(notation, sides, "sides")?;
        if !(1..=max_dice).contains(&count) {
            return Err(
                invalid(notation, &format!("dice count must be 1..={max_dice}"))
                    .with("max_dice", u32::from(max_dice)),
            );
        }
        if !(2..=max_sides).contains(&sides) {
            return Err(invalid(notation, &format!("sides must be 2..={max_sides}"))
                .with("max_sides", max_sides));
        }
        if modifier.abs() > MAX_MODIFIER {
            return Err(invalid(
                notation,
                &format!("modifier must be within ±{MAX_MODIFIER}"),
            ));
        }
        Ok(DiceSpec {
            count,
            sides,
            modifier,
        })
    }

    /// Rolls every die, in order.
    pub fn roll<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<u32> {
        (0..self.count)
            .map(|_| 1 + uniform_below(rng, self.sides))
            .collect()
    }

    pub fn total(&self, rolls: &[u32]) -> i64 {
        rolls.iter().map(|&r| i64::from(r)).sum::<i64>() + i64::from(self.modifier)
    }

    /// Smallest and largest possible totals.
    pub fn bounds(&self) -> (i64, i64) {
        let n = i64::from(self.count);
        let m = i64::from(self.modifier);
        (n + m, n * i64::from(self.sides) + m)
    }
}

impl fmt::Display for DiceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}d{}", self.count, self.sides)?;
        match self.modifier {
            0 => Ok(()),
            m if m > 0 => write!(f, "+{m}"),
            m => write!(f, "{m}"),
        }
    }
}

/// A uniform integer in `0..n` (`n > 0`) from raw 32-bit outputs.
///
/// Multiply-shift reduction (Lemire, "Fast Random Integer Generation in an
/// Interval", 2019): the high half of `x * n` is the result; outputs whose
/// low half falls below `2^32 mod n` would over-represent some results and
/// are drawn again, so every result is exactly equally likely.
pub fn uniform_below<R: Rng + ?Sized>(rng: &mut R, n: u32) -> u32 {
    debug_assert!(n > 0);
    let mut m = u64::from(rng.next_u32()) * u64::from(n);
    if (m as u32) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u32) < threshold {
            m = u64::from(rng.next_u32()) * u64::from(n);
        }
    }
    (m >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    fn parse(s: &str) -> Result<DiceSpec, ErrorBody> {
        DiceSpec::parse(s, 100, 1000)
    }

    #[test]
    fn parses_the_notation() {
        assert_eq!(
            parse("2d6+1").unwrap(),
            DiceSpec {
                count: 2,
                sides: 6,
                modifier: 1
            }
        );
        assert_eq!(parse("d20").unwrap().count, 1);
        assert_eq!(parse(" 3D8-2 ").unwrap().modifier, -2);
        assert_eq!(parse("3D8-2").unwrap().to_string(), "3d8-2");
    }

    #[test]
    fn rejects_bad_notation_with_invalid_argument() {
        for bad in [
            "",
            "d",
            "2d",
            "2x6",
            "0d6",
            "101d6",
            "2d1",
            "2d1001",
            "2d6+",
            "2d6+x",
            "-2d6",
            "2d6+1+1",
            "99999999999d6",
            "2d6+2000000",
            "2 d6",
        ] {
            let err = parse(bad).expect_err(bad);
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn rolls_stay_in_range_and_totals_within_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let spec = parse("5d7-3").unwrap();
        for _ in 0..1000 {
            let rolls = spec.roll(&mut rng);
            assert_eq!(rolls.len(), 5);
            assert!(rolls.iter().all(|r| (1..=7).contains(r)));
            let (lo, hi) = spec.bounds();
            assert!((lo..=hi).contains(&spec.total(&rolls)));
        }
    }

    #[test]
    fn same_seed_same_rolls_other_seed_other_rolls() {
        let spec = parse("20d20").unwrap();
        let a = spec.roll(&mut ChaCha8Rng::seed_from_u64(9));
        let b = spec.roll(&mut ChaCha8Rng::seed_from_u64(9));
        let c = spec.roll(&mut ChaCha8Rng::seed_from_u64(10));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// Chi-square test of uniformity for a d6 and for a die whose side count
    /// does not divide 2^32 evenly by a wide margin (3·10^9 sides would be
    /// worst; 6 and 1000 exercise the rejection path's threshold logic).
    #[test]
    fn reduction_is_uniform() {
        for sides in [6u32, 7, 1000] {
            let mut rng = ChaCha8Rng::seed_from_u64(u64::from(sides));
            let draws = 200 * sides as usize;
            let mut counts = vec![0u32; sides as usize];
            for _ in 0..draws {
                counts[uniform_below(&mut rng, sides) as usize] += 1;
            }
            let expected = draws as f64 / f64::from(sides);
            let chi2: f64 = counts
                .iter()
                .map(|&c| (f64::from(c) - expected).powi(2) / expected)
                .sum();
            // Degrees of freedom k = sides - 1; chi2 stays within mean + 5·sd.
            let k = f64::from(sides - 1);
            assert!(
                chi2 < k + 5.0 * (2.0 * k).sqrt(),
                "sides {sides}: chi2 {chi2}"
            );
        }
    }

    /// Replays fixed raw outputs, to drive the reduction down exact paths.
    struct Scripted(Vec<u32>);

    impl rand_core::TryRng for Scripted {
        type Error = std::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(self.0.remove(0))
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            unreachable!("dice use 32-bit outputs only")
        }
        fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Self::Error> {
            unreachable!("dice use 32-bit outputs only")
        }
    }

    /// For n = 6, 2^32 mod 6 = 4: the raw outputs whose product with 6 has a
    /// low half below 4 (0 is one) fall in the over-represented zone and must
    /// be drawn again; a plain multiply-shift or modulo would return 0.
    #[test]
    fn outputs_in_the_biased_zone_are_drawn_again() {
        let mut rng = Scripted(vec![0, u32::MAX]);
        assert_eq!(uniform_below(&mut rng, 6), 5);
        assert!(rng.0.is_empty(), "both outputs were used");
        // Just above the zone: accepted at once.
        let mut rng = Scripted(vec![1, 7]);
        assert_eq!(uniform_below(&mut rng, 6), 0);
        assert_eq!(rng.0, vec![7]);
    }

    /// With n = 2^31 + 1, almost half of all raw outputs must be rejected;
    /// the result must still be below n and roughly uniform between halves.
    #[test]
    fn reduction_handles_the_worst_case_modulus() {
        let n = (1u32 << 31) + 1;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut low = 0;
        for _ in 0..10_000 {
            let v = uniform_below(&mut rng, n);
            assert!(v < n);
            if v < n / 2 {
                low += 1;
            }
        }
        assert!((4_700..5_300).contains(&low), "{low}");
    }
}
