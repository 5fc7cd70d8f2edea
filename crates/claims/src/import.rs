//! Reading settlement lists from CSV (UTF-8 or GBK), JSON Lines and XLSX.
//!
//! Every reader streams records one at a time (XLSX excepted: the format holds
//! a sheet whole). A bad record becomes a located [`RecordError`] and the
//! batch goes on; only a file that cannot be read at all is a [`FileError`].

use std::io::{BufRead, BufReader, Read};

use crate::field::{Field, FieldSet};
use crate::model::{Claim, ClaimBuilder, FieldIssue};

/// Longest accepted cell, in bytes. Longer cells reject their record.
pub const MAX_CELL_BYTES: usize = 64 * 1024;

/// Text encoding of a CSV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// GBK / GB18030, still exported by many Chinese hospital systems.
    Gbk,
}

/// File layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Xlsx,
}

impl Format {
    /// Guess from the file name, then from the first bytes.
    pub fn detect(name: &str, head: &[u8]) -> Format {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".xlsx") || head.starts_with(b"PK\x03\x04") {
            Format::Xlsx
        } else if lower.ends_with(".jsonl")
            || lower.ends_with(".ndjson")
            || lower.ends_with(".json")
            || head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        {
            Format::Jsonl
        } else {
            Format::Csv
        }
    }
}

/// A file that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("empty file: no header line")]
    Empty,
    #[error("line 1: the header names none of the settlement-list columns (first cells: {0})")]
    NoKnownColumns(String),
    #[error("line 1: the header is not valid text in {0:?}")]
    BadHeader(Encoding),
    #[error("not a readable XLSX workbook: {0}")]
    Xlsx(String),
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a record was rejected. The rest of the file is still read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum RecordErrorKind {
    /// Fewer or more cells than the header has (a truncated or broken line).
    FieldCount { found: usize, expected: usize },
    /// Bytes that are not text in the file's encoding.
    Encoding,
    /// A cell longer than [`MAX_CELL_BYTES`].
    CellTooLong { bytes: usize },
    /// A JSON Lines line that is not a JSON object.
    Json(String),
    /// The CSV reader could not make a record of the bytes.
    Csv(String),
}

/// A rejected record, located by line (1-based, the line where the record starts).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecordError {
    pub line: u64,
    /// The column concerned, when there is one.
    pub column: Option<String>,
    pub kind: RecordErrorKind,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(c) = &self.column {
            write!(f, ", column {c}")?;
        }
        match &self.kind {
            RecordErrorKind::FieldCount { found, expected } => {
                write!(f, ": {found} cells where the header has {expected} (truncated or broken line)")
            }
            RecordErrorKind::Encoding => write!(f, ": bytes that are not valid text in the file's encoding"),
            RecordErrorKind::CellTooLong { bytes } => {
                write!(f, ": cell of {bytes} bytes, longer than the limit of {MAX_CELL_BYTES}")
            }
            RecordErrorKind::Json(e) => write!(f, ": not a JSON object: {e}"),
            RecordErrorKind::Csv(e) => write!(f, ": {e}"),
        }
    }
}

/// A record read from a file, with the cells that could not be read as their field's type.
#[derive(Clone, Debug)]
pub struct Record {
    pub line: u64,
    pub claim: Claim,
    pub issues: Vec<FieldIssue>,
}

pub type Item = Result<Record, RecordError>;

/// How a header's columns map to fields.
#[derive(Clone, Debug, Default)]
pub struct Header {
    /// For each column, the field it holds (None: not a settlement-list column).
    pub columns: Vec<Option<Field>>,
    pub names: Vec<String>,
    /// Columns that name no known field, reported once per file.
    pub unknown: Vec<String>,
    /// Columns naming a field already given by an earlier column (the first wins).
    pub duplicates: Vec<String>,
    /// Fields the file provides.
    pub present: FieldSet,
}

impl Header {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Header {
        let mut h = Header::default();
        for name in names {
            let field = Field::from_header(name);
            let field = match field {
                Some(f) if h.present.contains(f) => {
                    h.duplicates.push(name.to_owned());
                    None
                }
                Some(f) => {
                    h.present.insert(f);
                    Some(f)
                }
                None => {
                    if !name.trim().is_empty() {
                        h.unknown.push(name.to_owned());
                    }
                    None
                }
            };
            h.columns.push(field);
            h.names.push(name.to_owned());
        }
        // `diagnoses` (all in one) also provides the main diagnosis.
        if h.present.contains(Field::Diagnoses) {
            h.present.insert(Field::MainDiagnosis);
            h.present.insert(Field::OtherDiagnoses);
        }
        h
    }

    fn check_known(&self) -> Result<(), FileError> {
        if self.present == FieldSet::default() {
            let first: Vec<&str> = self.names.iter().take(5).map(String::as_str).collect();
            return Err(FileError::NoKnownColumns(first.join(", ")));
        }
        Ok(())
    }
}

/// A stream of records from one file.
pub struct Reader<'r> {
    pub header: Header,
    pub format: Format,
    pub encoding: Encoding,
    inner: Inner<'r>,
}

