//! Streaming settlement lists from files for the batch commands, and the DRG
//! view of a claim.

use std::fs::File;
use std::path::PathBuf;

use anyhow::Context;
use claims::import::{Format, Header, Item, LineCount, Raw, Reader, Record, RecordError, RecordParser};
use claims::Claim;
use rayon::prelude::*;

/// Records per batch handed to the worker threads.
pub const BATCH: usize = 16 * 1024;

/// What [`Batches`] reads next.
pub enum Event {
    /// A file was opened; its header is [`Batches::header`].
    FileStart { file: u32 },
    /// A file could not be read at all.
    FileError { file: u32, message: String },
    /// Records of the current file, parsed in parallel, in file order.
    Records { file: u32, items: Vec<Item> },
    /// The current file was read to its end: its account of lines.
    FileEnd { file: u32, lines: FileLines },
}

/// Rejected lines shown on the terminal per file (`drgdip qc` lists every one).
pub const REJECTS_SHOWN: usize = 5;

/// What reading one file came to: its account of lines
/// (`lines = header + read + rejected + blank`) and its first rejected lines.
#[derive(Clone, Debug)]
pub struct FileLines {
    pub format: Format,
    pub count: LineCount,
    /// The first [`REJECTS_SHOWN`] rejected lines, in file order.
    pub first_rejects: Vec<RecordError>,
}

impl FileLines {
    pub fn new(format: Format) -> FileLines {
        FileLines { format, count: LineCount::default(), first_rejects: Vec::new() }
    }

    /// Count an item as read or rejected, keeping the first rejects.
    pub fn take(&mut self, item: &Item) {
        self.count.add(item);
        if let Err(e) = item {
            self.keep(e);
        }
    }

    fn keep(&mut self, e: &RecordError) {
        if self.first_rejects.len() < REJECTS_SHOWN {
            self.first_rejects.push(e.clone());
        }
    }

    /// Add the account and rejects of a later part of the same file.
    fn merge(&mut self, part: LineCount, rejects: &[RecordError]) {
        self.count += part;
        rejects.iter().for_each(|e| self.keep(e));
    }
}

/// The hint for seeing every rejected line of `name`.
pub fn qc_hint(name: &str) -> String {
    format!("`drgdip qc {name}` lists every rejected line with its reason")
}

/// Print a file's account of lines on stderr, e.g.
/// `claims-2025.csv: 2,001 lines = 1 header + 1,999 read + 1 rejected + 0 blank`,
/// and, when lines were rejected, a `warning:` naming the first of them with
/// their reasons and `see_all` (how to see every one). The one report of
/// every command that reads settlement lists.
pub fn report_lines(name: &str, lines: &FileLines, see_all: &str) {
    let c = &lines.count;
    eprintln!("{name}: {}", c.render(lines.format));
    if !c.balanced() {
        eprintln!("error: {name}: the account of lines does not balance ({c:?}): a reader bug, please report it");
    }
    if c.rejected == 0 {
        return;
    }
    let unit = if lines.format == Format::Xlsx { "row" } else { "line" };
    let plural = if c.rejected == 1 { "" } else { "s" };
    eprintln!(
        "warning: {name}: {} {unit}{plural} rejected (记录无法读取), left out of every figure:",
        claims::import::thousands(c.rejected)
    );
    for e in &lines.first_rejects {
        eprintln!("  {name}: {e}");
    }
    let more = c.rejected.saturating_sub(lines.first_rejects.len() as u64);
    if more > 0 {
        eprintln!("  … and {} more; {see_all}", claims::import::thousands(more));
    } else {
        eprintln!("  ({see_all})");
    }
}

/// Reads files in batches whose records are parsed on all cores, with a
/// progress bar per file. The caller processes each batch in two phases: a
/// parallel map (rayon) and a sequential step in file order.
pub struct Batches {
    files: Vec<PathBuf>,
    names: Vec<String>,
    next_file: usize,
    cur: Option<(u32, Reader<'static>, RecordParser, indicatif::ProgressBar, FileLines)>,
    /// No progress bar (a first pass).
    quiet: bool,
    raw: Vec<Raw>,
    only: Option<claims::FieldSet>,
    /// Bytes per CSV block in [`par_fold_batches`].
    block_bytes: usize,
    /// Records replaced by a later version of the same (institution, case id),
    /// left out of every figure ([`Batches::latest_versions`]).
    skip: Option<std::sync::Arc<Superseded>>,
}

/// The (file, line) of every record a later version of the same (institution,
/// case id) replaces.
#[derive(Debug, Default)]
pub struct Superseded {
    pub at: std::collections::HashSet<(u32, u64)>,
}

impl Superseded {
    pub fn contains(&self, file: u32, line: u64) -> bool {
        self.at.contains(&(file, line))
    }
}

impl Batches {
    pub fn new(files: &[PathBuf]) -> Batches {
        Batches {
            names: files.iter().map(|p| p.display().to_string()).collect(),
            files: files.to_vec(),
            next_file: 0,
            cur: None,
            quiet: false,
            raw: Vec::with_capacity(BATCH),
            only: None,
            block_bytes: BLOCK_BYTES,
            skip: None,
        }
    }

