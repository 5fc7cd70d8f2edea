//! Readers never lose records (issue 13): a file of N valid records with k
//! lines corrupted at random positions reads exactly N − k′ records, where
//! k′ ≤ k are the records the corruption touched and that no longer read;
//! every untouched record reads exactly as in the clean file, no untouched
//! line is rejected, and `lines = header + read + rejected + blank` always.
//!
//! CSV (UTF-8 and GBK, LF and CRLF, quoted cells with commas and escaped
//! quotes, Chinese text) is read through the sequential [`Reader`], its
//! batches, and the block path ([`CsvBlocks`] + [`RecordParser::parse_block`])
//! with block sizes small enough that cuts fall everywhere; all must give the
//! same items. JSON Lines likewise through the reader.

use claims::import::{CsvBlocks, Encoding, Item, LineCount, Reader};
use proptest::prelude::*;

/// A valid record: the cells of [`HEADER`] and which cells to quote even when not needed.
#[derive(Clone, Debug)]
struct Rec {
    cells: Vec<String>,
    quote: u8,
}

const HEADER: &str = "case_id,institution_id,sex,age,main_diagnosis,other_diagnoses,department,total_cost";

fn rec() -> impl Strategy<Value = Rec> {
    (
        "[A-Z][0-9]{1,6}",
        "H[0-9]{4}|医院[0-9]",
        "[12]",
        0u32..110,
        "[A-Z][0-9]{2}\\.[0-9x]{3}",
        proptest::collection::vec("[A-Z][0-9]{2}\\.[0-9]{3}", 0..4),
        any::<bool>(),
        "[a-zA-Z0-9 内科外科病人医院心血管儿，,\"]{0,12}",
        (0u32..100_000, 0u32..100),
        any::<u8>(),
    )
        .prop_map(|(id, inst, sex, age, main, other, commas, dept, (yuan, fen), quote)| Rec {
            cells: vec![
                id,
                inst,
                sex,
                age.to_string(),
                main,
                other.join(if commas { "," } else { "|" }),
                dept,
                format!("{yuan}.{fen:02}"),
            ],
            quote,
        })
}

/// One way to break a line (positions are taken modulo the line's length).
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// A stray `"` inserted.
    Quote(usize),
    /// One comma deleted (the n-th, modulo the commas of the line).
    DeleteComma(usize),
    /// A comma inserted.
    AddComma(usize),
    /// A line break inserted: the line becomes two.
    Break(usize),
    /// A byte that is text in neither UTF-8 nor GBK inserted.
    Invalid(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Quote),
        any::<usize>().prop_map(Damage::DeleteComma),
        any::<usize>().prop_map(Damage::AddComma),
        any::<usize>().prop_map(Damage::Break),
        any::<usize>().prop_map(Damage::Invalid),
    ]
}

/// The bytes of a line and the byte spans (opening quote, closing quote) of its quoted cells.
type Encoded = (Vec<u8>, Vec<(usize, usize)>);

fn encode_line(r: &Rec, gbk: bool) -> Encoded {
    let enc = |s: &str| -> Vec<u8> {
        if gbk {
            let (b, _, bad) = encoding_rs::GBK.encode(s);
            assert!(!bad, "{s:?} is not GBK text");
            b.into_owned()
        } else {
            s.as_bytes().to_vec()
        }
    };
    let (mut out, mut spans) = (Vec::new(), Vec::new());
    for (j, c) in r.cells.iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        if c.contains([',', '"']) || r.quote & (1 << j) != 0 {
            let open = out.len();
            out.push(b'"');
            out.extend(enc(&c.replace('"', "\"\"")));
            spans.push((open, out.len()));
            out.push(b'"');
        } else {
            out.extend(enc(c));
        }
    }
    (out, spans)
}