enum Inner<'r> {
    Csv { rdr: csv::Reader<Box<dyn Read + 'r>>, rec: csv::ByteRecord, text: String },
    Jsonl { rdr: Box<dyn BufRead + 'r>, line: u64, buf: Vec<u8> },
    Rows { rows: std::vec::IntoIter<(u64, Vec<String>)> },
}

impl<'r> Reader<'r> {
    /// Open a stream of any supported format. `name` is used only to guess the format.
    pub fn open(name: &str, mut input: impl Read + 'r, encoding: Option<Encoding>) -> Result<Reader<'r>, FileError> {
        let mut head = Vec::with_capacity(64 * 1024);
        (&mut input).take(64 * 1024).read_to_end(&mut head)?;
        if head.iter().all(u8::is_ascii_whitespace) {
            return Err(FileError::Empty);
        }
        let format = Format::detect(name, &head);
        let chained: Box<dyn Read + 'r> = Box::new(std::io::Cursor::new(head.clone()).chain(input));
        match format {
            Format::Csv => Self::csv(chained, encoding.unwrap_or_else(|| detect_encoding(&head))),
            Format::Jsonl => Self::jsonl(chained),
            Format::Xlsx => {
                let mut all = Vec::new();
                let mut chained = chained;
                chained.read_to_end(&mut all)?;
                Self::xlsx(&all)
            }
        }
    }

    fn csv(input: Box<dyn Read + 'r>, encoding: Encoding) -> Result<Reader<'r>, FileError> {
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(input);
        let mut rec = csv::ByteRecord::new();
        if !rdr.read_byte_record(&mut rec).map_err(csv_io)? {
            return Err(FileError::Empty);
        }
        let mut names = Vec::with_capacity(rec.len());
        for cell in rec.iter() {
            let cell = cell.strip_prefix(b"\xef\xbb\xbf").unwrap_or(cell);
            match decode(cell, encoding) {
                Some(s) => names.push(s.into_owned()),
                None => return Err(FileError::BadHeader(encoding)),
            }
        }
        let header = Header::new(names.iter().map(String::as_str));
        header.check_known()?;
        Ok(Reader { header, format: Format::Csv, encoding, inner: Inner::Csv { rdr, rec, text: String::new() } })
    }

    fn jsonl(input: Box<dyn Read + 'r>) -> Result<Reader<'r>, FileError> {
        // The header is the union of keys, learnt as lines come; start with all fields known.
        let header = Header::new(crate::field::FIELDS.iter().map(|i| i.name));
        let mut header = header;
        header.present = FieldSet::default(); // filled from the first record's keys
        Ok(Reader {
            header,
            format: Format::Jsonl,
            encoding: Encoding::Utf8,
            inner: Inner::Jsonl { rdr: Box::new(BufReader::with_capacity(256 * 1024, input)), line: 0, buf: Vec::new() },
        })
    }

    fn xlsx(bytes: &[u8]) -> Result<Reader<'r>, FileError> {
        use calamine::{Reader as _, Xlsx};
        let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).map_err(|e| FileError::Xlsx(e.to_string()))?;
        let sheet = wb.sheet_names().first().cloned().ok_or_else(|| FileError::Xlsx("no sheet".into()))?;
        let range = wb.worksheet_range(&sheet).map_err(|e| FileError::Xlsx(e.to_string()))?;
        let mut rows = range.rows();
        let first = rows.next().ok_or(FileError::Empty)?;
        let names: Vec<String> = first.iter().map(cell_text).collect();
        let header = Header::new(names.iter().map(String::as_str));
        header.check_known()?;
        let body: Vec<(u64, Vec<String>)> = rows
            .enumerate()
            .filter(|(_, r)| r.iter().any(|c| !matches!(c, calamine::Data::Empty)))
            .map(|(i, r)| (i as u64 + 2, r.iter().map(cell_text).collect()))
            .collect();
        Ok(Reader { header, format: Format::Xlsx, encoding: Encoding::Utf8, inner: Inner::Rows { rows: body.into_iter() } })
    }
}

fn csv_io(e: csv::Error) -> FileError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => FileError::Io(io),
        other => FileError::Io(std::io::Error::other(format!("{other:?}"))),
    }
}

/// UTF-8 when the first bytes are valid UTF-8 (a character cut at the end of
/// the sample is fine), GBK otherwise.
pub fn detect_encoding(head: &[u8]) -> Encoding {
    match std::str::from_utf8(head) {
        Ok(_) => Encoding::Utf8,
        Err(e) if e.error_len().is_none() => Encoding::Utf8,
        Err(_) => Encoding::Gbk,
    }
}

fn decode(bytes: &[u8], enc: Encoding) -> Option<std::borrow::Cow<'_, str>> {
    match enc {
        Encoding::Utf8 => std::str::from_utf8(bytes).ok().map(std::borrow::Cow::Borrowed),
        Encoding::Gbk => encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(bytes),
    }
}

fn cell_text(c: &calamine::Data) -> String {
    use calamine::Data;
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
        Data::DateTime(d) => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.format("%Y-%m-%d").to_string(),
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => d.to_string(),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

fn build<'a>(header: &Header, cells: impl Iterator<Item = &'a str>) -> (Claim, Vec<FieldIssue>) {
    let mut b = ClaimBuilder::new();
    for (col, cell) in header.columns.iter().zip(cells) {
        if let Some(f) = col {
            b.set(*f, cell);
        }
    }
    b.finish()
}

