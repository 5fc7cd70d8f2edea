//! Reading settlement lists from CSV (UTF-8 or GBK), JSON Lines and XLSX.
//!
//! **A record is one physical line** (CSV, JSON Lines: lines end in LF or
//! CRLF) or one row (XLSX). Within a CSV line cells follow RFC 4180 quoting
//! ([`LineSplitter`]), but a quoted cell must close on its own line: a line
//! break inside a quoted cell is not accepted in settlement-list CSV (JSON
//! Lines and XLSX carry any text). So a damaged line can never swallow the
//! lines after it: it becomes a located [`RecordError`] and reading resumes
//! at the next physical line. Only a file that cannot be read at all is a
//! [`FileError`].
//!
//! Every reader accounts for every line ([`LineCount`]):
//! `lines = header + read + rejected + blank`.
//!
//! Every reader streams (XLSX excepted: the format holds a sheet whole), and
//! CSV can be cut into blocks of whole lines ([`CsvBlocks`]) parsed on other
//! threads ([`RecordParser::parse_block`]) with exactly the items the
//! sequential [`Reader`] gives.

use std::io::{BufRead, BufReader, Read};

use crate::field::{Field, FieldSet};
use crate::model::{Claim, ClaimBuilder, FieldIssue};

/// Longest accepted cell, in bytes. Longer cells reject their record.
pub const MAX_CELL_BYTES: usize = 64 * 1024;

/// Longest accepted line of a CSV or JSON Lines file, in bytes before its
/// line feed. A longer line is rejected without being held in memory.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Text encoding of a CSV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// GBK / GB18030, still exported by many Chinese hospital systems. Its
    /// trail bytes are never `\n`, `"` or `,`, so lines and cells split on
    /// the raw bytes as in UTF-8.
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

    /// `csv`, `jsonl` or `xlsx`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Xlsx => "xlsx",
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
    #[error("line {line}: the header is not valid text in {encoding:?}")]
    BadHeader { line: u64, encoding: Encoding },
    #[error("line {line}: the header line cannot be split into cells: {why}")]
    HeaderLine { line: u64, why: String },
    #[error(
        "line {line}: the header holds a carriage return (CR) with no line feed after it: lines must end in \
         LF or CRLF; a file with CR-only line ends (old Mac software) must be converted first"
    )]
    BareCarriageReturn { line: u64 },
    #[error("line {line}: the header line is longer than {MAX_LINE_BYTES} bytes")]
    HeaderTooLong { line: u64 },
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
    /// A cell opening with `"` that does not close on its line (cell number, 1-based).
    UnterminatedQuote { cell: usize },
    /// Text between a cell's closing quote and the next comma (cell number, 1-based).
    TextAfterQuote { cell: usize },
    /// Bytes that are not text in the file's encoding.
    Encoding,
    /// A control character (NUL and the like; tab and line breaks aside), a
    /// bidirectional control or an invisible character ([`forbidden_char`]): the code point.
    ForbiddenChar { code: u32 },
    /// A cell longer than [`MAX_CELL_BYTES`].
    CellTooLong { bytes: usize },
    /// A line longer than [`MAX_LINE_BYTES`] (bytes before its line feed).
    LineTooLong { bytes: u64 },
    /// An XLSX cell holding a spreadsheet error value (`#DIV/0!`, `#N/A`, …).
    CellError(String),
    /// A JSON Lines line that is not a JSON object.
    Json(String),
    /// The file could not be read on from this line: the rest of it is not read.
    Io(String),
}

/// A rejected record, located by line (1-based; XLSX: the row).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecordError {
    pub line: u64,
    /// The header column concerned, when there is one.
    pub column: Option<String>,
    pub kind: RecordErrorKind,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        let col = |f: &mut std::fmt::Formatter<'_>, cell: usize| match &self.column {
            Some(c) => write!(f, "column {c} (cell {cell})"),
            None => write!(f, "cell {cell}, beyond the header's columns"),
        };
        match &self.kind {
            RecordErrorKind::UnterminatedQuote { cell } => {
                write!(f, ": unterminated quote in ")?;
                col(f, *cell)?;
                write!(
                    f,
                    ": a quoted cell must close on its own line (a line break inside a quoted cell is not \
                     accepted in settlement-list CSV; JSON Lines and XLSX carry any text)"
                )
            }
            RecordErrorKind::TextAfterQuote { cell } => {
                write!(f, ": text after the closing quote in ")?;
                col(f, *cell)?;
                write!(f, " (a quoted cell must end at a comma or the end of the line; write a quote inside it as \"\")")
            }
            kind => {
                if let Some(c) = &self.column {
                    write!(f, ", column {c}")?;
                }
                match kind {
                    RecordErrorKind::FieldCount { found, expected } => write!(
                        f,
                        ": {found} cells where the header has {expected} (a truncated line, a missing or extra \
                         comma, or a line break inside a cell)"
                    ),
                    RecordErrorKind::Encoding => write!(f, ": bytes that are not valid text in the file's encoding"),
                    RecordErrorKind::ForbiddenChar { code } => write!(
                        f,
                        ": the cell holds U+{code:04X}, a control, bidirectional or invisible character (it would make values look alike or read differently)"
                    ),
                    RecordErrorKind::CellTooLong { bytes } => {
                        write!(f, ": cell of {bytes} bytes, longer than the limit of {MAX_CELL_BYTES}")
                    }
                    RecordErrorKind::LineTooLong { bytes } => {
                        write!(f, ": line of {bytes} bytes, longer than the limit of {MAX_LINE_BYTES}")
                    }
                    RecordErrorKind::CellError(e) => write!(f, ": the cell holds the spreadsheet error {e}"),
                    RecordErrorKind::Json(e) => write!(f, ": not a JSON object: {e}"),
                    RecordErrorKind::Io(e) => write!(f, ": read error, the rest of the file is not read: {e}"),
                    RecordErrorKind::UnterminatedQuote { .. } | RecordErrorKind::TextAfterQuote { .. } => Ok(()),
                }
            }
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

/// The account of a file's lines (XLSX: rows): every line is the header, a
/// record read, a rejected line or a blank line, so
/// `lines = header + read + rejected + blank` ([`LineCount::balanced`]).
/// JSON Lines files have no header line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LineCount {
    /// Physical lines (rows) seen.
    pub lines: u64,
    /// Header lines (1 for CSV and XLSX, 0 for JSON Lines).
    pub header: u64,
    /// Records read (items `Ok`).
    pub read: u64,
    /// Lines rejected (items `Err`), each a located [`RecordError`].
    pub rejected: u64,
    /// Lines (rows) with nothing but white space.
    pub blank: u64,
}

