//! Fast text formatting of CSV cells into a byte buffer.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

#[inline]
pub fn int(buf: &mut Vec<u8>, v: impl itoa::Integer) {
    let mut b = itoa::Buffer::new();
    buf.extend_from_slice(b.format(v).as_bytes());
}

/// Yuan with two decimals from fen (the same text as `claims::Fen`'s Display).
#[inline]
pub fn fen(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    let a = v.unsigned_abs();
    int(buf, a / 100);
    buf.push(b'.');
    let c = (a % 100) as u8;
    buf.push(b'0' + c / 10);
    buf.push(b'0' + c % 10);
}

#[inline]
fn two(buf: &mut Vec<u8>, v: u32) {
    buf.push(b'0' + (v / 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

/// `YYYY-MM-DD`
#[inline]
pub fn date(buf: &mut Vec<u8>, d: NaiveDate) {
    let y = d.year() as u32;
    two(buf, y / 100);
    two(buf, y % 100);
    buf.push(b'-');
    two(buf, d.month());
    buf.push(b'-');
    two(buf, d.day());
}

/// `YYYY-MM-DD HH:MM:SS`
#[inline]
pub fn datetime(buf: &mut Vec<u8>, t: NaiveDateTime) {
    date(buf, t.date());
    buf.push(b' ');
    two(buf, t.hour());
    buf.push(b':');
    two(buf, t.minute());
    buf.push(b':');
    two(buf, t.second());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_importer() {
        let mut b = Vec::new();
        for v in [0i64, 1, 99, 100, 123456, -5] {
            b.clear();
            fen(&mut b, v);
            assert_eq!(std::str::from_utf8(&b).unwrap(), claims::Fen(v).to_string());
        }
        b.clear();
        datetime(
            &mut b,
            NaiveDate::from_ymd_opt(2024, 2, 9)
                .unwrap()
                .and_hms_opt(7, 5, 3)
                .unwrap(),
        );
        assert_eq!(std::str::from_utf8(&b).unwrap(), "2024-02-09 07:05:03");
    }
}