/// One CSV record read but not yet parsed, or an item already complete.
/// Batches of these can be parsed in parallel with a [`RecordParser`].
#[allow(clippy::large_enum_variant)] // items are rare (errors, non-CSV); boxing would cost every CSV record
pub enum Raw {
    Csv(csv::ByteRecord),
    Item(Item),
}

/// Parses [`Raw`] records of one file; cheap to share between threads.
#[derive(Clone, Debug)]
pub struct RecordParser {
    header: Header,
    encoding: Encoding,
}

impl RecordParser {
    /// Parse only the cells of `fields`; other columns are skipped (faster when a
    /// job reads a few fields of wide records). Cell rules are those of a full parse.
    pub fn only(mut self, fields: FieldSet) -> RecordParser {
        for col in self.header.columns.iter_mut() {
            if col.is_some_and(|f| !fields.contains(f)) {
                *col = None;
            }
        }
        self
    }

    pub fn parse(&self, raw: Raw) -> Item {
        match raw {
            Raw::Item(item) => item,
            Raw::Csv(rec) => {
                let line = rec.position().map(|p| p.line()).unwrap_or(0);
                let expected = self.header.columns.len();
                if rec.len() != expected {
                    return Err(RecordError { line, column: None, kind: RecordErrorKind::FieldCount { found: rec.len(), expected } });
                }
                csv_record(&self.header, &rec, self.encoding, &mut String::new(), line)
            }
        }
    }
}

/// Read the next CSV record into `rec`, skipping blank lines. `Some(Err)` is a
/// located error item; `stop` is set when the stream must not be read again.
fn read_csv(rdr: &mut csv::Reader<Box<dyn Read + '_>>, rec: &mut csv::ByteRecord, stop: &mut bool) -> Option<Result<(), Item>> {
    loop {
        let line = rdr.position().line();
        match rdr.read_byte_record(rec) {
            Ok(false) => return None,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line);
                // An IO failure mid-file is reported once and ends the file.
                *stop = matches!(e.kind(), csv::ErrorKind::Io(_));
                return Some(Err(Err(RecordError { line, column: None, kind: RecordErrorKind::Csv(e.to_string()) })));
            }
        }
        if rec.len() == 1 && rec.get(0).is_some_and(|c| c.iter().all(u8::is_ascii_whitespace)) {
            continue; // blank line
        }
        return Some(Ok(()));
    }
}

impl Reader<'_> {
    /// A parser for this file's records, for parsing batches in parallel.
    pub fn parser(&self) -> RecordParser {
        RecordParser { header: self.header.clone(), encoding: self.encoding }
    }

    /// Read up to `max` raw records into `out` (cleared first). False at the end.
    /// CSV records come unparsed; other formats come parsed.
    pub fn next_batch(&mut self, max: usize, out: &mut Vec<Raw>) -> bool {
        out.clear();
        while out.len() < max {
            if let Inner::Csv { rdr, .. } = &mut self.inner {
                let mut rec = csv::ByteRecord::new();
                let mut stop = false;
                match read_csv(rdr, &mut rec, &mut stop) {
                    Some(Ok(())) => out.push(Raw::Csv(rec)),
                    Some(Err(item)) => out.push(Raw::Item(item)),
                    None => break,
                }
                if stop {
                    self.inner = Inner::Rows { rows: Vec::new().into_iter() };
                }
            } else {
                match self.next() {
                    Some(item) => out.push(Raw::Item(item)),
                    None => break,
                }
            }
        }
        !out.is_empty()
    }
}

impl Iterator for Reader<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let header = &mut self.header;
        match &mut self.inner {
            Inner::Csv { rdr, rec, text } => {
                let mut stop = false;
                match read_csv(rdr, rec, &mut stop)? {
                    Err(item) => {
                        if stop {
                            self.inner = Inner::Rows { rows: Vec::new().into_iter() };
                        }
                        Some(item)
                    }
                    Ok(()) => {
                        let line = rec.position().map(|p| p.line()).unwrap_or(0);
                        let expected = header.columns.len();
                        if rec.len() != expected {
                            return Some(Err(RecordError {
                                line,
                                column: None,
                                kind: RecordErrorKind::FieldCount { found: rec.len(), expected },
                            }));
                        }
                        Some(csv_record(header, rec, self.encoding, text, line))
                    }
                }
            }
            Inner::Jsonl { rdr, line, buf } => loop {
                buf.clear();
                *line += 1;
                match rdr.read_until(b'\n', buf) {
                    Ok(0) => return None,
                    Ok(_) => {}
                    Err(e) => {
                        let err = RecordError { line: *line, column: None, kind: RecordErrorKind::Csv(e.to_string()) };
                        self.inner = Inner::Rows { rows: Vec::new().into_iter() };
                        return Some(Err(err));
                    }
                }
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(json_record(header, buf, *line));
            },
            Inner::Rows { rows } => {
                let (line, cells) = rows.next()?;
                if let Some((i, c)) = cells.iter().enumerate().find(|(_, c)| c.len() > MAX_CELL_BYTES) {
                    return Some(Err(RecordError {
                        line,
                        column: header.names.get(i).cloned(),
                        kind: RecordErrorKind::CellTooLong { bytes: c.len() },
                    }));
                }
                let (claim, issues) = build(header, cells.iter().map(String::as_str));
                Some(Ok(Record { line, claim, issues }))
            }
        }
    }
}

