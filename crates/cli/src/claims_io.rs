//! Streaming settlement lists from files for the batch commands, and the DRG
//! view of a claim.

use std::fs::File;
use std::path::PathBuf;

use anyhow::Context;
use claims::import::{Header, Item, Raw, Reader, Record, RecordParser};
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
}

/// Reads files in batches whose records are parsed on all cores, with a
/// progress bar per file. The caller processes each batch in two phases: a
/// parallel map (rayon) and a sequential step in file order.
pub struct Batches {
    files: Vec<PathBuf>,
    names: Vec<String>,
    next_file: usize,
    cur: Option<(u32, Reader<'static>, RecordParser, indicatif::ProgressBar)>,
    raw: Vec<Raw>,
    only: Option<claims::FieldSet>,
    /// Bytes per CSV block in [`par_fold_batches`].
    block_bytes: usize,
}

impl Batches {
    pub fn new(files: &[PathBuf]) -> Batches {
        Batches {
            names: files.iter().map(|p| p.display().to_string()).collect(),
            files: files.to_vec(),
            next_file: 0,
            cur: None,
            raw: Vec::with_capacity(BATCH),
            only: None,
            block_bytes: BLOCK_BYTES,
        }
    }

    /// Parse only these fields of each record (see [`RecordParser::only`]).
    pub fn only(mut self, fields: &[claims::Field]) -> Batches {
        let mut set = claims::FieldSet::default();
        fields.iter().for_each(|f| set.insert(*f));
        self.only = Some(set);
        self
    }

