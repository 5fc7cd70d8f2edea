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
        }
    }

    /// Parse only these fields of each record (see [`RecordParser::only`]).
    pub fn only(mut self, fields: &[claims::Field]) -> Batches {
        let mut set = claims::FieldSet::default();
        fields.iter().for_each(|f| set.insert(*f));
        self.only = Some(set);
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