impl Reader<'_> {
    /// For a CSV file: the byte offset and line number where the records start
    /// (just after the header), to read the rest as [`CsvBlocks`]. `None` for
    /// other formats, or once records have been read.
    pub fn csv_data_start(&self) -> Option<(u64, u64)> {
        match &self.inner {
            Inner::Csv { rdr, .. } if rdr.position().record() <= 1 => {
                Some((rdr.position().byte(), rdr.position().line()))
            }
            _ => None,
        }
    }
}

/// A run of whole CSV records cut from a stream by [`CsvBlocks`], parsed with
/// [`RecordParser::parse_block`] (on any thread).
#[derive(Clone, Debug, Default)]
pub struct CsvBlock {
    pub bytes: Vec<u8>,
    /// Line number the CSV reader gives the block's start.
    pub first_line: u64,
}

/// Cuts the records of a CSV stream (after the header; see
/// [`Reader::csv_data_start`]) into blocks of whole records, so that records
/// can be split and parsed in parallel. Cuts are where a CSV reader reading
/// the whole stream would start a record, and line numbers are those it gives,
/// so parsing the blocks gives exactly the items [`Reader`] gives.
pub struct CsvBlocks<R> {
    input: R,
    /// Bytes read and not yet handed out (they start at a record start).
    pending: Vec<u8>,
    /// Line number of `pending`'s start.
    line: u64,
    eof: bool,
    /// A read error, reported after the bytes read before it.
    error: Option<std::io::Error>,
    target: usize,
}

impl<R: std::io::Read> CsvBlocks<R> {
    /// Read records from `input`, positioned at a record start with line number `line`;
    /// blocks of about `target` bytes (larger when a record is).
    /// Line number of the next block's start (where a read error is reported).
    pub fn line(&self) -> u64 {
        self.line
    }

    pub fn new(input: R, line: u64, target: usize) -> CsvBlocks<R> {
        CsvBlocks { input, pending: Vec::new(), line, eof: false, error: None, target: target.max(1) }
    }

    /// The next block, `None` at the end. A read error ends the stream; it is
    /// returned after the blocks of the bytes read before it.
    pub fn next_block(&mut self) -> std::io::Result<Option<CsvBlock>> {
        let mut want = self.target;
        loop {
            if !self.eof && self.pending.len() < want {
                let need = (want - self.pending.len()) as u64;
                match (&mut self.input).take(need).read_to_end(&mut self.pending) {
                    Ok(n) if (n as u64) < need => self.eof = true,
                    Ok(_) => {}
                    Err(e) => {
                        self.eof = true;
                        self.error = Some(e);
                    }
                }
            }
            if self.pending.is_empty() {
                return match self.error.take() {
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            }
            let cut = if self.eof { Some(self.pending.len()) } else { record_cut(&self.pending) };
            match cut {
                Some(cut) if cut > 0 => {
                    let rest = self.pending[cut..].to_vec();
                    let mut bytes = std::mem::replace(&mut self.pending, rest);
                    bytes.truncate(cut);
                    let first_line = self.line;
                    self.line += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
                    return Ok(Some(CsvBlock { bytes, first_line }));
                }
                // No whole record yet: read more.
                _ => want = self.pending.len().max(self.target) * 2,
            }
        }
    }
}

/// The last place in `buf` (which starts at a record start) where a record
/// starts, as a CSV reader reading on would find it; `None` when there is none
/// after the start.
fn record_cut(buf: &[u8]) -> Option<usize> {
    if !buf.contains(&b'"') {
        // Without quotes a record ends at the first line-break byte (`\r` or
        // `\n`) after other bytes; further line breaks (the `\n` of `\r\n`,
        // blank lines) are skipped when the next record is read, and belong to it.
        let term = |b: u8| b == b'\n' || b == b'\r';
        let p = (1..buf.len()).rev().find(|&p| term(buf[p]) && !term(buf[p - 1]))?;
        return Some(p + 1);
    }
    // Quotes may hold line breaks: find record starts with a CSV reader; the
    // last record read may be cut short, so the block ends where it starts.
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(buf);
    let mut rec = csv::ByteRecord::new();
    let mut last_start = 0u64;
    loop {
        let start = rdr.position().byte();
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => last_start = start,
            _ => break,
        }
    }
    (last_start > 0).then_some(last_start as usize)
}