    /// Count each (institution, case id) once, the later version winning (as in the
    /// store): a first pass reads only those two fields of every file, reports every
    /// repeated case with both places, and the records it replaces are then left out
    /// of the pass that follows.
    pub fn latest_versions(mut self) -> anyhow::Result<Batches> {
        use claims::Field;
        let mut versions = claims::Versions::new();
        let mut locs: Vec<(u32, u64)> = Vec::new();
        let mut skip = Superseded::default();
        let mut shown = Vec::new();
        // One file at a time through the block pipeline (both cores), so that each
        // record's file is known; quiet: the pass that follows reports the lines.
        for (i, path) in self.files.iter().enumerate() {
            let file = i as u32;
            let mut first = Batches::new(std::slice::from_ref(path)).only(&[Field::InstitutionId, Field::CaseId]);
            first.quiet = true;
            par_fold_batches(
                first,
                Vec::new,
                |acc: &mut Vec<(u64, String, String)>, rec| {
                    acc.push((rec.line, rec.claim.institution_id.clone(), rec.claim.case_id.clone()))
                },
                |acc| {
                    for (line, inst, case) in acc {
                        locs.push((file, line));
                        if let Some(j) = versions.push(&inst, &case) {
                            let earlier = locs[j as usize];
                            skip.at.insert(earlier);
                            if shown.len() < 10 {
                                shown.push(format!(
                                    "({inst}, {case}): {} line {} and {} line {line}",
                                    self.names[earlier.0 as usize], earlier.1, self.names[i]
                                ));
                            }
                        }
                    }
                },
            )?;
        }
        let n = versions.replaced();
        if n > 0 {
            eprintln!(
                "warning: {n} cases were given more than once (same institution and case id); the later version is used and the earlier dropped: {}{}",
                shown.join("; "),
                if n > shown.len() as u64 { "; …" } else { "" }
            );
            self.skip = Some(std::sync::Arc::new(skip));
        }
        Ok(self)
    }


    /// Parse only these fields of each record (see [`RecordParser::only`]).
    pub fn only(mut self, fields: &[claims::Field]) -> Batches {
        let mut set = claims::FieldSet::default();
        fields.iter().for_each(|f| set.insert(*f));
        self.only = Some(set);
        self
    }

