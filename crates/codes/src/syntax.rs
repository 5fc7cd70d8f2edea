//! Syntactic helpers that work without a dictionary: code shape checks, categories,
//! and dagger/asterisk pair handling.
//!
//! All functions here expect codes in canonical form (see [`normalize`](crate::normalize));
//! they do not normalise by themselves, so they never allocate and can return
//! sub-slices of their input.

/// The two halves of a code: for a dagger/asterisk pair `A01.000x005+J17.0*` the
/// etiology (dagger) part `A01.000x005` and the manifestation (asterisk) part `J17.0*`;
/// for any other code the code itself and `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeParts<'a> {
    /// The primary (dagger) code, or the whole code when it is not a pair.
    pub primary: &'a str,
    /// The asterisk half of a pair, including its trailing `*`.
    pub asterisk: Option<&'a str>,
}

/// Splits a code at its `+` into [`CodeParts`].
///
/// ```
/// let p = codes::parts("A01.000x005+J17.0*");
/// assert_eq!((p.primary, p.asterisk), ("A01.000x005", Some("J17.0*")));
/// assert_eq!(codes::parts("K35.800").asterisk, None);
/// ```
pub fn parts(code: &str) -> CodeParts<'_> {
    match code.split_once('+') {
        Some((primary, asterisk)) => CodeParts {
            primary,
            asterisk: Some(asterisk),
        },
        None => CodeParts {
            primary: code,
            asterisk: None,
        },
    }
}

/// Whether the code is a dagger/asterisk pair (`A01.000x005+J17.0*`).
pub fn is_pair(code: &str) -> bool {
    code.contains('+')
}

/// Whether the code is an asterisk (manifestation) code on its own: it ends with `*`
/// and is not a pair. A pair as a whole is *not* an asterisk code, its second half is:
///
/// ```
/// assert!(codes::is_asterisk("J17.0*"));
/// assert!(!codes::is_asterisk("A01.000x005+J17.0*"));
/// assert!(codes::is_asterisk(codes::parts("A01.000x005+J17.0*").asterisk.unwrap()));
/// assert!(!codes::is_asterisk("J17.0"));
/// ```
pub fn is_asterisk(code: &str) -> bool {
    code.ends_with('*') && !is_pair(code)
}

/// Whether the code contains an asterisk code, standalone or as the half of a pair.
pub fn has_asterisk(code: &str) -> bool {
    code.ends_with('*')
}

/// The category of a code: for a diagnosis the 3-character category (`K35` of
/// `K35.800x001`), for a procedure the 2-digit category (`33` of `33.6x00`). For a pair
/// the category of its primary half. `None` when the code has neither shape.
///
/// ```
/// assert_eq!(codes::category("K35.800x001"), Some("K35"));
/// assert_eq!(codes::category("A01.000x005+J17.0*"), Some("A01"));
/// assert_eq!(codes::category("33.6x00"), Some("33"));
/// assert_eq!(codes::category("??"), None);
/// ```
pub fn category(code: &str) -> Option<&str> {
    let code = parts(code).primary;
    let b = code.as_bytes();
    if is_dx_category(b) && matches!(b.get(3), None | Some(b'.' | b'*' | b'x')) {
        code.get(..3)
    } else if b.len() >= 2
        && b[0].is_ascii_digit()
        && b[1].is_ascii_digit()
        && matches!(b.get(2), None | Some(b'.'))
    {
        code.get(..2)
    } else {
        None
    }
}

/// The subcategory of a code: category, dot and the first character after the dot
/// (`K35.8` of `K35.800x001`, `33.6` of `33.6x00`). A placeholder `x` is kept
/// (`A33.x` of `A33.x00`) so the result is always a prefix of the code. `None` when
/// the code has no subdivision (`G01*`) or is not code-shaped.
///
/// ```
/// assert_eq!(codes::subcategory("K35.800x001"), Some("K35.8"));
/// assert_eq!(codes::subcategory("33.6x00"), Some("33.6"));
/// assert_eq!(codes::subcategory("A33.x00"), Some("A33.x"));
/// assert_eq!(codes::subcategory("K35"), None);
/// ```
pub fn subcategory(code: &str) -> Option<&str> {
    let primary = parts(code).primary;
    let cat = category(primary)?;
    let b = primary.as_bytes();
    let n = cat.len();
    match (b.get(n), b.get(n + 1)) {
        (Some(b'.'), Some(c)) if c.is_ascii_digit() || *c == b'x' => primary.get(..n + 2),
        _ => None,
    }
}

/// Whether the code has the syntax of an ICD-10 医保版 diagnosis code: a single code
/// (`K35.800`, `A01.000x004`, `A33.x00`, `G01*`, `J17.0*`) or a dagger/asterisk pair
/// (`A01.000x005+J17.0*`) whose second half ends in `*`. Does not consult a dictionary.
///
/// ```
/// assert!(codes::looks_like_diagnosis("A01.000x005+J17.0*"));
/// assert!(codes::looks_like_diagnosis("K35.800"));
/// assert!(!codes::looks_like_diagnosis("33.6x00"));
/// assert!(!codes::looks_like_diagnosis("K35.800+J17.0")); // asterisk half lacks `*`
/// ```
pub fn looks_like_diagnosis(code: &str) -> bool {
    match code.split_once('+') {
        Some((dagger, asterisk)) => {
            dx_core(dagger.as_bytes())
                && asterisk
                    .strip_suffix('*')
                    .is_some_and(|a| dx_core(a.as_bytes()))
        }
        None => dx_core(code.strip_suffix('*').unwrap_or(code).as_bytes()),
    }
}