impl RecordParser {
    /// [`RecordParser::parse_block`] of a block without quotes, split here
    /// directly as the CSV reader would: a record ends at a line-break byte
    /// (`\r` or `\n`), line breaks before a record are skipped (its line is
    /// where the reader started looking for it), cells are separated by commas.
    fn parse_plain_block(&self, block: &CsvBlock, mut f: impl FnMut(Item)) {
        let b = &block.bytes[..];
        let expected = self.header.columns.len();
        let term = |x: u8| x == b'\n' || x == b'\r';
        let mut commas: Vec<usize> = Vec::with_capacity(expected);
        let (mut pos, mut line) = (0usize, block.first_line);
        loop {
            let rec_line = line;
            let mut i = pos;
            while i < b.len() && term(b[i]) {
                line += u64::from(b[i] == b'\n');
                i += 1;
            }
            if i == b.len() {
                return;
            }
            commas.clear();
            let mut j = i;
            while j < b.len() && !term(b[j]) {
                if b[j] == b',' {
                    commas.push(j);
                }
                j += 1;
            }
            if j < b.len() {
                line += u64::from(b[j] == b'\n');
                pos = j + 1;
            } else {
                pos = j;
            }
            let rec = &b[i..j];
            if commas.is_empty() && rec.iter().all(u8::is_ascii_whitespace) {
                continue; // blank line
            }
            let found = commas.len() + 1;
            if found != expected {
                f(Err(RecordError { line: rec_line, column: None, kind: RecordErrorKind::FieldCount { found, expected } }));
                continue;
            }
            let bounds = |k: usize| {
                let start = if k == 0 { i } else { commas[k - 1] + 1 };
                let end = if k == commas.len() { j } else { commas[k] };
                (start - i, end - i)
            };
            // Valid UTF-8 as a whole: every cell is (cells end at ASCII commas).
            match (self.encoding, std::str::from_utf8(rec)) {
                (Encoding::Utf8, Ok(text)) => {
                    f(text_cells_record(&self.header, (0..found).map(|k| { let (a, z) = bounds(k); &text[a..z] }), rec_line))
                }
                _ => f(cells_record(&self.header, (0..found).map(|k| { let (a, z) = bounds(k); &rec[a..z] }), self.encoding, rec_line)),
            }
        }
    }

    /// Parse the records of a block from [`CsvBlocks`], handing each item to `f`
    /// in order (the items [`Reader`] gives for these records).
    pub fn parse_block(&self, block: &CsvBlock, mut f: impl FnMut(Item)) {
        if !block.bytes.contains(&b'"') {
            return self.parse_plain_block(block, f);
        }
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&block.bytes[..]);
        let mut rec = csv::ByteRecord::new();
        let mut text = String::new();
        let expected = self.header.columns.len();
        loop {
            let line0 = rdr.position().line();
            match rdr.read_byte_record(&mut rec) {
                Ok(false) => return,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(line0) + block.first_line - 1;
                    f(Err(RecordError { line, column: None, kind: RecordErrorKind::Csv(e.to_string()) }));
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        return;
                    }
                    continue;
                }
            }
            if rec.len() == 1 && rec.get(0).is_some_and(|c| c.iter().all(u8::is_ascii_whitespace)) {
                continue; // blank line
            }
            let line = rec.position().map(|p| p.line()).unwrap_or(0) + block.first_line - 1;
            if rec.len() != expected {
                f(Err(RecordError { line, column: None, kind: RecordErrorKind::FieldCount { found: rec.len(), expected } }));
                continue;
            }
            f(csv_record(&self.header, &rec, self.encoding, &mut text, line));
        }
    }
}

fn csv_record(header: &Header, rec: &csv::ByteRecord, enc: Encoding, _text: &mut String, line: u64) -> Item {
    cells_record(header, rec.iter(), enc, line)
}

/// A record from its cells (bytes in the file's encoding).
fn cells_record<'a>(header: &Header, cells: impl Iterator<Item = &'a [u8]>, enc: Encoding, line: u64) -> Item {
    let mut b = ClaimBuilder::new();
    for (i, (col, cell)) in header.columns.iter().zip(cells).enumerate() {
        if cell.len() > MAX_CELL_BYTES {
            return Err(RecordError {
                line,
                column: Some(header.names[i].clone()),
                kind: RecordErrorKind::CellTooLong { bytes: cell.len() },
            });
        }
        let Some(f) = col else { continue };
        match decode(cell, enc) {
            Some(s) => b.set(*f, &s),
            None => {
                return Err(RecordError { line, column: Some(header.names[i].clone()), kind: RecordErrorKind::Encoding })
            }
        }
    }
    let (claim, issues) = b.finish();
    Ok(Record { line, claim, issues })
}

/// A record from its cells, already text (as [`cells_record`] of valid text).
fn text_cells_record<'a>(header: &Header, cells: impl Iterator<Item = &'a str>, line: u64) -> Item {
    let mut b = ClaimBuilder::new();
    for (i, (col, cell)) in header.columns.iter().zip(cells).enumerate() {
        if cell.len() > MAX_CELL_BYTES {
            return Err(RecordError {
                line,
                column: Some(header.names[i].clone()),
                kind: RecordErrorKind::CellTooLong { bytes: cell.len() },
            });
        }
        if let Some(f) = col {
            b.set(*f, cell);
        }
    }
    let (claim, issues) = b.finish();
    Ok(Record { line, claim, issues })
}