    /// Cut CSV input into blocks of about `bytes` in [`par_fold_batches`].
    #[cfg(test)]
    pub fn block_bytes(mut self, bytes: usize) -> Batches {
        self.block_bytes = bytes;
        self
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The records [`Batches::latest_versions`] found replaced, for readers of their own.
    pub fn superseded(&self) -> Option<std::sync::Arc<Superseded>> {
        self.skip.clone()
    }

    /// The header of the current file.
    pub fn header(&self) -> Option<&Header> {
        self.cur.as_ref().map(|c| &c.1.header)
    }

    pub fn next_event(&mut self) -> Option<Event> {
        if let Some((file, reader, parser, bar, lines)) = &mut self.cur {
            if reader.next_batch(BATCH, &mut self.raw) {
                let parser = &*parser;
                let mut items: Vec<Item> = self.raw.par_drain(..).map(|r| parser.parse(r)).collect();
                items.iter().for_each(|i| lines.take(i));
                if let Some(skip) = &self.skip {
                    let f = *file;
                    items.retain(|i| !matches!(i, Ok(rec) if skip.contains(f, rec.line)));
                }
                return Some(Event::Records { file: *file, items });
            }
            bar.finish_and_clear();
            // The reader counted the header and blank lines; the batches' items are counted here.
            let (file, mut lines) = (*file, lines.clone());
            let (read, rejected) = (lines.count.read, lines.count.rejected);
            lines.count = reader.line_count();
            lines.count.read += read;
            lines.count.rejected += rejected;
            self.cur = None;
            return Some(Event::FileEnd { file, lines });
        }
        let i = self.next_file;
        if i >= self.files.len() {
            return None;
        }
        self.next_file += 1;
        let file = i as u32;
        let name = &self.names[i];
        let f = match File::open(&self.files[i]).with_context(|| format!("opening {name}")) {
            Ok(f) => f,
            Err(e) => return Some(Event::FileError { file, message: format!("{e:#}") }),
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let bar = if self.quiet { indicatif::ProgressBar::hidden() } else { crate::progress::bytes_bar(len, name) };
        match Reader::open(name, bar.wrap_read(f), None) {
            Ok(reader) => {
                let parser = match self.only {
                    Some(set) => reader.parser().only(set),
                    None => reader.parser(),
                };
                let lines = FileLines::new(reader.format);
                self.cur = Some((file, reader, parser, bar, lines));
                Some(Event::FileStart { file })
            }
            Err(e) => {
                bar.finish_and_clear();
                Some(Event::FileError { file, message: format!("{name}: {e}") })
            }
        }
    }
}

/// Counts of a pass over claim files.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    pub records: u64,
    pub rejected: u64,
    /// The account of lines of all files together.
    pub lines: LineCount,
}

/// Map every readable record of `files` on all cores with `map`, then hand the
/// results to `sink` in file order. Each file's account of lines is printed
/// ([`report_lines`]), loudly when lines were rejected (`drgdip qc` lists them
/// in detail); an unreadable file is an error.
#[cfg(test)]
pub fn par_map_records<T: Send>(
    files: &[PathBuf],
    map: impl Fn(&Record) -> T + Sync,
    sink: impl FnMut(&Record, T),
) -> anyhow::Result<ReadStats> {
    par_map_batches(Batches::new(files), map, sink)
}

/// [`par_map_records`] over prepared [`Batches`] (e.g. restricted to some fields).
#[cfg(test)]
pub fn par_map_batches<T: Send>(
    batches: Batches,
    map: impl Fn(&Record) -> T + Sync,
    mut sink: impl FnMut(&Record, T),
) -> anyhow::Result<ReadStats> {
    par_map_batches_located(batches, map, |_, r, t| sink(r, t))
}

/// [`par_map_batches`] whose sink also gets the record's file (its index in `batches`).
pub fn par_map_batches_located<T: Send>(
    mut batches: Batches,
    map: impl Fn(&Record) -> T + Sync,
    mut sink: impl FnMut(u32, &Record, T),
) -> anyhow::Result<ReadStats> {
    let mut stats = ReadStats::default();
    while let Some(ev) = batches.next_event() {
        match ev {
            Event::FileStart { .. } => {}
            Event::FileEnd { file, lines } => {
                let name = &batches.names()[file as usize];
                report_lines(name, &lines, &qc_hint(name));
                stats.lines += lines.count;
            }
            Event::FileError { message, .. } => anyhow::bail!(message),
            Event::Records { items, file } => {
                let mapped: Vec<Option<T>> = items.par_iter().map(|i| i.as_ref().ok().map(&map)).collect();
                for (item, m) in items.iter().zip(mapped) {
                    match (item, m) {
                        (Ok(rec), Some(t)) => {
                            stats.records += 1;
                            sink(file, rec, t);
                        }
                        _ => stats.rejected += 1,
                    }
                }
            }
        }
    }
    Ok(stats)
}

/// The fields DRG grouping reads from a claim.
pub const GROUPING_FIELDS: [claims::Field; 14] = [
    claims::Field::Sex,
    claims::Field::Age,
    claims::Field::AgeDays,
    claims::Field::BirthWeightG,
    claims::Field::MainDiagnosis,
    claims::Field::OtherDiagnoses,
    claims::Field::Diagnoses,
    claims::Field::Procedures,
    // Regional schemes also condition on these (DRG-level `when`, issue 14).
    claims::Field::Los,
    claims::Field::DischargeWay,
    claims::Field::Department,
    claims::Field::IcuHours,
    // The length of stay from the dates when `los` is not given.
    claims::Field::AdmittedAt,
    claims::Field::DischargedAt,
];

/// Group a claim with a DRG grouper. Codes are normalised first; a code that is
/// already in normal form is not copied.
pub fn group_claim(grouper: &drg::Grouper, c: &Claim, _scratch: &mut Vec<String>) -> drg::Grouping {
    let dx: Vec<std::borrow::Cow<'_, str>> = c.diagnoses().map(codes::normalize).collect();
    let procs: Vec<std::borrow::Cow<'_, str>> = c.procedures.iter().map(|p| codes::normalize(&p.code)).collect();
    let dx_refs: Vec<&str> = dx.iter().map(|d| d.as_ref()).collect();
    let proc_refs: Vec<&str> = procs.iter().map(|p| p.as_ref()).collect();
    let case = server::pipeline::drg_case(c, &dx_refs, &proc_refs);
    grouper.group(&case)
}

/// Bytes per block of CSV records handed to a worker by [`par_fold_batches`].
pub const BLOCK_BYTES: usize = 4 << 20;

/// A piece of work for [`par_fold_batches`]' workers, numbered in file order.
enum Unit {
    FileStart(Format),
    /// The end of a file: the lines its reader counted itself (header, blank,
    /// and for CSV the lines before the first block).
    FileEnd(LineCount),
    FileError(String),
    /// Whole CSV records of file `u32`, split and parsed by the worker.
    Csv(std::sync::Arc<RecordParser>, claims::import::CsvBlock, u32),
    /// Records of other formats (or an error item) of file `u32`, parsed by the worker.
    Raw(std::sync::Arc<RecordParser>, Vec<Raw>, u32),
}

/// What a worker made of a [`Unit`].
enum Done<A> {
    FileStart(Format),
    FileEnd(LineCount),
    FileError(String),
    /// A folded batch: its account of lines and its first rejects.
    Batch { acc: A, count: LineCount, rejects: Vec<RecordError> },
    Panic(Box<dyn std::any::Any + Send>),
}

/// Read `batches` as a pipeline: one thread reads the files and cuts CSV
/// input into blocks of whole records ([`claims::import::CsvBlocks`]), worker
/// threads split and parse each block and fold its records into a fresh
/// accumulator (`new`, `fold`), and this thread hands the accumulators to
/// `sink` in file order while the workers go on with the next blocks.
/// Records, rejects, errors and the report of each file's lines are as
/// [`par_map_batches`] has them.
pub fn par_fold_batches<A: Send>(
    batches: Batches,
    new: impl Fn() -> A + Sync,
    fold: impl Fn(&mut A, &Record) + Sync,
    mut sink: impl FnMut(A),
) -> anyhow::Result<ReadStats> {
    use std::collections::BTreeMap;
    use std::sync::{mpsc, Mutex};

    let workers = rayon::current_num_threads().max(1);
    // Units in flight (read, not yet sunk): bounds memory.
    let in_flight = 3 * workers + 2;
    let (unit_tx, unit_rx) = mpsc::sync_channel::<(u64, Unit)>(workers);
    let unit_rx = Mutex::new(unit_rx);
    let (done_tx, done_rx) = mpsc::channel::<(u64, Done<A>)>();
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        token_tx.send(()).expect("token");
    }
    let names = batches.names.clone();
    let only = batches.only;
    let block_bytes = batches.block_bytes;
    let skip = batches.skip.clone();
    let quiet = batches.quiet;
    let (files, file_names) = (batches.files, batches.names);

