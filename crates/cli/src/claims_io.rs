//! Streaming settlement lists from files for the batch commands, and the DRG
//! view of a claim.

use std::fs::File;
use std::path::PathBuf;

use anyhow::Context;
use claims::import::{Reader, Record};
use claims::{Claim, Sex};

/// Counts of a pass over claim files.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    pub records: u64,
    pub rejected: u64,
}

/// Call `f` for every readable record of `files`, with a progress bar per file.
/// Rejected records are counted (and shown once per file); `drgdip qc` reports them in detail.
pub fn for_each_record(files: &[PathBuf], mut f: impl FnMut(&Record)) -> anyhow::Result<ReadStats> {
    let mut stats = ReadStats::default();
    for path in files {
        let name = path.display().to_string();
        let file = File::open(path).with_context(|| format!("opening {name}"))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let bar = crate::progress::bytes_bar(len, &name);
        let reader = Reader::open(&name, bar.wrap_read(file), None).with_context(|| name.clone())?;
        let before = stats.rejected;
        for item in reader {
            match item {
                Ok(rec) => {
                    stats.records += 1;
                    f(&rec);
                }
                Err(_) => stats.rejected += 1,
            }
        }
        bar.finish_and_clear();
        if stats.rejected > before {
            eprintln!("{name}: {} records could not be read; run `drgdip qc {name}` for the details", stats.rejected - before);
        }
    }
    Ok(stats)
}

/// Group a claim with a DRG grouper.
pub fn group_claim(grouper: &drg::Grouper, c: &Claim, dx: &mut Vec<String>) -> drg::Grouping {
    dx.clear();
    dx.extend(c.diagnoses().map(|d| codes::normalize(d).into_owned()));
    let procs_owned: Vec<String> = c.procedures.iter().map(|p| codes::normalize(&p.code).into_owned()).collect();
    let dx_refs: Vec<&str> = dx.iter().map(String::as_str).collect();
    let proc_refs: Vec<&str> = procs_owned.iter().map(String::as_str).collect();
    let case = drg::Case {
        sex: c.sex.map(|s| match s {
            Sex::Male => 1,
            Sex::Female => 2,
        }),
        age: c.age,
        age_days: c.age_days,
        weight_g: c.birth_weight_g,
        dx: &dx_refs,
        procs: &proc_refs,
    };
    grouper.group(&case)
}