/// Apply `d` to `line`; also says whether the line can no longer be a record at all.
fn apply(d: Damage, line: &mut Vec<u8>, spans: &[(usize, usize)], nl: &[u8]) -> bool {
    let at = |p: usize| p % (line.len() + 1);
    // A byte inserted before `p` lands inside a quoted cell's text.
    let inside = |p: usize| spans.iter().any(|&(o, c)| o < p && p <= c);
    match d {
        Damage::Quote(p) => {
            let p = at(p);
            line.insert(p, b'"');
            false
        }
        Damage::DeleteComma(n) => {
            let commas: Vec<usize> = (0..line.len()).filter(|&i| line[i] == b',').collect();
            let p = commas[n % commas.len()];
            // Without the comma before it, a quoted cell's opening quote is
            // inside an unquoted cell, where a quote is text: the commas it
            // held then separate cells. Only without such commas is the line
            // sure to be short of a cell.
            let quoted_commas = spans.iter().any(|&(o, c)| line[o..c].contains(&b','));
            line.remove(p);
            !quoted_commas
        }
        Damage::AddComma(p) => {
            let p = at(p);
            let must = !inside(p);
            line.insert(p, b',');
            must
        }
        Damage::Break(p) => {
            let p = at(p);
            line.splice(p..p, nl.iter().copied());
            false
        }
        Damage::Invalid(p) => {
            let p = at(p);
            line.insert(p, 0xff);
            true
        }
    }
}

fn physical_lines(text: &[u8]) -> u64 {
    let lf = text.iter().filter(|&&b| b == b'\n').count() as u64;
    lf + u64::from(text.last().is_some_and(|&b| b != b'\n'))
}

fn show(items: &[Item]) -> Vec<String> {
    items.iter().map(|i| format!("{:?}", i.as_ref().map(|r| (r.line, &r.claim, &r.issues)))).collect()
}

/// Every item and the account, through the sequential reader.
fn sequential(bytes: &[u8], name: &str, enc: Option<Encoding>) -> (Vec<Item>, LineCount) {
    let mut r = Reader::open(name, bytes, enc).expect("the header is intact");
    let items: Vec<Item> = r.by_ref().collect();
    (items, r.line_count())
}

/// Every item and the account, through the reader's raw batches.
fn batched(bytes: &[u8], name: &str, enc: Option<Encoding>, max: usize) -> (Vec<Item>, LineCount) {
    let mut r = Reader::open(name, bytes, enc).unwrap();
    let parser = r.parser();
    let (mut raw, mut items, mut counted) = (Vec::new(), Vec::new(), LineCount::default());
    while r.next_batch(max, &mut raw) {
        for x in raw.drain(..) {
            let item = parser.parse(x);
            counted.add(&item);
            items.push(item);
        }
    }
    let mut count = r.line_count();
    count.read += counted.read;
    count.rejected += counted.rejected;
    (items, count)
}

/// Every item and the account, through blocks of about `target` bytes.
fn blocks(bytes: &[u8], enc: Option<Encoding>, target: usize) -> (Vec<Item>, LineCount) {
    let r = Reader::open("c.csv", bytes, enc).unwrap();
    let (start, line) = r.csv_data_start().expect("a CSV file before its first record");
    let mut count = r.line_count();
    let parser = r.parser();
    let mut blocks = CsvBlocks::new(&bytes[start as usize..], line, target);
    let mut items = Vec::new();
    while let Some(b) = blocks.next_block().unwrap() {
        count += parser.parse_block(&b, |i| items.push(i));
    }
    (items, count)
}

/// The file: the header (if any) and each record's bytes, joined by `nl`;
/// returns it with the physical line range of each record.
fn assemble(header: Option<&[u8]>, lines: &[Vec<u8>], nl: &[u8], final_nl: bool) -> (Vec<u8>, Vec<(u64, u64)>) {
    let mut out = Vec::new();
    let mut next = 1u64;
    if let Some(h) = header {
        out.extend(h);
        out.extend(nl);
        next = 2;
    }
    let mut ranges = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        out.extend(l);
        let n = 1 + l.iter().filter(|&&b| b == b'\n').count() as u64;
        ranges.push((next, next + n - 1));
        next += n;
        if i + 1 < lines.len() || final_nl {
            out.extend(nl);
        }
    }
    (out, ranges)
}