impl LineCount {
    /// Count an item as read or rejected.
    pub fn add(&mut self, item: &Item) {
        match item {
            Ok(_) => self.read += 1,
            Err(_) => self.rejected += 1,
        }
    }

    /// Whether every line is accounted for.
    pub fn balanced(&self) -> bool {
        self.lines == self.header + self.read + self.rejected + self.blank
    }

    /// `2,001 lines = 1 header + 1,999 read + 1 rejected + 0 blank` (XLSX:
    /// rows; JSON Lines: without the header term).
    pub fn render(&self, format: Format) -> String {
        let unit = if format == Format::Xlsx { "rows" } else { "lines" };
        let header = if format == Format::Jsonl { String::new() } else { format!("{} header + ", thousands(self.header)) };
        format!(
            "{} {unit} = {header}{} read + {} rejected + {} blank",
            thousands(self.lines),
            thousands(self.read),
            thousands(self.rejected),
            thousands(self.blank)
        )
    }
}

impl std::ops::AddAssign for LineCount {
    fn add_assign(&mut self, o: LineCount) {
        self.lines += o.lines;
        self.header += o.header;
        self.read += o.read;
        self.rejected += o.rejected;
        self.blank += o.blank;
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Why a CSV line could not be split into cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// A cell opening with `"` has no closing quote on its line (cell number, 1-based).
    UnterminatedQuote { cell: usize },
    /// Text between a closing quote and the next comma (cell number, 1-based).
    TextAfterQuote { cell: usize },
}

impl SplitError {
    fn cell(self) -> usize {
        match self {
            SplitError::UnterminatedQuote { cell } | SplitError::TextAfterQuote { cell } => cell,
        }
    }
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::UnterminatedQuote { cell } => write!(f, "unterminated quote in cell {cell}"),
            SplitError::TextAfterQuote { cell } => write!(f, "text after the closing quote of cell {cell}"),
        }
    }
}

/// Splits one CSV line into cells (RFC 4180 quoting within the line): a cell
/// starting with `"` runs to its closing quote, `""` inside it is a quote,
/// and only a comma or the line's end may follow the closing quote; a `"`
/// inside an unquoted cell is an ordinary character. Reuses its buffers
/// from line to line.
#[derive(Clone, Debug, Default)]
pub struct LineSplitter {
    /// The unquoted text of every cell of the last line that held a quote.
    buf: Vec<u8>,
    /// Each cell's (start, end): in the line when it held no quote, else in `buf`.
    bounds: Vec<(usize, usize)>,
}

/// The cells of one line, from [`LineSplitter::split`].
#[derive(Clone, Copy, Debug)]
pub struct Cells<'a> {
    src: &'a [u8],
    bounds: &'a [(usize, usize)],
}

impl<'a> Cells<'a> {
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// Cell `i` (0-based), unquoted.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.bounds.get(i).map(|&(a, z)| &self.src[a..z])
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let src = self.src;
        self.bounds.iter().map(move |&(a, z)| &src[a..z])
    }
}

/// The line without one trailing carriage return (the CR of CRLF).
fn strip_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

fn strip_bom(line: &[u8]) -> &[u8] {
    line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line)
}

/// A line of nothing but white space (an empty line, or spaces, tabs, CR).
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

impl LineSplitter {
    /// Split `line` (its line feed removed; a carriage return before it is
    /// dropped here) into cells.
    pub fn split<'a>(&'a mut self, line: &'a [u8]) -> Result<Cells<'a>, SplitError> {
        let line = strip_cr(line);
        self.bounds.clear();
        if memchr::memchr(b'"', line).is_none() {
            let mut start = 0;
            for p in memchr::memchr_iter(b',', line) {
                self.bounds.push((start, p));
                start = p + 1;
            }
            self.bounds.push((start, line.len()));
            return Ok(Cells { src: line, bounds: &self.bounds });
        }
        self.buf.clear();
        let n = line.len();
        let mut i = 0;
        loop {
            let cell = self.bounds.len() + 1;
            let start = self.buf.len();
            if i < n && line[i] == b'"' {
                i += 1;
                loop {
                    let Some(j) = memchr::memchr(b'"', &line[i..]) else {
                        return Err(SplitError::UnterminatedQuote { cell });
                    };
                    self.buf.extend_from_slice(&line[i..i + j]);
                    i += j + 1;
                    if i < n && line[i] == b'"' {
                        self.buf.push(b'"');
                        i += 1;
                    } else {
                        break;
                    }
                }
                self.bounds.push((start, self.buf.len()));
                if i == n {
                    break;
                }
                if line[i] != b',' {
                    return Err(SplitError::TextAfterQuote { cell });
                }
                i += 1;
            } else {
                match memchr::memchr(b',', &line[i..]) {
                    Some(j) => {
                        self.buf.extend_from_slice(&line[i..i + j]);
                        self.bounds.push((start, self.buf.len()));
                        i += j + 1;
                    }
                    None => {
                        self.buf.extend_from_slice(&line[i..]);
                        self.bounds.push((start, self.buf.len()));
                        break;
                    }
                }
            }
        }
        Ok(Cells { src: &self.buf, bounds: &self.bounds })
    }
}

/// One physical line from [`LineReader`].
#[derive(Debug)]
pub enum PhysicalLine<'a> {
    /// The line's bytes, without its line feed (a CR before it is kept).
    Text(&'a [u8]),
    /// A line longer than [`MAX_LINE_BYTES`], skipped: its length before the line feed.
    TooLong { bytes: u64 },
}

