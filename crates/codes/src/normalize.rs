//! Normalisation of diagnosis and procedure codes.
//!
//! Codes arrive from hospital systems in many spellings: full-width characters typed
//! with a Chinese input method (`Ａ０１．０００ｘ００４`), lower-case letters, stray
//! whitespace, an upper-case `X` in the 医保版 extension. [`normalize`] maps all of them
//! to the canonical spelling used by the national dictionaries.
//!
//! # The canonical form
//!
//! 1. Full-width ASCII variants (U+FF01..=U+FF5E) become their half-width counterparts,
//!    the ideographic space U+3000 becomes a space, the ideographic full stop `。`
//!    becomes `.`, and the dagger sign `†` becomes `+` (the 医保版 pair separator).
//! 2. Leading and trailing whitespace is removed, also around each `+` of a
//!    dagger/asterisk pair (`A01.000x005 + J17.0*` → `A01.000x005+J17.0*`).
//! 3. ASCII letters are upper-cased, except the *placeholder / extension `x`*, which is
//!    always lower-case. An `X`/`x` is such a marker when
//!    - it comes after a `.` and every character between that dot and it is a digit or
//!      an `x` (it sits in the subdivision part of a code, not after e.g. a morphology
//!      letter), and
//!    - it is followed by a run of ASCII digits that is at least 1 long when the `x` is
//!      one of the first three characters after the dot (subdivision placeholder:
//!      `A33.x00`, `01.6x00`), and at least 3 long otherwise (extension marker:
//!      `A01.000x004`, `00.5500x008`, `86.700x0013`).
//!
//!    A letter followed by a shorter digit run keeps its upper case, so procedure codes
//!    like `17.912A0` and clinical codes concatenated without `+` (`T66.x02X59.9`) are
//!    not mangled: every ICD-10 category has exactly two digits after its letter.
//! 4. Other characters (Chinese text, `/` in morphology codes, `*`) are kept as they are.
//!
//! The rule maps every code of the reference dictionaries to itself, and `normalize`
//! is idempotent.

use std::borrow::Cow;

/// Returns the canonical spelling of `code` (see the [module docs](self)).
///
/// Returns [`Cow::Borrowed`] when `code` is already canonical, without allocating when
/// it is also ASCII (the common case on the hot path). Never panics.
///
/// ```
/// use codes::normalize;
/// assert_eq!(normalize("A01.000x004"), "A01.000x004");
/// assert_eq!(normalize(" ａ０１．０００Ｘ００４ "), "A01.000x004");
/// assert_eq!(normalize("a01.000x005 + j17.0＊"), "A01.000x005+J17.0*");
/// assert_eq!(normalize("33.6X00"), "33.6x00");
/// ```
pub fn normalize(code: &str) -> Cow<'_, str> {
    if is_normal_ascii(code) {
        return Cow::Borrowed(code);
    }
    let mut out = String::with_capacity(code.len());
    normalize_slow(code, &mut out);
    if out == code {
        // Canonical text with non-ASCII characters (rare): still hand back the input.
        Cow::Borrowed(code)
    } else {
        Cow::Owned(out)
    }
}

/// Writes the canonical spelling of `code` into `out` (which is cleared first).
///
/// For loops that normalise many codes: reusing `out` avoids an allocation per code.
pub fn normalize_into(code: &str, out: &mut String) {
    out.clear();
    if is_normal_ascii(code) {
        out.push_str(code);
    } else {
        normalize_slow(code, out);
    }
}

/// Whether `code` is already in canonical form, i.e. `normalize(code) == code`.
///
/// Does not allocate for ASCII input.
pub fn is_normal(code: &str) -> bool {
    if code.is_ascii() {
        is_normal_ascii(code)
    } else {
        let mut out = String::with_capacity(code.len());
        normalize_slow(code, &mut out);
        out == code
    }
}

/// The fast path: `code` is ASCII and canonical. `false` for any non-ASCII input.
fn is_normal_ascii(code: &str) -> bool {
    let b = code.as_bytes();
    if !code.is_ascii() {
        return false;
    }
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return true; // empty
    };
    if is_ws(first) || is_ws(last) {
        return false;
    }
    let mut state = State::default();
    for i in 0..b.len() {
        let c = b[i];
        if c == b'+' && ((i > 0 && is_ws(b[i - 1])) || b.get(i + 1).is_some_and(|&n| is_ws(n))) {
            return false;
        }
        if canonical_byte(b, i, &mut state) != c {
            return false;
        }
    }
    true
}

/// ASCII whitespace as understood by [`char::is_whitespace`] (which, unlike
/// [`u8::is_ascii_whitespace`], includes the vertical tab).
#[inline]
fn is_ws(b: u8) -> bool {
    (b as char).is_whitespace()
}

/// Scanner state for the placeholder/extension `x` rule.
#[derive(Default)]
struct State {
    /// Number of characters since the last `.`, if all of them were digits or `x`.
    since_dot: Option<usize>,
}