fn json_record(header: &mut Header, buf: &[u8], line: u64) -> Item {
    let err = |kind| RecordError { line, column: None, kind };
    let text = std::str::from_utf8(buf).map_err(|_| err(RecordErrorKind::Encoding))?;
    let obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text.trim()).map_err(|e| err(RecordErrorKind::Json(e.to_string())))?;
    let mut b = ClaimBuilder::new();
    let mut cell = String::new();
    for (key, value) in &obj {
        let Some(f) = Field::from_header(key) else {
            if !header.unknown.iter().any(|u| u == key) {
                header.unknown.push(key.clone());
            }
            continue;
        };
        header.present.insert(f);
        if f == Field::Diagnoses {
            header.present.insert(Field::MainDiagnosis);
            header.present.insert(Field::OtherDiagnoses);
        }
        cell.clear();
        json_cell(value, &mut cell);
        if cell.len() > MAX_CELL_BYTES {
            return Err(RecordError {
                line,
                column: Some(key.clone()),
                kind: RecordErrorKind::CellTooLong { bytes: cell.len() },
            });
        }
        b.set(f, &cell);
    }
    let (claim, issues) = b.finish();
    Ok(Record { line, claim, issues })
}

fn json_cell(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push(if *b { '1' } else { '0' }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                json_cell(item, out);
            }
        }
        Value::Object(_) => out.push_str(&v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(name: &str, bytes: &[u8]) -> Result<(Header, Vec<Item>), FileError> {
        let mut r = Reader::open(name, bytes, None)?;
        let items: Vec<Item> = r.by_ref().collect();
        Ok((r.header, items))
    }

    #[test]
    fn csv_utf8_and_gbk_read_the_same() {
        let text = "病案号,性别,主要诊断编码,住院总费用\nA1,男,K35.800,1234.56\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        for bytes in [text.as_bytes(), &gbk[..]] {
            let (h, items) = read_all("x.csv", bytes).unwrap();
            assert!(h.unknown.is_empty());
            let rec = items[0].as_ref().unwrap();
            assert_eq!(rec.claim.case_id, "A1");
            assert_eq!(rec.claim.main_diagnosis.as_deref(), Some("K35.800"));
            assert_eq!(rec.claim.total_cost, Some(crate::Fen(123456)));
            assert_eq!(rec.line, 2);
        }
    }

    #[test]
    fn bad_records_are_located_and_the_batch_goes_on() {
        let mut bytes = b"case_id,sex,diagnoses\nA1,1,K35.800\nA2,1\nA3,\xff\xfe,K35.800\nA4,2,\"".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', MAX_CELL_BYTES + 1));
        bytes.extend(b"\"\nA5,2,N39.000\n");
        let (_, items) = read_all("x.csv", &bytes).unwrap();
        let summary: Vec<Result<&str, (u64, RecordErrorKind)>> = items
            .iter()
            .map(|i| i.as_ref().map(|r| r.claim.case_id.as_str()).map_err(|e| (e.line, e.kind.clone())))
            .collect();
        assert_eq!(
            summary,
            vec![
                Ok("A1"),
                Err((3, RecordErrorKind::FieldCount { found: 2, expected: 3 })),
                Err((4, RecordErrorKind::Encoding)),
                Err((5, RecordErrorKind::CellTooLong { bytes: MAX_CELL_BYTES + 1 })),
                Ok("A5"),
            ]
        );
    }

    #[test]
    fn file_level_errors() {
        assert!(matches!(read_all("x.csv", b""), Err(FileError::Empty)));
        assert!(matches!(read_all("x.csv", b"  \n\n"), Err(FileError::Empty)));
        assert!(matches!(read_all("x.csv", b"foo,bar\n1,2\n"), Err(FileError::NoKnownColumns(_))));
        assert!(matches!(read_all("x.xlsx", b"PK\x03\x04garbage"), Err(FileError::Xlsx(_))));
    }

    #[test]
    fn jsonl_records() {
        let src = br#"{"case_id":"J1","sex":2,"diagnoses":["O80.000","Z37.000"],"total_cost":1000.5,"colour":"red"}
not json
{"case_id":"J2","procedures":"74.1x00"}
"#;
        let (h, items) = read_all("x.jsonl", src).unwrap();
        let r = items[0].as_ref().unwrap();
        assert_eq!(r.claim.other_diagnoses, vec!["Z37.000"]);
        assert_eq!(r.claim.total_cost, Some(crate::Fen(100050)));
        assert!(matches!(items[1], Err(RecordError { line: 2, kind: RecordErrorKind::Json(_), .. })));
        assert_eq!(items[2].as_ref().unwrap().claim.procedures[0].code, "74.1x00");
        assert_eq!(h.unknown, vec!["colour"]);
        assert!(h.present.contains(Field::Sex));
    }

    #[test]
    fn header_reports_unknown_and_duplicate_columns() {
        let h = Header::new(["case_id", "病案号", "foo", "diagnoses"]);
        assert_eq!(h.unknown, vec!["foo"]);
        assert_eq!(h.duplicates, vec!["病案号"]);
        assert!(h.present.contains(Field::MainDiagnosis));
        assert!(!h.present.contains(Field::TotalCost));
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Arbitrary bytes after a known header: the reader never panics and
        /// every item is either a record or a located error.
        #[test]
        fn readers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048), pick in 0usize..3) {
            let (name, mut input) = match pick {
                0 => ("p.csv", b"case_id,sex,age,diagnoses,procedures,total_cost,admitted_at\n".to_vec()),
                1 => ("p.jsonl", Vec::new()),
                _ => ("p.xlsx", b"PK\x03\x04".to_vec()),
            };
            input.extend_from_slice(&body);
            let opened = Reader::open(name, &input[..], None);
            if let Ok(reader) = opened {
                for item in reader {
                    if let Err(e) = item {
                        prop_assert!(e.line >= 1);
                    }
                }
            }
        }

        /// CSV text made of field-like tokens (commas, quotes, separators,
        /// multi-byte characters) reads without panicking.
        #[test]
        fn csv_tokens_never_panic(cells in proptest::collection::vec("[a-zA-Z0-9.|,;\"\n 病号+*-]{0,12}", 0..60)) {
            let mut text = String::from("case_id,sex,age,diagnoses,procedures,total_cost\n");
            for (i, c) in cells.iter().enumerate() {
                text.push_str(c);
                text.push(if i % 6 == 5 { '\n' } else { ',' });
            }
            let opened = Reader::open("t.csv", text.as_bytes(), None);
            if let Ok(reader) = opened {
                for _ in reader {}
            }
        }
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;

    /// A parser restricted to some fields reads those fields as a full parse does.
    #[test]
    fn restricted_parser_reads_the_same_fields() {
        let text = b"case_id,sex,age,diagnoses,total_cost\nC1,2,40,K35.800|I10.x00,12.50\nC2,x,41,,1\n";
        let mut reader = Reader::open("r.csv", &text[..], None).unwrap();
        let mut set = FieldSet::default();
        set.insert(Field::CaseId);
        set.insert(Field::TotalCost);
        let parser = reader.parser().only(set);
        let mut raw = Vec::new();
        reader.next_batch(10, &mut raw);
        let recs: Vec<Record> = raw.drain(..).map(|r| parser.parse(r).unwrap()).collect();
        assert_eq!(recs[0].claim.case_id, "C1");
        assert_eq!(recs[0].claim.total_cost, Some(crate::Fen(1250)));
        assert_eq!(recs[0].claim.sex, None);
        assert!(recs[0].claim.main_diagnosis.is_none());
        assert!(recs[1].issues.is_empty(), "the bad sex cell is not read");
    }

    /// Batches parsed by a RecordParser give exactly what the iterator gives.
    #[test]
    fn batches_match_the_iterator() {
        let mut text = b"case_id,sex,diagnoses,total_cost\n".to_vec();
        for i in 0..50 {
            text.extend(format!("C{i},{},K35.800|I10.x00,{}.{:02}\n", 1 + i % 3, i * 7, i).as_bytes());
            if i % 9 == 0 {
                text.extend(b"broken,line\n\n");
            }
            if i % 13 == 0 {
                text.extend(b"C,1,\xff\xfe,1\n");
            }
        }
        let show = |items: Vec<Item>| -> Vec<String> { items.into_iter().map(|i| format!("{:?}", i.map(|r| (r.line, r.claim, r.issues)))).collect() };
        let it: Vec<Item> = Reader::open("b.csv", &text[..], None).unwrap().collect();
        let mut reader = Reader::open("b.csv", &text[..], None).unwrap();
        let parser = reader.parser();
        let mut raw = Vec::new();
        let mut batched = Vec::new();
        while reader.next_batch(7, &mut raw) {
            batched.extend(raw.drain(..).map(|r| parser.parse(r)));
        }
        assert_eq!(show(it), show(batched));
    }
}