/// The physical lines of a buffered stream: each ends at a line feed (the
/// last may lack one). Holds at most [`MAX_LINE_BYTES`] of a line.
pub struct LineReader<R> {
    input: R,
    buf: Vec<u8>,
    /// Lines returned so far (the number of the last one).
    line: u64,
    /// Bytes consumed from the stream.
    bytes: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(input: R) -> LineReader<R> {
        LineReader { input, buf: Vec::new(), line: 0, bytes: 0 }
    }

    /// Lines returned so far: the number of the last one.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Bytes consumed so far (the offset of the next line's start).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The next line and its number (1-based); `None` at the end of the stream.
    pub fn next_line(&mut self) -> std::io::Result<Option<(u64, PhysicalLine<'_>)>> {
        self.buf.clear();
        let (mut len, mut any, mut over) = (0u64, false, false);
        loop {
            let avail = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                break;
            }
            any = true;
            let (take, done) = match memchr::memchr(b'\n', avail) {
                Some(p) => (p, true),
                None => (avail.len(), false),
            };
            len += take as u64;
            if !over {
                if len > MAX_LINE_BYTES as u64 {
                    over = true;
                    self.buf = Vec::new();
                } else {
                    self.buf.extend_from_slice(&avail[..take]);
                }
            }
            let used = take + usize::from(done);
            self.input.consume(used);
            self.bytes += used as u64;
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.line += 1;
        Ok(Some((self.line, if over { PhysicalLine::TooLong { bytes: len } } else { PhysicalLine::Text(&self.buf) })))
    }
}

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

    /// The name of cell `cell` (1-based), when the header has that column.
    fn column(&self, cell: usize) -> Option<String> {
        cell.checked_sub(1).and_then(|i| self.names.get(i)).cloned()
    }
}

/// A stream of records from one file.
pub struct Reader<'r> {
    pub header: Header,
    pub format: Format,
    pub encoding: Encoding,
    inner: Inner<'r>,
    count: LineCount,
    /// CSV: byte offset and number of the first line after the header, until
    /// a line after it is read.
    data_start: Option<(u64, u64)>,
}

/// An XLSX row: its number and its cells, or why it is rejected.
type Row = (u64, Result<Vec<String>, RecordError>);

enum Inner<'r> {
    Csv { lines: LineReader<Box<dyn BufRead + 'r>>, split: LineSplitter },
    Jsonl { lines: LineReader<Box<dyn BufRead + 'r>> },
    Rows { rows: std::vec::IntoIter<Row> },
    /// After a read error: nothing more is read.
    Done,
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
            Format::Csv => Self::csv(
                Box::new(BufReader::with_capacity(256 * 1024, chained)),
                encoding.unwrap_or_else(|| detect_encoding(&head)),
            ),
            Format::Jsonl => Ok(Self::jsonl(Box::new(BufReader::with_capacity(256 * 1024, chained)))),
            Format::Xlsx => {
                let mut all = Vec::new();
                let mut chained = chained;
                chained.read_to_end(&mut all)?;
                Self::xlsx(&all)
            }
        }
    }

    fn csv(input: Box<dyn BufRead + 'r>, encoding: Encoding) -> Result<Reader<'r>, FileError> {
        let mut lines = LineReader::new(input);
        let mut count = LineCount::default();
        // The header is the first line that is not blank.
        let (at, names) = loop {
            let Some((n, line)) = lines.next_line()? else { return Err(FileError::Empty) };
            count.lines += 1;
            let PhysicalLine::Text(bytes) = line else { return Err(FileError::HeaderTooLong { line: n }) };
            let bytes = if n == 1 { strip_bom(bytes) } else { bytes };
            if is_blank(bytes) {
                count.blank += 1;
                continue;
            }
            if strip_cr(bytes).contains(&b'\r') {
                return Err(FileError::BareCarriageReturn { line: n });
            }
            let mut split = LineSplitter::default();
            let cells = split.split(bytes).map_err(|e| FileError::HeaderLine { line: n, why: e.to_string() })?;
            let mut names = Vec::with_capacity(cells.len());
            for cell in cells.iter() {
                match decode(cell, encoding) {
                    Some(s) => names.push(s.into_owned()),
                    None => return Err(FileError::BadHeader { line: n, encoding }),
                }
            }
            break (n, names);
        };
        count.header = 1;
        let header = Header::new(names.iter().map(String::as_str));
        header.check_known()?;
        Ok(Reader {
            header,
            format: Format::Csv,
            encoding,
            data_start: Some((lines.bytes(), at + 1)),
            inner: Inner::Csv { lines, split: LineSplitter::default() },
            count,
        })
    }

    fn jsonl(input: Box<dyn BufRead + 'r>) -> Reader<'r> {
        // The header is the union of keys, learnt as lines come; start with all fields known.
        let mut header = Header::new(crate::field::FIELDS.iter().map(|i| i.name));
        header.present = FieldSet::default(); // filled from the records' keys
        Reader {
            header,
            format: Format::Jsonl,
            encoding: Encoding::Utf8,
            inner: Inner::Jsonl { lines: LineReader::new(input) },
            count: LineCount::default(),
            data_start: None,
        }
    }

    fn xlsx(bytes: &[u8]) -> Result<Reader<'r>, FileError> {
        use calamine::{Data, Reader as _, Xlsx};
        let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).map_err(|e| FileError::Xlsx(e.to_string()))?;
        let sheet = wb.sheet_names().first().cloned().ok_or_else(|| FileError::Xlsx("no sheet".into()))?;
        let range = wb.worksheet_range(&sheet).map_err(|e| FileError::Xlsx(e.to_string()))?;
        // The used range may start below row 1: the rows above it are blank.
        let above = u64::from(range.start().map_or(0, |(row, _)| row));
        let mut rows = range.rows();
        let first = rows.next().ok_or(FileError::Empty)?;
        let mut names: Vec<String> = first.iter().map(cell_text).collect();
        while names.last().is_some_and(|n| n.trim().is_empty()) {
            names.pop();
        }
        let header = Header::new(names.iter().map(String::as_str));
        header.check_known()?;
        let mut count = LineCount { lines: above + 1, header: 1, blank: above, ..LineCount::default() };
        let mut body: Vec<Row> = Vec::new();
        for (i, r) in rows.enumerate() {
            let line = above + 2 + i as u64;
            count.lines += 1;
            if r.iter().all(|c| matches!(c, Data::Empty)) {
                count.blank += 1;
                continue;
            }
            body.push((line, xlsx_row(&header, r, line)));
        }
        Ok(Reader {
            header,
            format: Format::Xlsx,
            encoding: Encoding::Utf8,
            inner: Inner::Rows { rows: body.into_iter() },
            count,
            data_start: None,
        })
    }
}