/// The canonical byte at position `i` of `b`, given the state before it; advances the
/// state. Non-ASCII bytes are returned unchanged (and reset the state).
#[inline]
fn canonical_byte(b: &[u8], i: usize, st: &mut State) -> u8 {
    let c = b[i];
    match c {
        b'.' => {
            st.since_dot = Some(0);
            c
        }
        b'0'..=b'9' => {
            st.since_dot = st.since_dot.map(|n| n + 1);
            c
        }
        b'x' | b'X' => {
            let marker = st.since_dot.is_some_and(|pos| {
                let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
                if pos < 3 {
                    digits >= 1
                } else {
                    digits >= 3
                }
            });
            if marker {
                st.since_dot = st.since_dot.map(|n| n + 1);
                b'x'
            } else {
                st.since_dot = None;
                b'X'
            }
        }
        _ => {
            st.since_dot = None;
            c.to_ascii_uppercase()
        }
    }
}

/// Half-width equivalent of a character (identity for most characters).
#[inline]
fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        '\u{3002}' => '.',
        '\u{2020}' => '+',
        _ => c,
    }
}

fn normalize_slow(code: &str, out: &mut String) {
    // Pass 1: half-width conversion, then trimming of the whole code and of each half.
    let mut hw = String::with_capacity(code.len());
    hw.extend(code.chars().map(half_width));
    let mut first = true;
    for part in hw.trim().split('+') {
        if !first {
            out.push('+');
        }
        first = false;
        out.push_str(part.trim());
    }
    // Pass 2: case rules. Only ASCII bytes change, and only to ASCII bytes, so the
    // result is still valid UTF-8; we rebuild it char by char to stay in safe code.
    let src = std::mem::take(out);
    let b = src.as_bytes();
    let mut st = State::default();
    for (i, ch) in src.char_indices() {
        if ch.is_ascii() {
            out.push(canonical_byte(b, i, &mut st) as char);
        } else {
            st.since_dot = None;
            out.push(ch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str)] = &[
            // already canonical
            ("A01.000x004", "A01.000x004"),
            ("A01.000x005+J17.0*", "A01.000x005+J17.0*"),
            ("A33.x00", "A33.x00"),
            ("A35.x00x001", "A35.x00x001"),
            ("A01.002+G01*", "A01.002+G01*"),
            ("00.5500x008", "00.5500x008"),
            ("33.6x00", "33.6x00"),
            ("01.6x01x001", "01.6x01x001"),
            ("86.700x0013", "86.700x0013"),
            ("17.912A0", "17.912A0"),
            ("17.91100", "17.91100"),
            ("C22.101M81600/3", "C22.101M81600/3"),
            ("", ""),
            // case
            ("a01.000x004", "A01.000x004"),
            ("A01.000X004", "A01.000x004"),
            ("a33.X00", "A33.x00"),
            ("33.6X00", "33.6x00"),
            ("01.6X01X001", "01.6x01x001"),
            ("86.700X0013", "86.700x0013"),
            ("17.912a0", "17.912A0"),
            ("17.912x0", "17.912X0"), // one digit after position 3: a letter, not a marker
            ("k35.800", "K35.800"),
            ("x59.900", "X59.900"), // chapter XX category letter
            ("t66.x02x59.9", "T66.x02X59.9"),
            ("c22.101m81600/3", "C22.101M81600/3"),
            ("A01.000x00", "A01.000X00"), // too short for an extension
            // full-width
            ("Ａ０１．０００ｘ００４", "A01.000x004"),
            ("Ａ０１．０００Ｘ００５＋Ｊ１７．０＊", "A01.000x005+J17.0*"),
            ("３３．６ｘ００", "33.6x00"),
            ("Ａ０１。０００ｘ００４", "A01.000x004"),
            ("A17.0†G01*", "A17.0+G01*"),
            // whitespace
            ("  A01.000x004\t", "A01.000x004"),
            ("\u{3000}A01.000x004\u{3000}", "A01.000x004"),
            ("\u{000B}K35.8", "K35.8"),
            ("A01.000x005 + J17.0*", "A01.000x005+J17.0*"),
            ("A01.000x005\u{3000}＋\u{3000}J17.0*", "A01.000x005+J17.0*"),
            ("  ", ""),
            // pairs: each half normalised on its own
            ("a01.000X005+j17.0*", "A01.000x005+J17.0*"),
            ("e88.902+m90.8*", "E88.902+M90.8*"),
        ];
        for &(input, want) in cases {
            let got = normalize(input);
            assert_eq!(got, want, "normalize({input:?})");
            assert_eq!(normalize(&got), got, "idempotent on {input:?}");
            assert_eq!(is_normal(input), input == want, "is_normal({input:?})");
            assert_eq!(
                matches!(got, Cow::Borrowed(_)),
                input == want,
                "borrowed({input:?})"
            );
            let mut buf = String::from("junk");
            normalize_into(input, &mut buf);
            assert_eq!(buf, want);
        }
    }

    #[test]
    fn borrowed_when_canonical() {
        for code in [
            "A01.000x004",
            "A01.000x005+J17.0*",
            "33.6x00",
            "17.912A0",
            "",
        ] {
            assert!(matches!(normalize(code), Cow::Borrowed(_)), "{code}");
        }
    }

    #[test]
    fn non_code_text_survives() {
        assert_eq!(normalize("急性阑尾炎"), "急性阑尾炎");
        assert_eq!(normalize("ｋ35.8 急性"), "K35.8 急性");
    }
}
