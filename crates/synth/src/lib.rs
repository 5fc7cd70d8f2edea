//! A synthetic pooling region (统筹区): institutions, inpatient settlement lists
//! for several years, and ground-truth labels of injected abuse patterns.
//!
//! No real patient data may be shipped, yet every part of the system must be
//! shown, tested and measured on data that looks like a real region. The
//! generator draws diagnosis/procedure combinations from a DRG scheme (the
//! built-in [`demo`] scheme, or any scheme in the `chs-drg-1.1` layout), keeps
//! only combinations its grouper verifies, and writes records that pass the
//! project's QC rules.
//!
//! Pure: everything is written to `impl Write` given by the caller; no file
//! IO, no clock. The same [`Config`] (seed included) gives byte-identical
//! output, whatever the number of threads.

pub mod catalog;
pub mod clinical;
pub mod demo;
mod gen;
pub mod region;
mod write;

pub use catalog::{Catalog, StayKind, Template};
pub use clinical::CodeRules;
pub use gen::{Generator, Pattern, ANOMALIES_HEADER};
pub use region::{Institution, Level, Region};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Config {
    /// Number of institutions.
    pub hospitals: usize,
    /// Number of inpatient cases over all years.
    pub cases: u64,
    /// Settlement years, e.g. `[2024, 2025]`.
    pub years: Vec<i32>,
    pub seed: u64,
    /// 医保区划 code of the region (synthetic by default).
    pub region_id: String,
    /// Name of the region's city.
    pub region_name: String,
    /// Share of institutions that inject abuse patterns.
    pub abusive_share: f64,
    /// Share of an abusive institution's cases that carry its pattern.
    pub anomaly_rate: f64,
    /// Cases per parallel work unit. Each unit has its own random stream, so the
    /// output depends on it (not on the number of threads).
    pub chunk: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hospitals: 50,
            cases: 100_000,
            years: vec![2024, 2025],
            seed: 1,
            region_id: "990100".into(),
            region_name: "云川".into(),
            abusive_share: 0.12,
            anomaly_rate: 0.04,
            chunk: 8192,
        }
    }
}