/// The cells of an XLSX row as text, or why the row is rejected: a value
/// right of the header's last column, or a spreadsheet error value.
fn xlsx_row(header: &Header, r: &[calamine::Data], line: u64) -> Result<Vec<String>, RecordError> {
    use calamine::Data;
    let width = header.columns.len();
    if let Some(last) = r.iter().rposition(|c| !matches!(c, Data::Empty)) {
        if last >= width {
            return Err(RecordError { line, column: None, kind: RecordErrorKind::FieldCount { found: last + 1, expected: width } });
        }
    }
    if let Some((i, Data::Error(e))) = r.iter().enumerate().find(|(_, c)| matches!(c, Data::Error(_))) {
        return Err(RecordError { line, column: header.names.get(i).cloned(), kind: RecordErrorKind::CellError(e.to_string()) });
    }
    Ok(r.iter().take(width).map(cell_text).collect())
}

/// The encoding of a CSV file from its first bytes: each line holding
/// non-ASCII bytes votes UTF-8 when it is valid UTF-8 (the last line may be
/// cut in the middle of a character), GBK otherwise; GBK wins only with more
/// votes. So one damaged line cannot turn a UTF-8 file into GBK (which would
/// misread every Chinese cell of it): it is rejected alone.
pub fn detect_encoding(head: &[u8]) -> Encoding {
    let (mut utf8, mut gbk) = (0u32, 0u32);
    let mut lines = head.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        if line.is_ascii() {
            continue;
        }
        match std::str::from_utf8(line) {
            Ok(_) => utf8 += 1,
            Err(e) if e.error_len().is_none() && lines.peek().is_none() => utf8 += 1,
            Err(_) => gbk += 1,
        }
    }
    if gbk > utf8 {
        Encoding::Gbk
    } else {
        Encoding::Utf8
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

/// One CSV line read but not yet parsed, or an item already complete.
/// Batches of these can be parsed in parallel with a [`RecordParser`].
#[allow(clippy::large_enum_variant)] // items are rare (errors, non-CSV); boxing would cost every CSV record
pub enum Raw {
    /// A CSV line that is not blank: its number and bytes (line feed removed).
    Line { line: u64, bytes: Vec<u8> },
    Item(Item),
}

/// Parses [`Raw`] records of one file; cheap to share between threads.
#[derive(Clone, Debug)]
pub struct RecordParser {
    header: Header,
    encoding: Encoding,
}

fn too_long(line: u64, bytes: u64) -> RecordError {
    RecordError { line, column: None, kind: RecordErrorKind::LineTooLong { bytes } }
}

fn io_error(line: u64, e: &std::io::Error) -> RecordError {
    RecordError { line, column: None, kind: RecordErrorKind::Io(e.to_string()) }
}

/// The record of one CSV line that is not blank (line feed removed).
fn line_record(header: &Header, enc: Encoding, bytes: &[u8], line: u64, split: &mut LineSplitter) -> Item {
    if bytes.len() > MAX_LINE_BYTES {
        return Err(too_long(line, bytes.len() as u64));
    }
    let expected = header.columns.len();
    let body = strip_cr(bytes);
    if memchr::memchr(b'"', body).is_none() {
        // The fast path: cells are the slices between commas.
        let found = memchr::memchr_iter(b',', body).count() + 1;
        if found != expected {
            return Err(RecordError { line, column: None, kind: RecordErrorKind::FieldCount { found, expected } });
        }
        // Valid UTF-8 as a whole: every cell is (cells end at ASCII commas).
        return match (enc, std::str::from_utf8(body)) {
            (Encoding::Utf8, Ok(text)) => text_cells_record(header, text.split(','), line),
            _ => cells_record(header, body.split(|&b| b == b','), enc, line),
        };
    }
    let cells = match split.split(bytes) {
        Ok(cells) => cells,
        Err(e) => {
            let kind = match e {
                SplitError::UnterminatedQuote { cell } => RecordErrorKind::UnterminatedQuote { cell },
                SplitError::TextAfterQuote { cell } => RecordErrorKind::TextAfterQuote { cell },
            };
            return Err(RecordError { line, column: header.column(e.cell()), kind });
        }
    };
    if cells.len() != expected {
        return Err(RecordError { line, column: None, kind: RecordErrorKind::FieldCount { found: cells.len(), expected } });
    }
    cells_record(header, cells.iter(), enc, line)
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
            Raw::Line { line, bytes } => line_record(&self.header, self.encoding, &bytes, line, &mut LineSplitter::default()),
        }
    }

    /// Parse the lines of a block from [`CsvBlocks`], handing each item to `f`
    /// in order (the items [`Reader`] gives for these lines). Returns the
    /// block's account (no header).
    pub fn parse_block(&self, block: &CsvBlock, mut f: impl FnMut(Item)) -> LineCount {
        let mut count = LineCount::default();
        if let Some(bytes) = block.too_long {
            count.lines = 1;
            count.rejected = 1;
            f(Err(too_long(block.first_line, bytes)));
            return count;
        }
        let mut split = LineSplitter::default();
        let b = &block.bytes[..];
        let (mut start, mut line) = (0usize, block.first_line);
        while start < b.len() {
            let end = memchr::memchr(b'\n', &b[start..]).map_or(b.len(), |p| start + p);
            let text = &b[start..end];
            count.lines += 1;
            if is_blank(text) {
                count.blank += 1;
            } else {
                let item = line_record(&self.header, self.encoding, text, line, &mut split);
                count.add(&item);
                f(item);
            }
            start = end + 1;
            line += 1;
        }
        count
    }
}

