//! Exact money: integer fen (分). Never floating point.

use std::fmt;

/// An amount of money in fen (1 yuan = 100 fen). Signed so that refunds and
/// deductions can be represented; the QC rules reject negative amounts on a
/// settlement list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fen(pub i64);

/// Why a money string could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("empty amount")]
    Empty,
    #[error("not a decimal amount in yuan")]
    NotANumber,
    #[error("more than two decimal places (finer than one fen)")]
    SubFen,
    #[error("amount out of range")]
    Overflow,
}

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// Parse a yuan amount such as `1234.5`, `-0.01`, `+12`, `1,234.56` or
    /// `１２.５` is *not* accepted here (callers normalise width first).
    /// Extra trailing zeros beyond two decimals are accepted (`1.500`), other
    /// sub-fen digits are an error: money is never silently rounded.
    pub fn parse_yuan(s: &str) -> Result<Fen, MoneyError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        let (neg, body) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (int_part, frac_part) = match body.find('.') {
            Some(i) => (&body[..i], &body[i + 1..]),
            None => (body, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(MoneyError::NotANumber);
        }
        let mut yuan: i64 = 0;
        let mut digits = 0usize;
        for b in int_part.bytes() {
            match b {
                b'0'..=b'9' => {
                    digits += 1;
                    yuan = yuan
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(i64::from(b - b'0')))
                        .ok_or(MoneyError::Overflow)?;
                }
                b',' if digits > 0 => {}
                _ => return Err(MoneyError::NotANumber),
            }
        }
        let mut fen: i64 = 0;
        for (i, b) in frac_part.bytes().enumerate() {
            if !b.is_ascii_digit() {
                return Err(MoneyError::NotANumber);
            }
            let d = i64::from(b - b'0');
            match i {
                0 => fen += d * 10,
                1 => fen += d,
                _ if d == 0 => {}
                _ => return Err(MoneyError::SubFen),
            }
        }
        let total = yuan
            .checked_mul(100)
            .and_then(|v| v.checked_add(fen))
            .ok_or(MoneyError::Overflow)?;
        Ok(Fen(if neg { -total } else { total }))
    }

    pub fn yuan_string(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Fen {
    /// Yuan with exactly two decimals: `1234.50`, `-0.01`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        let sign = if v < 0 { "-" } else { "" };
        let a = v.unsigned_abs();
        write!(f, "{sign}{}.{:02}", a / 100, a % 100)
    }
}

impl std::ops::Add for Fen {
    type Output = Fen;
    fn add(self, o: Fen) -> Fen {
        Fen(self.0 + o.0)
    }
}

impl std::ops::Sub for Fen {
    type Output = Fen;
    fn sub(self, o: Fen) -> Fen {
        Fen(self.0 - o.0)
    }
}

impl std::iter::Sum for Fen {
    fn sum<I: Iterator<Item = Fen>>(it: I) -> Fen {
        Fen(it.map(|f| f.0).sum())
    }
}

impl serde::Serialize for Fen {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads what [`serde::Serialize`] writes: yuan as a string with at most two decimals.
impl<'de> serde::Deserialize<'de> for Fen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Fen, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Fen::parse_yuan(&s).map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_round_trip() {
        for f in [Fen(0), Fen(-1), Fen(123_450), Fen(i64::MAX / 1000)] {
            let j = serde_json::to_string(&f).unwrap();
            assert_eq!(serde_json::from_str::<Fen>(&j).unwrap(), f, "{j}");
        }
        assert!(serde_json::from_str::<Fen>("\"1.234\"").is_err());
    }

    #[test]
    fn parse_table() {
        let table: &[(&str, Result<i64, MoneyError>)] = &[
            ("0", Ok(0)),
            ("12", Ok(1200)),
            ("12.3", Ok(1230)),
            ("12.34", Ok(1234)),
            ("12.340", Ok(1234)),
            ("-0.01", Ok(-1)),
            ("+5.5", Ok(550)),
            (".5", Ok(50)),
            ("1,234.56", Ok(123456)),
            (" 7.00 ", Ok(700)),
            ("12.345", Err(MoneyError::SubFen)),
            ("", Err(MoneyError::Empty)),
            ("abc", Err(MoneyError::NotANumber)),
            ("1e5", Err(MoneyError::NotANumber)),
            (".", Err(MoneyError::NotANumber)),
            ("-", Err(MoneyError::NotANumber)),
            ("99999999999999999999", Err(MoneyError::Overflow)),
        ];
        for (input, want) in table {
            assert_eq!(Fen::parse_yuan(input).map(|f| f.0), *want, "input {input:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for v in [0i64, 1, -1, 99, 100, 123456, -123456, i64::MAX / 1000] {
            let s = Fen(v).to_string();
            assert_eq!(Fen::parse_yuan(&s), Ok(Fen(v)), "{s}");
        }
    }
}