    std::thread::scope(|s| {
        // Reader.
        s.spawn(move || {
            let mut seq = 0u64;
            let mut send = |u: Unit| -> bool {
                if token_rx.recv().is_err() {
                    return false;
                }
                let ok = unit_tx.send((seq, u)).is_ok();
                seq += 1;
                ok
            };
            for (i, path) in files.iter().enumerate() {
                if !read_file(path, &file_names[i], i as u32, only, block_bytes, quiet, &mut send) {
                    return;
                }
            }
        });
        // Workers.
        for _ in 0..workers {
            let (unit_rx, done_tx, new, fold, skip) = (&unit_rx, done_tx.clone(), &new, &fold, &skip);
            s.spawn(move || loop {
                let next = unit_rx.lock().map(|rx| rx.recv());
                let Ok(Ok((seq, unit))) = next else { return };
                let done = match unit {
                    Unit::FileStart(format) => Done::FileStart(format),
                    Unit::FileEnd(count) => Done::FileEnd(count),
                    Unit::FileError(m) => Done::FileError(m),
                    Unit::Csv(parser, block, file) => run_batch(new, fold, skip.as_deref(), file, |f| {
                        let c = parser.parse_block(&block, f);
                        LineCount { lines: c.lines, blank: c.blank, ..LineCount::default() }
                    }),
                    Unit::Raw(parser, raw, file) => run_batch(new, fold, skip.as_deref(), file, |f| {
                        raw.into_iter().for_each(|r| f(parser.parse(r)));
                        LineCount::default()
                    }),
                };
                if done_tx.send((seq, done)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);

        // In file order.
        let mut stats = ReadStats::default();
        // The file being read: its number and its account so far.
        let mut current: Option<(usize, FileLines)> = None;
        let mut pending: BTreeMap<u64, Done<A>> = BTreeMap::new();
        let mut next = 0u64;
        let mut file_no = 0usize;
        let result = (|| -> anyhow::Result<()> {
            for (seq, done) in done_rx.iter() {
                pending.insert(seq, done);
                while let Some(done) = pending.remove(&next) {
                    next += 1;
                    match done {
                        Done::FileStart(format) => {
                            current = Some((file_no, FileLines::new(format)));
                            file_no += 1;
                        }
                        Done::FileEnd(count) => {
                            if let Some((f, mut lines)) = current.take() {
                                lines.count += count;
                                if !quiet {
                                    report_lines(&names[f], &lines, &qc_hint(&names[f]));
                                }
                                stats.lines += lines.count;
                            }
                        }
                        Done::FileError(m) => anyhow::bail!(m),
                        Done::Batch { acc, count, rejects } => {
                            stats.records += count.read;
                            stats.rejected += count.rejected;
                            if let Some((_, lines)) = &mut current {
                                lines.merge(count, &rejects);
                            }
                            sink(acc);
                        }
                        Done::Panic(p) => std::panic::resume_unwind(p),
                    }
                    let _ = token_tx.send(());
                }
            }
            Ok(())
        })();
        // Stop the reader and the workers (on an error they are still running).
        drop(token_tx);
        drop(done_rx);
        result.map(|()| stats)
    })
}

/// Fold the items `parse` hands over into a fresh accumulator, on a worker.
/// `parse` returns the lines and blank lines it saw (none for raw batches);
/// records and rejects are counted here.
fn run_batch<A>(
    new: &(impl Fn() -> A + Sync),
    fold: &(impl Fn(&mut A, &Record) + Sync),
    skip: Option<&Superseded>,
    file: u32,
    parse: impl FnOnce(&mut dyn FnMut(Item)) -> LineCount,
) -> Done<A> {
    let run = std::panic::AssertUnwindSafe(|| {
        let mut acc = new();
        let (mut read, mut rejected) = (0u64, 0u64);
        let mut rejects = Vec::new();
        let mut count = parse(&mut |item| match item {
            Ok(rec) => {
                read += 1;
                if !skip.is_some_and(|s| s.contains(file, rec.line)) {
                    fold(&mut acc, &rec);
                }
            }
            Err(e) => {
                rejected += 1;
                if rejects.len() < REJECTS_SHOWN {
                    rejects.push(e);
                }
            }
        });
        count.read += read;
        count.rejected += rejected;
        Done::Batch { acc, count, rejects }
    });
    std::panic::catch_unwind(run).unwrap_or_else(Done::Panic)
}

/// Open one file and send its units (a [`Unit::FileStart`] first and a
/// [`Unit::FileEnd`] last, or a [`Unit::FileError`]); false when the receiver is gone.
fn read_file(
    path: &std::path::Path,
    name: &str,
    file: u32,
    only: Option<claims::FieldSet>,
    block_bytes: usize,
    quiet: bool,
    send: &mut impl FnMut(Unit) -> bool,
) -> bool {
    use std::io::{Seek, SeekFrom};
    use std::sync::Arc;
    let open = || -> anyhow::Result<(File, u64)> {
        let f = File::open(path).with_context(|| format!("opening {name}"))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        Ok((f, len))
    };
    let (f, len) = match open() {
        Ok(x) => x,
        Err(e) => return send(Unit::FileError(format!("{e:#}"))),
    };
    let bar = if quiet { indicatif::ProgressBar::hidden() } else { crate::progress::bytes_bar(len, name) };
    let mut reader = match Reader::open(name, bar.wrap_read(f), None) {
        Ok(r) => r,
        Err(e) => {
            bar.finish_and_clear();
            return send(Unit::FileError(format!("{name}: {e}")));
        }
    };
    let parser = Arc::new(match only {
        Some(set) => reader.parser().only(set),
        None => reader.parser(),
    });
    if !send(Unit::FileStart(reader.format)) {
        return false;
    }
    // CSV: cut into blocks of whole records from the header's end on.
    let blocks = reader.csv_data_start().and_then(|(byte, line)| {
        let mut f = File::open(path).ok()?;
        f.seek(SeekFrom::Start(byte)).ok()?;
        bar.set_position(byte);
        Some(claims::import::CsvBlocks::new(bar.wrap_read(f), line, block_bytes))
    });
    // The lines the reader counted itself: for CSV the header and the blank
    // lines before it (the blocks count the rest), else every line but the records'.
    let mut framing;
    if let Some(mut blocks) = blocks {
        framing = reader.line_count();
        drop(reader);
        loop {
            match blocks.next_block() {
                Ok(Some(block)) => {
                    if !send(Unit::Csv(parser.clone(), block, file)) {
                        return false;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // The line where reading stopped is the last, rejected.
                    let err = RecordError {
                        line: blocks.line(),
                        column: None,
                        kind: claims::import::RecordErrorKind::Io(format!("{e}")),
                    };
                    framing.lines += 1;
                    if !send(Unit::Raw(parser.clone(), vec![Raw::Item(Err(err))], file)) {
                        return false;
                    }
                    break;
                }
            }
        }
    } else {
        let mut raw = Vec::with_capacity(BATCH);
        while reader.next_batch(BATCH, &mut raw) {
            if !send(Unit::Raw(parser.clone(), std::mem::take(&mut raw), file)) {
                return false;
            }
            raw = Vec::with_capacity(BATCH);
        }
        framing = reader.line_count();
    }
    bar.finish_and_clear();
    send(Unit::FileEnd(framing))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pipeline hands over the records, rejects and errors the batch
    /// reader gives, in file order, over many blocks and files of each format.
    #[test]
    fn fold_matches_map() {
        let dir = std::env::temp_dir().join(format!("drgdip-claims-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = Vec::new();
        for (k, crlf) in [(0, false), (1, true), (2, false)] {
            let nl = if crlf { "\r\n" } else { "\n" };
            let mut text = format!("case_id,sex,diagnoses,total_cost{nl}");
            for i in 0..3000 {
                text.push_str(&format!("F{k}C{i},{},K35.800|I10.x00,{}.5{nl}", 1 + i % 2, i));
                if i % 97 == 0 {
                    text.push_str(&format!("broken,line{nl}{nl}"));
                }
                if i % 401 == 0 {
                    text.push_str(&format!("\"F{k}Q{i}\",1,\"K35.800\nI10.x00\",1{nl}"));
                }
            }
            let path = dir.join(format!("c{k}.csv"));
            std::fs::write(&path, text).unwrap();
            files.push(path);
        }
        let jsonl = dir.join("c3.jsonl");
        std::fs::write(&jsonl, "{\"case_id\":\"J1\",\"total_cost\":\"1.00\"}\nnot json\n{\"case_id\":\"J2\"}\n").unwrap();
        files.push(jsonl);
        let mut want = Vec::new();
        let st1 = par_map_records(&files, |r| r.claim.case_id.clone(), |r, id| want.push((r.line, id))).unwrap();
        for bytes in [1, 700, 64 << 10] {
            let mut got = Vec::new();
            let st2 = par_fold_batches(
                Batches::new(&files).block_bytes(bytes),
                Vec::new,
                |v: &mut Vec<(u64, String)>, r| v.push((r.line, r.claim.case_id.clone())),
                |v| got.extend(v),
            )
            .unwrap();
            assert_eq!(want, got, "blocks of {bytes} bytes");
            assert_eq!((st1.records, st1.rejected), (st2.records, st2.rejected));
            assert_eq!(st1.lines, st2.lines, "blocks of {bytes} bytes");
        }
        assert!(st1.rejected > 30 && st1.records > 9000);
        // Every line of every file accounted for: header, read, rejected or blank.
        let physical: u64 = files
            .iter()
            .map(|f| std::fs::read(f).unwrap())
            .map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64 + u64::from(b.last() != Some(&b'\n')))
            .sum();
        assert!(st1.lines.balanced(), "{:?}", st1.lines);
        assert_eq!(st1.lines.lines, physical);
        assert_eq!((st1.lines.read, st1.lines.rejected), (st1.records, st1.rejected));
        assert_eq!(st1.lines.header, 3, "three CSV files, one JSON Lines file");
        let missing = vec![files[0].clone(), dir.join("missing.csv")];
        assert!(par_fold_batches(Batches::new(&missing), || (), |_, _| (), |_| ()).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