impl Reader<'_> {
    /// A parser for this file's records, for parsing batches in parallel.
    pub fn parser(&self) -> RecordParser {
        RecordParser { header: self.header.clone(), encoding: self.encoding }
    }

    /// The account of the lines seen so far. Balanced once the last item is
    /// read through the iterator. Records handed out by [`Reader::next_batch`]
    /// are not counted as read or rejected here: count each parsed item with
    /// [`LineCount::add`].
    pub fn line_count(&self) -> LineCount {
        self.count
    }

    /// Read up to `max` raw records into `out` (cleared first). False at the end.
    /// CSV lines come unparsed; other formats come parsed. Blank lines are
    /// counted and skipped.
    pub fn next_batch(&mut self, max: usize, out: &mut Vec<Raw>) -> bool {
        out.clear();
        self.data_start = None;
        while out.len() < max {
            if let Inner::Csv { lines, .. } = &mut self.inner {
                match lines.next_line() {
                    Ok(None) => break,
                    Ok(Some((n, PhysicalLine::TooLong { bytes }))) => {
                        self.count.lines += 1;
                        out.push(Raw::Item(Err(too_long(n, bytes))));
                    }
                    Ok(Some((n, PhysicalLine::Text(b)))) => {
                        self.count.lines += 1;
                        if is_blank(b) {
                            self.count.blank += 1;
                        } else {
                            out.push(Raw::Line { line: n, bytes: b.to_vec() });
                        }
                    }
                    Err(e) => {
                        let err = io_error(lines.line() + 1, &e);
                        self.count.lines += 1;
                        self.inner = Inner::Done;
                        out.push(Raw::Item(Err(err)));
                        break;
                    }
                }
            } else {
                match self.next_item() {
                    Some(item) => out.push(Raw::Item(item)),
                    None => break,
                }
            }
        }
        !out.is_empty()
    }

    /// For a CSV file: the byte offset and line number where the lines after
    /// the header start, to read the rest as [`CsvBlocks`] (the account so far
    /// is [`Reader::line_count`]). `None` for other formats, or once a line
    /// after the header has been read.
    pub fn csv_data_start(&self) -> Option<(u64, u64)> {
        self.data_start
    }

    /// The next item, not counted as read or rejected.
    fn next_item(&mut self) -> Option<Item> {
        self.data_start = None;
        let header = &mut self.header;
        let count = &mut self.count;
        let stopped = match &mut self.inner {
            Inner::Csv { lines, split } => loop {
                match lines.next_line() {
                    Ok(None) => return None,
                    Ok(Some((n, PhysicalLine::TooLong { bytes }))) => {
                        count.lines += 1;
                        return Some(Err(too_long(n, bytes)));
                    }
                    Ok(Some((n, PhysicalLine::Text(b)))) => {
                        count.lines += 1;
                        if is_blank(b) {
                            count.blank += 1;
                            continue;
                        }
                        return Some(line_record(header, self.encoding, b, n, split));
                    }
                    Err(e) => break io_error(lines.line() + 1, &e),
                }
            },
            Inner::Jsonl { lines } => loop {
                match lines.next_line() {
                    Ok(None) => return None,
                    Ok(Some((n, PhysicalLine::TooLong { bytes }))) => {
                        count.lines += 1;
                        return Some(Err(too_long(n, bytes)));
                    }
                    Ok(Some((n, PhysicalLine::Text(b)))) => {
                        count.lines += 1;
                        let b = if n == 1 { strip_bom(b) } else { b };
                        if is_blank(b) {
                            count.blank += 1;
                            continue;
                        }
                        return Some(json_record(header, b, n));
                    }
                    Err(e) => break io_error(lines.line() + 1, &e),
                }
            },
            Inner::Rows { rows } => {
                let (line, cells) = rows.next()?;
                let cells = match cells {
                    Ok(cells) => cells,
                    Err(e) => return Some(Err(e)),
                };
                if let Some((i, c)) = cells.iter().enumerate().find(|(_, c)| c.len() > MAX_CELL_BYTES) {
                    return Some(Err(RecordError {
                        line,
                        column: header.names.get(i).cloned(),
                        kind: RecordErrorKind::CellTooLong { bytes: c.len() },
                    }));
                }
                let (claim, issues) = build(header, cells.iter().map(String::as_str));
                return Some(Ok(Record { line, claim, issues }));
            }
            Inner::Done => return None,
        };
        // A read error: the line where reading stopped is the last, rejected.
        count.lines += 1;
        self.inner = Inner::Done;
        Some(Err(stopped))
    }
}

impl Iterator for Reader<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let item = self.next_item()?;
        self.count.add(&item);
        Some(item)
    }
}

/// A run of whole lines cut from a CSV stream by [`CsvBlocks`], parsed with
/// [`RecordParser::parse_block`] (on any thread).
#[derive(Clone, Debug, Default)]
pub struct CsvBlock {
    pub bytes: Vec<u8>,
    /// Number of the block's first line.
    pub first_line: u64,
    /// A single line longer than [`MAX_LINE_BYTES`], skipped without being
    /// held (`bytes` is empty): its length before the line feed.
    pub too_long: Option<u64>,
}

/// Cuts the lines of a CSV stream (after the header; see
/// [`Reader::csv_data_start`]) into blocks of whole lines, so that they can
/// be split and parsed in parallel. Cuts are at line feeds and line numbers
/// are those the sequential [`Reader`] gives, so parsing the blocks gives
/// exactly its items.
pub struct CsvBlocks<R> {
    input: R,
    /// Bytes read and not yet handed out (they start at a line start).
    pending: Vec<u8>,
    /// Number of the line `pending` starts with.
    line: u64,
    eof: bool,
    /// A read error, reported after the bytes read before it.
    error: Option<std::io::Error>,
    target: usize,
}