#[cfg(test)]
mod block_tests {
    use super::*;
    use proptest::prelude::*;

    fn show(items: Vec<Item>) -> Vec<String> {
        items.into_iter().map(|i| format!("{:?}", i.map(|r| (r.line, r.claim, r.issues)))).collect()
    }

    /// Items from blocks of about `target` bytes, as the command line reads files.
    fn by_blocks(text: &[u8], target: usize) -> Vec<Item> {
        let reader = Reader::open("b.csv", text, None).unwrap();
        let (start, line) = reader.csv_data_start().unwrap();
        let parser = reader.parser();
        let mut blocks = CsvBlocks::new(&text[start as usize..], line, target);
        let mut out = Vec::new();
        while let Some(b) = blocks.next_block().unwrap() {
            parser.parse_block(&b, |i| out.push(i));
        }
        out
    }

    fn check(text: &[u8]) {
        let it: Vec<Item> = Reader::open("b.csv", text, None).unwrap().collect();
        let want = show(it);
        for target in [1, 2, 3, 5, 8, 13, 40, 100, 1 << 20] {
            assert_eq!(want, show(by_blocks(text, target)), "target {target}: {:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn blocks_match_the_iterator() {
        check(b"case_id,sex,diagnoses,total_cost\nC1,1,K35.800|I10.x00,1.50\nbroken,line\n\n  \nC2,2,,2\nC3,x,\xff\xfe,1");
        check(b"case_id,sex,diagnoses,total_cost\r\nC1,1,K35.800,1.50\r\n\r\nbroken\r\nC2,2,,2\r\n");
        check(b"case_id,sex,diagnoses,total_cost\rC1,1,K35.800,1.50\rC2,2,,2\r");
        // UTF-8 (by the first 64 KiB) with a bad byte and an over-long cell further on.
        let mut big = b"case_id,sex,diagnoses,total_cost\n".to_vec();
        for i in 0..3000 {
            big.extend(format!("C{i},1,K35.800|\u{75c5},{i}.5\n").as_bytes());
        }
        big.extend(b"C,1,\xe7\x97,1\nC,1,K35,1\xff\n");
        big.extend(b"C,");
        big.extend(std::iter::repeat_n(b'x', MAX_CELL_BYTES + 1));
        big.extend(b",K35,1\nC9,2,,9\n");
        let it: Vec<Item> = Reader::open("b.csv", &big[..], None).unwrap().collect();
        assert_eq!(it.iter().filter(|i| i.is_err()).count(), 3);
        assert_eq!(show(it), show(by_blocks(&big, 4096)));
        check(b"\xef\xbb\xbfcase_id,sex,diagnoses,total_cost\n\nC1,1,\"K35.800\nI10.x00\",1.50\n\"C\"\"2\",2,\"a,b\",2\nC3,1,x\"y,3\n\"unterminated,1,2,3\nC4,1,,4\n");
    }

    proptest! {
        #[test]
        fn blocks_match_the_iterator_on_any_cells(cells in proptest::collection::vec("[a-z0-9.|,\"\r\n ]{0,6}", 0..40)) {
            let mut text = String::from("case_id,sex,diagnoses,total_cost\n");
            for (i, c) in cells.iter().enumerate() {
                text.push_str(c);
                text.push_str(match i % 5 { 3 => "\r\n", 4 => "\n", _ => "," });
            }
            check(text.as_bytes());
        }

        #[test]
        fn plain_blocks_match_the_iterator(cells in proptest::collection::vec("[a-z0-9.|,\r\n \u{00e9}\u{75c5}]{0,6}", 0..40), gbk in any::<bool>()) {
            let mut text = String::from("case_id,sex,diagnoses,total_cost\n");
            for (i, c) in cells.iter().enumerate() {
                text.push_str(c);
                text.push_str(match i % 5 { 3 => "\r\n", 4 => "\n", _ => "," });
            }
            let mut bytes = text.into_bytes();
            if gbk && bytes.len() > 40 {
                // Not UTF-8: read as GBK, where 0xff is no character.
                let n = (bytes.len() / 2).max(34);
                bytes[n] = 0xff;
            }
            check(&bytes);
        }
    }
}

#[cfg(test)]
mod xlsx_tests {
    use super::*;

    /// A workbook as hospital systems export it: Chinese headers, numbers as
    /// numbers, dates as Excel dates, an empty row in the middle.
    #[test]
    fn reads_an_xlsx_workbook() {
        use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        let date = Format::new().set_num_format("yyyy-mm-dd hh:mm");
        for (c, h) in ["病案号", "性别", "年龄", "入院时间", "主要诊断编码", "其他诊断编码", "住院总费用", "备注"].iter().enumerate() {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        ws.write_string(1, 0, "X1").unwrap();
        ws.write_number(1, 1, 2.0).unwrap();
        ws.write_number(1, 2, 35.0).unwrap();
        let t = ExcelDateTime::parse_from_str("2025-03-04 08:30:00").unwrap();
        ws.write_datetime_with_format(1, 3, &t, &date).unwrap();
        ws.write_string(1, 4, "O80.000").unwrap();
        ws.write_string(1, 5, "Z37.000；O99.000").unwrap();
        ws.write_number(1, 6, 4321.5).unwrap();
        ws.write_string(3, 0, "X2").unwrap();
        ws.write_string(3, 1, "男").unwrap();
        let bytes = wb.save_to_buffer().unwrap();

        let mut r = Reader::open("list.xlsx", &bytes[..], None).unwrap();
        assert_eq!(r.format, super::Format::Xlsx);
        let items: Vec<Item> = r.by_ref().collect();
        assert_eq!(r.header.unknown, vec!["备注"]);
        assert_eq!(items.len(), 2, "the empty row is skipped");
        let a = items[0].as_ref().unwrap();
        assert_eq!(a.line, 2);
        assert_eq!(a.claim.case_id, "X1");
        assert_eq!(a.claim.sex, Some(crate::Sex::Female));
        assert_eq!(a.claim.age, Some(35));
        assert_eq!(a.claim.admitted_at.map(|t| t.to_string()).as_deref(), Some("2025-03-04 08:30:00"));
        assert_eq!(a.claim.other_diagnoses, vec!["Z37.000", "O99.000"]);
        assert_eq!(a.claim.total_cost, Some(crate::Fen(432150)));
        assert!(a.issues.is_empty(), "{:?}", a.issues);
        let b = items[1].as_ref().unwrap();
        assert_eq!((b.line, b.claim.sex), (4, Some(crate::Sex::Male)));
    }
}