/// What a damaged file must read as.
struct Expected<'a> {
    /// Header lines (1 for CSV, 0 for JSON Lines).
    header: u64,
    /// The read of the clean file.
    clean: &'a [Item],
    /// Whether record i was damaged.
    touched: &'a [bool],
    /// Whether the damage to record i leaves no possible record.
    must_reject: &'a [bool],
    /// Each record's physical lines in the damaged file.
    ranges: &'a [(u64, u64)],
}

/// The assertions shared by CSV and JSON Lines, on the items and account of `bytes`.
fn check_account(bytes: &[u8], items: &[Item], count: LineCount, want: &Expected<'_>) -> Result<(), TestCaseError> {
    let Expected { header, clean, touched, must_reject, ranges } = *want;
    prop_assert!(count.balanced(), "{count:?}");
    prop_assert_eq!(count.lines, physical_lines(bytes));
    prop_assert_eq!(count.header, header);
    prop_assert_eq!(count.read + count.rejected, items.len() as u64);
    let n = clean.len();
    let mut lost = 0u64;
    for i in 0..n {
        let (a, z) = ranges[i];
        let mine: Vec<&Item> = items.iter().filter(|it| {
            let line = match it {
                Ok(r) => r.line,
                Err(e) => e.line,
            };
            (a..=z).contains(&line)
        }).collect();
        let ok: Vec<_> = mine.iter().filter_map(|it| it.as_ref().ok()).collect();
        if touched[i] {
            prop_assert!(ok.len() <= 1, "record {i} read twice: {:?}", show(items));
            if must_reject[i] {
                prop_assert!(ok.is_empty(), "damaged record {i} read: {:?}", ok);
            }
            lost += u64::from(ok.is_empty());
        } else {
            let want = clean[i].as_ref().unwrap();
            prop_assert_eq!(mine.len(), 1, "untouched record {} (lines {}–{}): {:?}", i, a, z, show(items));
            let got = ok.first().ok_or_else(|| TestCaseError::fail(format!("untouched record {i} rejected: {:?}", mine[0])))?;
            prop_assert_eq!(got.line, a);
            prop_assert_eq!(format!("{:?}", (&got.claim, &got.issues)), format!("{:?}", (&want.claim, &want.issues)));
        }
    }
    let k = touched.iter().filter(|&&t| t).count() as u64;
    prop_assert!(lost <= k);
    prop_assert_eq!(count.read, n as u64 - lost, "N − k′ records read");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn csv_with_damaged_lines_loses_only_those(
        recs in proptest::collection::vec(rec(), 1..30),
        damages in proptest::collection::vec((any::<usize>(), damage()), 0..6),
        truncate in proptest::option::of(any::<usize>()),
        gbk in any::<bool>(),
        crlf in any::<bool>(),
        final_nl in any::<bool>(),
    ) {
        let nl: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        // The encoding is given: detection is not what this test is about
        // (a tiny file with damaged lines may well look like the other one).
        let enc = Some(if gbk { Encoding::Gbk } else { Encoding::Utf8 });
        let n = recs.len();
        let encoded: Vec<Encoded> = recs.iter().map(|r| encode_line(r, gbk)).collect();
        let clean_lines: Vec<Vec<u8>> = encoded.iter().map(|e| e.0.clone()).collect();
        let (clean_bytes, _) = assemble(Some(HEADER.as_bytes()), &clean_lines, nl, final_nl);
        let (clean, clean_count) = sequential(&clean_bytes, "c.csv", enc);
        prop_assert!(clean.iter().all(Result::is_ok), "{:?}", show(&clean));
        prop_assert_eq!(clean_count, LineCount { lines: n as u64 + 1, header: 1, read: n as u64, rejected: 0, blank: 0 });

        let mut lines = clean_lines.clone();
        let (mut touched, mut must) = (vec![false; n], vec![false; n]);
        for (i, d) in &damages {
            let i = i % n;
            if touched[i] {
                continue;
            }
            touched[i] = true;
            must[i] = apply(*d, &mut lines[i], &encoded[i].1, nl);
        }
        let mut final_nl = final_nl;
        if let Some(p) = truncate {
            // Truncate the last line (the file then ends without a line break).
            let last = lines.last_mut().unwrap();
            let p = p % (last.len() + 1);
            if !touched[n - 1] || p < last.len() {
                touched[n - 1] = true;
            }
            // The cut may take the damage away with it.
            must[n - 1] &= p == last.len();
            last.truncate(p);
            final_nl = false;
        }
        let (bytes, ranges) = assemble(Some(HEADER.as_bytes()), &lines, nl, final_nl);
        let (items, count) = sequential(&bytes, "c.csv", enc);
        let want = Expected { header: 1, clean: &clean, touched: &touched, must_reject: &must, ranges: &ranges };
        check_account(&bytes, &items, count, &want)?;
        let want = show(&items);
        for target in [1, 2, 5, 16, 61, 256, 4096] {
            let (b, c) = blocks(&bytes, enc, target);
            prop_assert_eq!(&want, &show(&b), "blocks of {} bytes", target);
            prop_assert_eq!(count, c, "blocks of {} bytes", target);
        }
        for max in [1, 7] {
            let (b, c) = batched(&bytes, "c.csv", enc, max);
            prop_assert_eq!(&want, &show(&b), "batches of {}", max);
            prop_assert_eq!(count, c);
        }
    }

    #[test]
    fn jsonl_with_damaged_lines_loses_only_those(
        recs in proptest::collection::vec(rec(), 1..30),
        damages in proptest::collection::vec((any::<usize>(), any::<usize>(), 0u8..5), 0..6),
        crlf in any::<bool>(),
        final_nl in any::<bool>(),
    ) {
        let nl: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let n = recs.len();
        let names: Vec<&str> = HEADER.split(',').collect();
        let clean_lines: Vec<Vec<u8>> = recs
            .iter()
            .map(|r| {
                let obj: serde_json::Map<String, serde_json::Value> =
                    names.iter().zip(&r.cells).map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone()))).collect();
                serde_json::to_vec(&obj).unwrap()
            })
            .collect();
        let (clean_bytes, _) = assemble(None, &clean_lines, nl, final_nl);
        let (clean, clean_count) = sequential(&clean_bytes, "c.jsonl", None);
        prop_assert!(clean.iter().all(Result::is_ok));
        prop_assert_eq!(clean_count, LineCount { lines: n as u64, header: 0, read: n as u64, rejected: 0, blank: 0 });

        let mut lines = clean_lines.clone();
        let (mut touched, mut must) = (vec![false; n], vec![false; n]);
        for (i, p, kind) in &damages {
            let i = i % n;
            if touched[i] {
                continue;
            }
            touched[i] = true;
            let l = &mut lines[i];
            let p = p % (l.len() + 1);
            match kind {
                0 => l.insert(p, b'"'),
                1 => l.insert(p, b'{'),
                2 => {
                    let p = p.min(l.len() - 1);
                    l.remove(p);
                }
                3 => {
                    l.splice(p..p, nl.iter().copied());
                }
                _ => {
                    l.insert(p, 0xff);
                    must[i] = true;
                }
            }
        }
        let (bytes, ranges) = assemble(None, &lines, nl, final_nl);
        let (items, count) = sequential(&bytes, "c.jsonl", None);
        let want = Expected { header: 0, clean: &clean, touched: &touched, must_reject: &must, ranges: &ranges };
        check_account(&bytes, &items, count, &want)?;
        let (b, c) = batched(&bytes, "c.jsonl", None, 3);
        prop_assert_eq!(show(&items), show(&b));
        prop_assert_eq!(count, c);
    }
}