impl<R: std::io::Read> CsvBlocks<R> {
    /// Read lines from `input`, positioned at the start of line number `line`;
    /// blocks of about `target` bytes (larger when a line is).
    pub fn new(input: R, line: u64, target: usize) -> CsvBlocks<R> {
        CsvBlocks { input, pending: Vec::new(), line, eof: false, error: None, target: target.max(1) }
    }

    /// Number of the next block's first line (where a read error is reported).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Read until `pending` holds `want` bytes or the stream ends.
    fn fill(&mut self, want: usize) {
        if self.eof || self.pending.len() >= want {
            return;
        }
        let need = want - self.pending.len();
        self.pending.reserve(need);
        match (&mut self.input).take(need as u64).read_to_end(&mut self.pending) {
            Ok(n) if n < need => self.eof = true,
            Ok(_) => {}
            Err(e) => {
                self.eof = true;
                self.error = Some(e);
            }
        }
    }

    /// The next block, `None` at the end. A read error ends the stream; it is
    /// returned after the blocks of the bytes read before it.
    pub fn next_block(&mut self) -> std::io::Result<Option<CsvBlock>> {
        let mut want = self.target;
        loop {
            self.fill(want);
            if self.pending.is_empty() {
                return match self.error.take() {
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            }
            let cut = if self.eof { Some(self.pending.len()) } else { memchr::memrchr(b'\n', &self.pending).map(|p| p + 1) };
            if let Some(cut) = cut {
                let rest = self.pending[cut..].to_vec();
                let mut bytes = std::mem::replace(&mut self.pending, rest);
                bytes.truncate(cut);
                let first_line = self.line;
                self.line += memchr::memchr_iter(b'\n', &bytes).count() as u64;
                return Ok(Some(CsvBlock { bytes, first_line, too_long: None }));
            }
            // Not one whole line yet.
            if self.pending.len() > MAX_LINE_BYTES {
                return Ok(Some(self.skip_long_line()));
            }
            want = (self.pending.len().max(self.target) * 2).min(MAX_LINE_BYTES + 1);
        }
    }

    /// Skip the rest of the line `pending` holds the start of (no line feed in it).
    fn skip_long_line(&mut self) -> CsvBlock {
        let mut len = self.pending.len() as u64;
        self.pending.clear();
        let first_line = self.line;
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            match self.input.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => match memchr::memchr(b'\n', &chunk[..n]) {
                    Some(p) => {
                        len += p as u64;
                        self.pending.extend_from_slice(&chunk[p + 1..n]);
                        self.line += 1;
                        break;
                    }
                    None => len += n as u64,
                },
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.eof = true;
                    self.error = Some(e);
                    break;
                }
            }
        }
        CsvBlock { bytes: Vec::new(), first_line, too_long: Some(len) }
    }
}

/// A record from its cells (bytes in the file's encoding; as many as the header has).
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
        // Every cell is decoded, read or not: a line is text in the file's
        // encoding or it is rejected, whichever fields a command reads.
        let Some(text) = decode(cell, enc) else {
            return Err(RecordError { line, column: Some(header.names[i].clone()), kind: RecordErrorKind::Encoding });
        };
        if let Some(c) = forbidden_in(&text) {
            return Err(forbidden_error(&header.names[i], c, line));
        }
        if let Some(f) = col {
            b.set(*f, &text);
        }
    }
    let (claim, issues) = b.finish();
    Ok(Record { line, claim, issues })
}

/// A character no settlement-list value may hold: controls other than tab and line
/// breaks, bidirectional controls, zero-width and other invisible format characters.
pub fn forbidden_char(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        || matches!(c as u32,
            0x200B..=0x200F   // zero-width space, joiners, LRM/RLM
            | 0x202A..=0x202E // embeddings and overrides
            | 0x2060..=0x2064 // word joiner, invisible operators
            | 0x2066..=0x2069 // isolates
            | 0xFEFF          // byte-order mark / zero-width no-break space
            | 0x00AD          // soft hyphen
            | 0xFFF9..=0xFFFB)
}

/// The first forbidden character of a cell; a byte pre-filter keeps plain cells fast
/// (every forbidden character is an ASCII control or starts with 0xC2, 0xE2 or 0xEF).
#[inline]
fn forbidden_in(cell: &str) -> Option<char> {
    if !cell.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xC2 || b == 0xE2 || b == 0xEF) {
        return None;
    }
    cell.chars().find(|c| forbidden_char(*c))
}