/// Whether the code has the syntax of an ICD-9-CM-3 医保版 procedure code: two digits,
/// optionally a dot and 1..=10 characters (digits and the placeholder/extension `x`)
/// that start and end with a digit; an upper-case letter is allowed only just before
/// the final digit (TCM procedures such as `17.912A0`). Examples: `33.6x00`,
/// `00.5500x008`, `86.700x0013`, `17.912A0`, `33`. Does not consult a dictionary.
pub fn looks_like_procedure(code: &str) -> bool {
    let b = code.as_bytes();
    if b.len() < 2 || !b[0].is_ascii_digit() || !b[1].is_ascii_digit() {
        return false;
    }
    match &b[2..] {
        [] => true,
        [b'.', rest @ ..] => {
            (1..=10).contains(&rest.len())
                && rest.first().is_some_and(u8::is_ascii_digit)
                && rest.last().is_some_and(u8::is_ascii_digit)
                && rest.iter().enumerate().all(|(i, c)| {
                    c.is_ascii_digit()
                        || *c == b'x'
                        || (c.is_ascii_uppercase() && i + 2 == rest.len())
                })
        }
        _ => false,
    }
}

/// `[A-Z][0-9][0-9]` at the start of `b` (ICD-10 category).
fn is_dx_category(b: &[u8]) -> bool {
    b.len() >= 3 && b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[2].is_ascii_digit()
}

/// One diagnosis code without `*`: `A99`, `A99.9`, `A99.99`, `A99.999`, with a
/// placeholder `x` allowed as first subdivision character, and an extension `x999`
/// (3 or 4 digits) after a full 3-character subdivision.
fn dx_core(b: &[u8]) -> bool {
    if !is_dx_category(b) {
        return false;
    }
    let rest = &b[3..];
    let Some(sub) = rest.strip_prefix(b".") else {
        return rest.is_empty();
    };
    let sub_len = sub
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b'x')
        .count();
    let (head, ext) = sub.split_at(sub_len.min(3));
    let head_ok = !head.is_empty()
        && (head[0].is_ascii_digit() || head[0] == b'x')
        && head[1..].iter().all(u8::is_ascii_digit);
    let ext_ok = match ext {
        [] => true,
        [b'x', digits @ ..] => {
            head.len() == 3
                && (3..=4).contains(&digits.len())
                && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    head_ok && ext_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnosis_shapes() {
        let yes = [
            "A00.000",
            "A00.000x001",
            "A33.x00",
            "A35.x00x001",
            "A01.002+G01*",
            "A01.000x005+J17.0*",
            "A33.x00+G01.9*",
            "J17.0*",
            "G01*",
            "K35",
            "K35.8",
        ];
        let no = [
            "",
            "A0",
            "a00.000",
            "A00.",
            "A00.000x01",
            "A00.000X001",
            "00.5500",
            "A00.000+J17.0",
            "A00.000+",
            "C22.101M81600/3",
            "A00.0x0",
            "A00.000x001x001",
            "AA0.000",
        ];
        for c in yes {
            assert!(looks_like_diagnosis(c), "{c}");
        }
        for c in no {
            assert!(!looks_like_diagnosis(c), "{c}");
        }
    }

    #[test]
    fn procedure_shapes() {
        let yes = [
            "00.0100",
            "00.5500x008",
            "01.6x00",
            "01.6x01x001",
            "86.700x0013",
            "17.912A0",
            "17.91100",
            "33",
            "33.6",
        ];
        let no = [
            "",
            "3",
            "33.",
            "17.91A00",
            "A01.000",
            "33.6x",
            "33.6X00",
            "33.x600",
            "3a.1",
            "33.60000000000",
        ];
        for c in yes {
            assert!(looks_like_procedure(c), "{c}");
        }
        for c in no {
            assert!(!looks_like_procedure(c), "{c}");
        }
    }

    #[test]
    fn categories() {
        let cases: &[(&str, Option<&str>, Option<&str>)] = &[
            ("K35.800x001", Some("K35"), Some("K35.8")),
            ("K35", Some("K35"), None),
            ("G01*", Some("G01"), None),
            ("A33.x00", Some("A33"), Some("A33.x")),
            ("A01.000x005+J17.0*", Some("A01"), Some("A01.0")),
            ("33.6x00", Some("33"), Some("33.6")),
            ("00.5500x008", Some("00"), Some("00.5")),
            ("33", Some("33"), None),
            ("", None, None),
            ("K3", None, None),
            ("K355", None, None),
            ("333.1", None, None),
        ];
        for &(code, cat, sub) in cases {
            assert_eq!(category(code), cat, "category({code})");
            assert_eq!(subcategory(code), sub, "subcategory({code})");
        }
    }

    #[test]
    fn pairs() {
        assert!(is_pair("A01.000x005+J17.0*"));
        assert!(has_asterisk("A01.000x005+J17.0*"));
        assert!(!is_asterisk("A01.000x005+J17.0*"));
        assert!(is_asterisk("G01*"));
        assert!(!has_asterisk("K35.800"));
        let p = parts("K35.800");
        assert_eq!((p.primary, p.asterisk), ("K35.800", None));
    }
}
