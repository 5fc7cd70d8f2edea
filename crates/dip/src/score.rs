//! Fixed-point decimals for scores, ratios and coefficients.
//!
//! DIP scores (分值) are published with up to four decimals. [`Fixed`] stores a value
//! in ten-thousandths (`1.2345` is `12345`), so arithmetic is exact integer
//! arithmetic and rounding happens only where a function says so: always
//! *half away from zero* to the nearest 0.0001. Money never goes through this type;
//! money is [`claims::Fen`].

use std::fmt;

/// Ten-thousandths per unit.
pub const SCALE: i64 = 10_000;

/// A decimal with exactly four fractional digits (a score, a ratio or a coefficient).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fixed(pub i64);

/// Why a decimal could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a decimal with at most four fractional digits: {0:?}")]
pub struct FixedError(pub String);

/// `num / den` rounded half away from zero. `den` must not be zero.
pub fn div_round(num: i128, den: i128) -> i128 {
    debug_assert!(den != 0);
    let (n, d) = if den < 0 { (-num, -den) } else { (num, den) };
    if n >= 0 {
        (n + d / 2) / d
    } else {
        -((-n + d / 2) / d)
    }
}

impl Fixed {
    pub const ZERO: Fixed = Fixed(0);
    pub const ONE: Fixed = Fixed(SCALE);

    /// A whole number.
    pub const fn from_int(v: i64) -> Fixed {
        Fixed(v * SCALE)
    }

    /// `num / den` as a fixed-point value, rounded half away from zero.
    pub fn ratio(num: i128, den: i128) -> Fixed {
        Fixed(div_round(num * SCALE as i128, den) as i64)
    }

    /// `self × other`, rounded half away from zero to four decimals.
    pub fn mul_round(self, other: Fixed) -> Fixed {
        Fixed(div_round(self.0 as i128 * other.0 as i128, SCALE as i128) as i64)
    }

    /// The value as `f64` (for reports and statistics only, never for money).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }

    /// Nearest fixed-point value to a float (for parameters given as floats).
    pub fn from_f64(v: f64) -> Fixed {
        Fixed((v * SCALE as f64).round() as i64)
    }

    /// Parse `12`, `12.5`, `-0.0625`, `1,000.25`. More than four fractional digits are
    /// accepted only when the extra digits are zeros: nothing is silently rounded.
    pub fn parse(s: &str) -> Result<Fixed, FixedError> {
        let err = || FixedError(s.chars().take(40).collect());
        let t = s.trim();
        let (neg, body) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            Some(_) => (false, t),
            None => return Err(err()),
        };
        let (int_part, frac) = body.split_once('.').unwrap_or((body, ""));
        if int_part.is_empty() && frac.is_empty() {
            return Err(err());
        }
        let mut v: i64 = 0;
        for b in int_part.bytes() {
            match b {
                b'0'..=b'9' => {
                    v = v
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(i64::from(b - b'0')))
                        .ok_or_else(err)?
                }
                b',' => {}
                _ => return Err(err()),
            }
        }
        let mut f: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            if !b.is_ascii_digit() {
                return Err(err());
            }
            if i < 4 {
                f = f * 10 + i64::from(b - b'0');
            } else if b != b'0' {
                return Err(err());
            }
        }
        for _ in frac.len().min(4)..4 {
            f *= 10;
        }
        let total = v
            .checked_mul(SCALE)
            .and_then(|v| v.checked_add(f))
            .ok_or_else(err)?;
        Ok(Fixed(if neg { -total } else { total }))
    }
}

impl fmt::Display for Fixed {
    /// Four decimals: `1000.0000`, `-0.0625`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:04}", a / SCALE as u64, a % SCALE as u64)
    }
}

impl serde::Serialize for Fixed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fixed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Fixed, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Repr {
            S(String),
            I(i64),
            F(f64),
        }
        match Repr::deserialize(d)? {
            Repr::S(s) => Fixed::parse(&s).map_err(serde::de::Error::custom),
            Repr::I(i) => Ok(Fixed::from_int(i)),
            Repr::F(f) => Ok(Fixed::from_f64(f)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let table: &[(&str, Option<i64>)] = &[
            ("1000", Some(10_000_000)),
            ("12.5", Some(125_000)),
            ("0.0001", Some(1)),
            ("-0.0625", Some(-625)),
            ("1,000.25", Some(10_002_500)),
            ("1.23450", Some(12_345)),
            ("1.23456", None),
            ("", None),
            ("abc", None),
            (".", None),
        ];
        for (s, want) in table {
            assert_eq!(Fixed::parse(s).ok().map(|f| f.0), *want, "{s}");
        }
        for v in [0, 1, -1, 9999, 10_000, 123_456_789] {
            assert_eq!(Fixed::parse(&Fixed(v).to_string()), Ok(Fixed(v)));
        }
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(4, 3), 1);
        assert_eq!(div_round(5, -2), -3);
        assert_eq!(Fixed::ratio(1, 3), Fixed(3333));
        assert_eq!(Fixed::ratio(2, 3), Fixed(6667));
        assert_eq!(Fixed(15_000).mul_round(Fixed(3333)), Fixed(5000)); // 1.5 × 0.3333 = 0.49995 → 0.5000
    }
}