fn forbidden_error(header_name: &str, c: char, line: u64) -> RecordError {
    RecordError { line, column: Some(header_name.to_owned()), kind: RecordErrorKind::ForbiddenChar { code: c as u32 } }
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
        if let Some(c) = forbidden_in(cell) {
            return Err(forbidden_error(&header.names[i], c, line));
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
        if let Some(c) = forbidden_in(&cell) {
            return Err(forbidden_error(key, c, line));
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

    /// Physical lines of `text`, counted independently of the readers.
    fn physical_lines(text: &[u8]) -> u64 {
        let lf = text.iter().filter(|&&b| b == b'\n').count() as u64;
        lf + u64::from(text.last().is_some_and(|&b| b != b'\n'))
    }

    /// Items and account from blocks of about `target` bytes, as the command line reads files.
    fn by_blocks(text: &[u8], target: usize) -> (Vec<Item>, LineCount) {
        let reader = Reader::open("b.csv", text, None).unwrap();
        let (start, line) = reader.csv_data_start().unwrap();
        let mut count = reader.line_count();
        let parser = reader.parser();
        let mut blocks = CsvBlocks::new(&text[start as usize..], line, target);
        let mut out = Vec::new();
        while let Some(b) = blocks.next_block().unwrap() {
            count += parser.parse_block(&b, |i| out.push(i));
        }
        (out, count)
    }

    /// Items and account from the sequential reader's batches.
    fn by_batches(text: &[u8], max: usize) -> (Vec<Item>, LineCount) {
        let mut reader = Reader::open("b.csv", text, None).unwrap();
        let parser = reader.parser();
        let (mut raw, mut out) = (Vec::new(), Vec::new());
        let mut items = LineCount::default();
        while reader.next_batch(max, &mut raw) {
            for r in raw.drain(..) {
                let item = parser.parse(r);
                items.add(&item);
                out.push(item);
            }
        }
        let mut count = reader.line_count();
        count.read += items.read;
        count.rejected += items.rejected;
        (out, count)
    }

    fn check(text: &[u8]) {
        let mut reader = Reader::open("b.csv", text, None).unwrap();
        let it: Vec<Item> = reader.by_ref().collect();
        let count = reader.line_count();
        assert!(count.balanced(), "{count:?}");
        assert_eq!(count.lines, physical_lines(text), "{:?}", String::from_utf8_lossy(text));
        assert_eq!(count.read + count.rejected, it.len() as u64);
        let want = show(it);
        for target in [1, 2, 3, 5, 8, 13, 40, 100, 1 << 20] {
            let (items, c) = by_blocks(text, target);
            assert_eq!(want, show(items), "target {target}: {:?}", String::from_utf8_lossy(text));
            assert_eq!(count, c, "target {target}");
        }
        for max in [1, 3, 1000] {
            let (items, c) = by_batches(text, max);
            assert_eq!(want, show(items), "batches of {max}");
            assert_eq!(count, c, "batches of {max}");
        }
    }

    #[test]
    fn blocks_match_the_iterator() {
        check(b"case_id,sex,diagnoses,total_cost\nC1,1,K35.800|I10.x00,1.50\nbroken,line\n\n  \nC2,2,,2\nC3,x,\xff\xfe,1");
        check(b"case_id,sex,diagnoses,total_cost\r\nC1,1,K35.800,1.50\r\n\r\nbroken\r\nC2,2,,2\r\n");
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
        assert_eq!(show(it), show(by_blocks(&big, 4096).0));
        check(&big);
        check(b"\xef\xbb\xbfcase_id,sex,diagnoses,total_cost\n\nC1,1,\"K35.800\nI10.x00\",1.50\n\"C\"\"2\",2,\"a,b\",2\nC3,1,x\"y,3\n\"unterminated,1,2,3\nC4,1,,4\n");
        // Blank lines before the header.
        check(b"\n  \r\ncase_id,sex\nC1,1\n");
    }

    /// Lines longer than MAX_LINE_BYTES are rejected alone, whether they fall
    /// inside a block or are skipped unread, with the same item everywhere.
    #[test]
    fn over_long_lines_are_rejected_alone() {
        let mut text = b"case_id,sex\nC1,1\nC2,".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        text.extend(b"\r\nC3,2\nC4,");
        text.extend(std::iter::repeat_n(b'y', MAX_LINE_BYTES + 1));
        let mut reader = Reader::open("b.csv", &text[..], None).unwrap();
        let it: Vec<Item> = reader.by_ref().collect();
        let kinds: Vec<Result<&str, (u64, RecordErrorKind)>> =
            it.iter().map(|i| i.as_ref().map(|r| r.claim.case_id.as_str()).map_err(|e| (e.line, e.kind.clone()))).collect();
        let long = |bytes: usize| RecordErrorKind::LineTooLong { bytes: bytes as u64 };
        assert_eq!(
            kinds,
            vec![Ok("C1"), Err((3, long(MAX_LINE_BYTES + 14))), Ok("C3"), Err((5, long(MAX_LINE_BYTES + 4)))]
        );
        assert_eq!(reader.line_count(), LineCount { lines: 5, header: 1, read: 2, rejected: 2, blank: 0 });
        for target in [7, 1 << 20, 64 << 20] {
            let (items, count) = by_blocks(&text, target);
            assert_eq!(show(items), show(Reader::open("b.csv", &text[..], None).unwrap().collect()), "target {target}");
            assert_eq!(count, reader.line_count());
        }
    }

    #[test]
    fn bare_carriage_returns_in_the_header_refuse_the_file() {
        let r = Reader::open("b.csv", &b"case_id,sex,diagnoses,total_cost\rC1,1,K35.800,1.50\rC2,2,,2\r"[..], None);
        assert!(matches!(r, Err(FileError::BareCarriageReturn { line: 1 })), "{:?}", r.err());
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
mod line_tests {
    use super::*;

    fn cells(line: &str) -> Result<Vec<String>, SplitError> {
        let mut s = LineSplitter::default();
        let c = s.split(line.as_bytes())?;
        Ok(c.iter().map(|c| String::from_utf8(c.to_vec()).unwrap()).collect())
    }

    #[test]
    fn splits_by_rfc_4180_within_a_line() {
        assert_eq!(cells("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(cells("a,b\r").unwrap(), ["a", "b"], "the CR of CRLF");
        assert_eq!(cells("").unwrap(), [""]);
        assert_eq!(cells("\"a,b\",\"say \"\"hi\"\"\",").unwrap(), ["a,b", "say \"hi\"", ""]);
        assert_eq!(cells("\"\",x\"y,\"\"\"\"").unwrap(), ["", "x\"y", "\""], "a quote inside an unquoted cell is text");
        assert_eq!(cells("病,\"人，名\"").unwrap(), ["病", "人，名"]);
        assert_eq!(cells("a,\"b"), Err(SplitError::UnterminatedQuote { cell: 2 }));
        assert_eq!(cells("a,\"b\"\""), Err(SplitError::UnterminatedQuote { cell: 2 }));
        assert_eq!(cells("\"a\"b,c"), Err(SplitError::TextAfterQuote { cell: 1 }));
        assert_eq!(cells("x,\"a\" ,c"), Err(SplitError::TextAfterQuote { cell: 2 }));
    }

    /// The bug of issue 13: one unterminated quote made the CSV reader read to
    /// the next quote in the file, swallowing every record in between.
    #[test]
    fn an_unterminated_quote_rejects_its_line_only() {
        let mut text = String::from("case_id,sex,main_diagnosis,total_cost\n");
        for i in 0..2000 {
            if i == 8 {
                text.push_str("C8,1,\"K35.800,1.00\n");
            } else {
                text.push_str(&format!("C{i},1,\"K35.800\",{i}.00\n"));
            }
        }
        let mut r = Reader::open("q.csv", text.as_bytes(), None).unwrap();
        let items: Vec<Item> = r.by_ref().collect();
        let errors: Vec<String> = items.iter().filter_map(|i| i.as_ref().err()).map(ToString::to_string).collect();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("line 10: unterminated quote in column main_diagnosis (cell 3)"), "{}", errors[0]);
        assert!(errors[0].contains("line break inside a quoted cell is not accepted"), "{}", errors[0]);
        assert_eq!(r.line_count(), LineCount { lines: 2001, header: 1, read: 1999, rejected: 1, blank: 0 });
        assert_eq!(r.line_count().render(Format::Csv), "2,001 lines = 1 header + 1,999 read + 1 rejected + 0 blank");
    }

    #[test]
    fn every_line_is_accounted_for_and_located() {
        let text = b"case_id,sex,main_diagnosis,total_cost\r\n\
            A1,1,K35.800,1\r\n\
            \r\n\
            A2,1,\"K35.800\r\n\
            I10\",1\r\n\
            A3,1,K35,1,extra\r\n\
            A4,1\r\n\
            A5,1,\"K35\"x,1\r\n\
            A6,1,K35.8\xff,1\r\n\
            A7,2,N39.000,2";
        let mut r = Reader::open("l.csv", &text[..], None).unwrap();
        let got: Vec<String> = r.by_ref().map(|i| match i {
            Ok(rec) => format!("{} ok {}", rec.line, rec.claim.case_id),
            Err(e) => e.to_string(),
        }).collect();
        let starts = [
            "2 ok A1",
            "line 4: unterminated quote in column main_diagnosis (cell 3)",
            "line 5: 2 cells where the header has 4",
            "line 6: 5 cells where the header has 4",
            "line 7: 2 cells where the header has 4",
            "line 8: text after the closing quote in column main_diagnosis (cell 3)",
            "line 9, column main_diagnosis: bytes that are not valid text",
            "10 ok A7",
        ];
        assert_eq!(got.len(), starts.len(), "{got:#?}");
        for (g, w) in got.iter().zip(starts) {
            assert!(g.starts_with(w), "{g:?} does not start with {w:?}");
        }
        assert_eq!(r.line_count(), LineCount { lines: 10, header: 1, read: 2, rejected: 6, blank: 1 });
    }

    #[test]
    fn jsonl_accounts_for_every_line() {
        let src = b"\xef\xbb\xbf{\"case_id\":\"J1\"}\n\n{\"case_id\":\n\"J2\"}\n{\"case_id\":\"J3\"}";
        let mut r = Reader::open("x.jsonl", &src[..], None).unwrap();
        let items: Vec<Item> = r.by_ref().collect();
        assert_eq!(items.iter().filter(|i| i.is_ok()).count(), 2);
        assert_eq!(r.line_count(), LineCount { lines: 5, header: 0, read: 2, rejected: 2, blank: 1 });
        assert_eq!(r.line_count().render(Format::Jsonl), "5 lines = 2 read + 2 rejected + 1 blank");
    }

    #[test]
    fn one_bad_line_does_not_change_the_encoding() {
        let text = "病案号,性别,主要诊断编码\nA1,男,K35.800\nA2,女,K35.800\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert_eq!(detect_encoding(text.as_bytes()), Encoding::Utf8);
        assert_eq!(detect_encoding(&gbk), Encoding::Gbk);
        let mut damaged = text.as_bytes().to_vec();
        damaged.insert(damaged.len() - 3, 0xff);
        assert_eq!(detect_encoding(&damaged), Encoding::Utf8);
        let mut r = Reader::open("d.csv", &damaged[..], None).unwrap();
        assert_eq!(r.by_ref().filter(Result::is_ok).count(), 1);
        assert_eq!((r.line_count().read, r.line_count().rejected), (1, 1));
        // A character cut by the end of the sample.
        assert_eq!(detect_encoding(&text.as_bytes()[..text.len() - 10]), Encoding::Utf8);
        assert_eq!(detect_encoding(b"case_id\nA1\n"), Encoding::Utf8);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(5_036_946), "5,036,946");
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
        assert_eq!(r.line_count(), LineCount { lines: 4, header: 1, read: 2, rejected: 0, blank: 1 });
        assert_eq!(r.line_count().render(super::Format::Xlsx), "4 rows = 1 header + 2 read + 0 rejected + 1 blank");
    }

    /// A row with a value right of the header's last column, or a spreadsheet
    /// error value, is rejected alone and located; the sheet may start below row 1.
    #[test]
    fn bad_rows_are_rejected_alone() {
        use rust_xlsxwriter::Workbook;
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        for (c, h) in ["case_id", "sex", "total_cost"].iter().enumerate() {
            ws.write_string(2, c as u16, *h).unwrap();
        }
        ws.write_string(3, 0, "R1").unwrap();
        ws.write_string(4, 0, "R2").unwrap();
        ws.write_string(4, 4, "stray").unwrap();
        ws.write_string(5, 0, "R3").unwrap();
        let bytes = wb.save_to_buffer().unwrap();
        let mut r = Reader::open("bad.xlsx", &bytes[..], None).unwrap();
        let items: Vec<Item> = r.by_ref().collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap().line, 4);
        let e = items[1].as_ref().unwrap_err();
        assert_eq!((e.line, &e.kind), (5, &RecordErrorKind::FieldCount { found: 5, expected: 3 }));
        assert_eq!(items[2].as_ref().unwrap().claim.case_id, "R3");
        assert_eq!(r.line_count(), LineCount { lines: 6, header: 1, read: 2, rejected: 1, blank: 2 });

        let header = Header::new(["case_id", "total_cost"]);
        let row = [calamine::Data::String("R4".into()), calamine::Data::Error(calamine::CellErrorType::Div0)];
        let e = xlsx_row(&header, &row, 9).unwrap_err();
        assert_eq!(e.to_string(), "line 9, column total_cost: the cell holds the spreadsheet error #DIV/0!");
    }
}
