//! Identifier and text validation of everything the service accepts (documented in
//! docs/API.md, "Identifiers and texts"): allowed characters and lengths. Refused:
//! control characters (NUL and the like), bidirectional overrides (which make a text
//! read differently from what it is) and invisible characters (zero-width spaces and
//! joiners, the byte-order mark), which would let two identifiers look alike.

use crate::error::ApiError;

/// Case ids (结算清单流水号 / 病案号) and institution ids: 1–64 characters of
/// `A-Z a-z 0-9 . _ - : / # ( )`.
pub const ID_MAX: usize = 64;
/// Usernames: 1–64 characters of `A-Z a-z 0-9 . _ - @`.
pub const USERNAME_MAX: usize = 64;
/// Passwords: 8–128 characters.
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
/// Names (institution name, display name, configuration name): at most 200 characters.
pub const NAME_MAX: usize = 200;
/// Free texts (dispute, comment, answer, special-case reason, override reason): at most 4,000 characters.
pub const TEXT_MAX: usize = 4_000;

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '#' | '(' | ')')
}

fn username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')
}

/// A character no text of the service may hold: controls other than tab and line
/// breaks, bidirectional controls, zero-width and other invisible format characters
/// (the same rule as a settlement-list cell).
pub use claims::import::forbidden_char;

fn describe(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

/// Why `value` is not an identifier, or None.
pub fn id_problem(value: &str) -> Option<(String, String)> {
    let n = value.chars().count();
    if n == 0 {
        return Some(("empty".into(), "为空".into()));
    }
    if n > ID_MAX {
        return Some((format!("{n} characters (at most {ID_MAX})"), format!("长度 {n} 个字符，超过 {ID_MAX} 个字符的上限")));
    }
    if let Some(c) = value.chars().find(|c| !id_char(*c)) {
        return Some((
            format!("character {} is not allowed (letters, digits and . _ - : / # ( ) only)", describe(c)),
            format!("含不允许的字符 {}（只允许字母、数字和 . _ - : / # ( )）", describe(c)),
        ));
    }
    None
}

/// Check an identifier (case id, institution id).
pub fn id(field: &str, value: &str) -> Result<(), ApiError> {
    match id_problem(value) {
        None => Ok(()),
        Some((en, zh)) => Err(ApiError::invalid_field(field, format!("{field}: {en}"), format!("{field}：{zh}"))),
    }
}

pub fn username(value: &str) -> Result<(), ApiError> {
    let n = value.chars().count();
    let bad = |en: String, zh: String| Err(ApiError::invalid_field("username", format!("username: {en}"), format!("用户名{zh}")));
    if n == 0 {
        return bad("empty".into(), "不能为空".into());
    }
    if n > USERNAME_MAX {
        return bad(format!("{n} characters (at most {USERNAME_MAX})"), format!("长度超过 {USERNAME_MAX} 个字符"));
    }
    if let Some(c) = value.chars().find(|c| !username_char(*c)) {
        return bad(
            format!("character {} is not allowed (letters, digits and . _ - @ only)", describe(c)),
            format!("含不允许的字符 {}（只允许字母、数字和 . _ - @）", describe(c)),
        );
    }
    Ok(())
}

pub fn password(value: &str) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < PASSWORD_MIN || n > PASSWORD_MAX {
        return Err(ApiError::invalid_field(
            "password",
            format!("password: {PASSWORD_MIN} to {PASSWORD_MAX} characters"),
            format!("密码长度须为 {PASSWORD_MIN}–{PASSWORD_MAX} 个字符"),
        ));
    }
    Ok(())
}

/// Check a text: at most `max` characters, no forbidden character; `required`: not blank.
pub fn text(field: &str, value: &str, max: usize, required: bool) -> Result<(), ApiError> {
    let n = value.chars().count();
    if required && value.trim().is_empty() {
        return Err(ApiError::invalid_field(field, format!("{field}: empty"), format!("{field}：不能为空")));
    }
    if n > max {
        return Err(ApiError::invalid_field(
            field,
            format!("{field}: {n} characters (at most {max})"),
            format!("{field}：长度 {n} 个字符，超过 {max} 个字符的上限"),
        ));
    }
    if let Some(c) = value.chars().find(|c| forbidden_char(*c)) {
        return Err(ApiError::invalid_field(
            field,
            format!("{field}: character {} is not allowed (control, bidirectional or invisible)", describe(c)),
            format!("{field}：含不允许的字符 {}（控制字符、双向控制符或不可见字符）", describe(c)),
        ));
    }
    Ok(())
}

pub fn name(field: &str, value: &str) -> Result<(), ApiError> {
    text(field, value, NAME_MAX, true)?;
    if value.contains(['\n', '\r', '\t']) {
        return Err(ApiError::invalid_field(field, format!("{field}: one line"), format!("{field}：不能换行")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["C2025000000001", "H0001", "ZY-2025/0001", "a.b_c:d#(1)"] {
            assert!(id_problem(ok).is_none(), "{ok}");
        }
        let long = "9".repeat(65);
        for bad in ["", "C1\u{0}", "C1\u{202E}", "C\u{200B}1", "C 1", "C1'", "病案1", long.as_str()] {
            assert!(id_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn texts_and_names() {
        assert!(text("t", "第一行\n第二行", 100, true).is_ok());
        assert!(text("t", "", 100, false).is_ok());
        assert!(text("t", "  ", 100, true).is_err());
        assert!(text("t", &"字".repeat(101), 100, true).is_err());
        assert!(text("t", "a\u{202E}b", 100, true).is_err());
        assert!(text("t", "a\u{FEFF}b", 100, true).is_err());
        assert!(text("t", "a\u{7}b", 100, true).is_err());
        assert!(name("name", "a\nb").is_err());
        assert!(username("").is_err());
        assert!(username("hosp_a").is_ok());
        assert!(username("用户").is_err());
        assert!(password("short").is_err());
        assert!(password(&"p".repeat(129)).is_err());
    }
}