    /// Cut CSV input into blocks of about `bytes` in [`par_fold_batches`].
    pub fn block_bytes(mut self, bytes: usize) -> Batches {
        self.block_bytes = bytes;
        self
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The header of the current file.
    pub fn header(&self) -> Option<&Header> {
        self.cur.as_ref().map(|c| &c.1.header)
    }

    pub fn next_event(&mut self) -> Option<Event> {
        if let Some((file, reader, parser, bar)) = &mut self.cur {
            if reader.next_batch(BATCH, &mut self.raw) {
                let parser = &*parser;
                let items: Vec<Item> = self.raw.par_drain(..).map(|r| parser.parse(r)).collect();
                return Some(Event::Records { file: *file, items });
            }
            bar.finish_and_clear();
            self.cur = None;
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
        let bar = crate::progress::bytes_bar(len, name);
        match Reader::open(name, bar.wrap_read(f), None) {
            Ok(reader) => {
                let parser = match self.only {
                    Some(set) => reader.parser().only(set),
                    None => reader.parser(),
                };
                self.cur = Some((file, reader, parser, bar));
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
}

/// Map every readable record of `files` on all cores with `map`, then hand the
/// results to `sink` in file order. Rejected records are counted and reported
/// once per file (`drgdip qc` lists them in detail); an unreadable file is an error.
pub fn par_map_records<T: Send>(
    files: &[PathBuf],
    map: impl Fn(&Record) -> T + Sync,
    sink: impl FnMut(&Record, T),
) -> anyhow::Result<ReadStats> {
    par_map_batches(Batches::new(files), map, sink)
}

/// [`par_map_records`] over prepared [`Batches`] (e.g. restricted to some fields).
pub fn par_map_batches<T: Send>(
    mut batches: Batches,
    map: impl Fn(&Record) -> T + Sync,
    mut sink: impl FnMut(&Record, T),
) -> anyhow::Result<ReadStats> {
    let mut stats = ReadStats::default();
    let mut rejected_in_file = 0u64;
    let mut current: Option<u32> = None;
    let report = |file: Option<u32>, n: u64, names: &[String]| {
        if let (Some(f), true) = (file, n > 0) {
            let name = &names[f as usize];
            eprintln!("{name}: {n} records could not be read; run `drgdip qc {name}` for the details");
        }
    };
    while let Some(ev) = batches.next_event() {
        match ev {
            Event::FileStart { file } => {
                report(current, rejected_in_file, batches.names());
                current = Some(file);
                rejected_in_file = 0;
            }
            Event::FileError { message, .. } => anyhow::bail!(message),
            Event::Records { items, .. } => {
                let mapped: Vec<Option<T>> = items.par_iter().map(|i| i.as_ref().ok().map(&map)).collect();
                for (item, m) in items.iter().zip(mapped) {
                    match (item, m) {
                        (Ok(rec), Some(t)) => {
                            stats.records += 1;
                            sink(rec, t);
                        }
                        _ => {
                            stats.rejected += 1;
                            rejected_in_file += 1;
                        }
                    }
                }
            }
        }
    }
    report(current, rejected_in_file, batches.names());
    Ok(stats)
}

/// The fields DRG grouping reads from a claim.
pub const GROUPING_FIELDS: [claims::Field; 8] = [
    claims::Field::Sex,
    claims::Field::Age,
    claims::Field::AgeDays,
    claims::Field::BirthWeightG,
    claims::Field::MainDiagnosis,
    claims::Field::OtherDiagnoses,
    claims::Field::Diagnoses,
    claims::Field::Procedures,
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
    FileStart,
    FileError(String),
    /// Whole CSV records, split and parsed by the worker.
    Csv(std::sync::Arc<RecordParser>, claims::import::CsvBlock),
    /// Records of other formats (or an error item), parsed by the worker.
    Raw(std::sync::Arc<RecordParser>, Vec<Raw>),
}

/// What a worker made of a [`Unit`].
enum Done<A> {
    FileStart,
    FileError(String),
    Batch { acc: A, records: u64, rejected: u64 },
    Panic(Box<dyn std::any::Any + Send>),
}

/// Read `batches` as a pipeline: one thread reads the files and cuts CSV
/// input into blocks of whole records ([`claims::import::CsvBlocks`]), worker
/// threads split and parse each block and fold its records into a fresh
/// accumulator (`new`, `fold`), and this thread hands the accumulators to
/// `sink` in file order while the workers go on with the next blocks.
/// Records, rejects and errors are as [`par_map_batches`] has them.
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
                if !read_file(path, &file_names[i], only, block_bytes, &mut send) {
                    return;
                }
            }
        });
        // Workers.
        for _ in 0..workers {
            let (unit_rx, done_tx, new, fold) = (&unit_rx, done_tx.clone(), &new, &fold);
            s.spawn(move || loop {
                let next = unit_rx.lock().map(|rx| rx.recv());
                let Ok(Ok((seq, unit))) = next else { return };
                let done = match unit {
                    Unit::FileStart => Done::FileStart,
                    Unit::FileError(m) => Done::FileError(m),
                    Unit::Csv(parser, block) => run_batch(new, fold, |f| parser.parse_block(&block, f)),
                    Unit::Raw(parser, raw) => run_batch(new, fold, |f| raw.into_iter().for_each(|r| f(parser.parse(r)))),
                };
                if done_tx.send((seq, done)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);

        // In file order.
        let mut stats = ReadStats::default();
        let mut rejected_in_file = 0u64;
        let mut current: Option<usize> = None;
        let report = |file: Option<usize>, n: u64| {
            if let (Some(f), true) = (file, n > 0) {
                let name = &names[f];
                eprintln!("{name}: {n} records could not be read; run `drgdip qc {name}` for the details");
            }
        };
        let mut pending: BTreeMap<u64, Done<A>> = BTreeMap::new();
        let mut next = 0u64;
        let mut file_no = 0usize;
        let result = (|| -> anyhow::Result<()> {
            for (seq, done) in done_rx.iter() {
                pending.insert(seq, done);
                while let Some(done) = pending.remove(&next) {
                    next += 1;
                    match done {
                        Done::FileStart => {
                            report(current, rejected_in_file);
                            current = Some(file_no);
                            file_no += 1;
                            rejected_in_file = 0;
                        }
                        Done::FileError(m) => anyhow::bail!(m),
                        Done::Batch { acc, records, rejected } => {
                            stats.records += records;
                            stats.rejected += rejected;
                            rejected_in_file += rejected;
                            sink(acc);
                        }
                        Done::Panic(p) => std::panic::resume_unwind(p),
                    }
                    let _ = token_tx.send(());
                }
            }
            report(current, rejected_in_file);
            Ok(())
        })();
        // Stop the reader and the workers (on an error they are still running).
        drop(token_tx);
        drop(done_rx);
        result.map(|()| stats)
    })
}

/// Fold the items `parse` hands over into a fresh accumulator, on a worker.
fn run_batch<A>(
    new: &(impl Fn() -> A + Sync),
    fold: &(impl Fn(&mut A, &Record) + Sync),
    parse: impl FnOnce(&mut dyn FnMut(Item)),
) -> Done<A> {
    let run = std::panic::AssertUnwindSafe(|| {
        let mut acc = new();
        let (mut records, mut rejected) = (0u64, 0u64);
        parse(&mut |item| match item {
            Ok(rec) => {
                records += 1;
                fold(&mut acc, &rec);
            }
            Err(_) => rejected += 1,
        });
        Done::Batch { acc, records, rejected }
    });
    std::panic::catch_unwind(run).unwrap_or_else(Done::Panic)
}

/// Open one file and send its units (a [`Unit::FileStart`] or
/// [`Unit::FileError`] first); false when the receiver is gone.
fn read_file(
    path: &std::path::Path,
    name: &str,
    only: Option<claims::FieldSet>,
    block_bytes: usize,
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
    let bar = crate::progress::bytes_bar(len, name);
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
    if !send(Unit::FileStart) {
        return false;
    }
    // CSV: cut into blocks of whole records from the header's end on.
    let blocks = reader.csv_data_start().and_then(|(byte, line)| {
        let mut f = File::open(path).ok()?;
        f.seek(SeekFrom::Start(byte)).ok()?;
        bar.set_position(byte);
        Some(claims::import::CsvBlocks::new(bar.wrap_read(f), line, block_bytes))
    });
    if let Some(mut blocks) = blocks {
        drop(reader);
        loop {
            match blocks.next_block() {
                Ok(Some(block)) => {
                    if !send(Unit::Csv(parser.clone(), block)) {
                        return false;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let err = claims::import::RecordError {
                        line: blocks.line(),
                        column: None,
                        kind: claims::import::RecordErrorKind::Csv(format!("{e}")),
                    };
                    if !send(Unit::Raw(parser.clone(), vec![Raw::Item(Err(err))])) {
                        return false;
                    }
                    break;
                }
            }
        }
    } else {
        let mut raw = Vec::with_capacity(BATCH);
        while reader.next_batch(BATCH, &mut raw) {
            if !send(Unit::Raw(parser.clone(), std::mem::take(&mut raw))) {
                return false;
            }
            raw = Vec::with_capacity(BATCH);
        }
    }
    bar.finish_and_clear();
    true
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
        }
        assert!(st1.rejected > 30 && st1.records > 9000);
        let missing = vec![files[0].clone(), dir.join("missing.csv")];
        assert!(par_fold_batches(Batches::new(&missing), || (), |_, _| (), |_| ()).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
