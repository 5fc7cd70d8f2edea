//! Auxiliary catalogues (辅助目录): per-case levels that adjust a group's score.
//!
//! The DIP specification refines the main catalogue (主目录) with auxiliary ones:
//! disease severity from secondary diagnoses (CCI 指数), tumour severity (转移, 放化疗),
//! and age features (年龄特征病种). Each catalogue here maps a case to a *level*
//! 0..=3 (or "not applicable"), and the library holds one coefficient per level.
//!
//! * **Severity** ([`CciTable`]): a Charlson-comorbidity-style table of ICD-10 prefixes,
//!   each with a *family* and a weight. A case scores the highest weight per family
//!   among its secondary diagnoses, summed over families; the sum maps to a level by
//!   [`SeverityParams::thresholds`] (default 1, 3, 5: level 0 = 0, 1 = 1–2, 2 = 3–4,
//!   3 = ≥ 5). The built-in table is the Charlson index in the ICD-10 coding of
//!   Quan et al. (2005), reduced to prefixes.
//! * **Tumour** ([`TumourParams`]): for a main diagnosis that is a neoplasm, level 1 =
//!   radiotherapy or chemotherapy (Z51.0/Z51.1 among the diagnoses, or procedures
//!   92.2x/92.3x/99.25/99.28), 2 = metastasis (C77–C79 among the secondary diagnoses),
//!   3 = both; other main diagnoses are not applicable.
//! * **Age** ([`AgeParams`]): 1 = infant (under 1 year), 2 = elderly (65–79), 3 = very old
//!   (≥ 80); 0 = everyone else.
//!
//! Coefficients are estimated when a library is built (see `build`). Level 0 (no
//! feature) is the reference and keeps coefficient 1. For level `L ≥ 1` of a
//! catalogue, with `r_L = Σ cost / Σ group average` over the (kept, untrimmed-away)
//! build cases at that level, the coefficient is `r_L / r_0`, when both levels have at
//! least [`AuxParams::min_cases`] cases; otherwise 1. With [`AuxParams::floor_at_one`]
//! (default) coefficients below 1 are raised to 1: the catalogues only ever raise a
//! score. A case's coefficient is the product of
//! its levels' coefficients over the enabled catalogues.

use rustc_hash::FxHashMap;

use crate::score::Fixed;

/// "Not applicable" level (e.g. the tumour catalogue for a non-neoplasm).
pub const NA: u8 = 15;

/// Which catalogues exist and how levels are assigned. Stored in the manifest.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AuxParams {
    pub severity: SeverityParams,
    pub tumour: TumourParams,
    pub age: AgeParams,
    /// Cases a level needs in the build data to get an estimated coefficient.
    pub min_cases: u32,
    /// Raise estimated coefficients below 1 to 1.
    pub floor_at_one: bool,
}

impl Default for AuxParams {
    fn default() -> Self {
        AuxParams {
            severity: SeverityParams::default(),
            tumour: TumourParams::default(),
            age: AgeParams::default(),
            min_cases: 30,
            floor_at_one: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SeverityParams {
    pub enabled: bool,
    /// CCI sums at which levels 1, 2 and 3 start.
    pub thresholds: [u32; 3],
}

impl Default for SeverityParams {
    fn default() -> Self {
        SeverityParams {
            enabled: true,
            thresholds: [1, 3, 5],
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TumourParams {
    pub enabled: bool,
    /// Main-diagnosis prefixes that make a case a tumour case.
    pub neoplasm_prefixes: Vec<String>,
    /// Secondary-diagnosis prefixes meaning metastasis.
    pub metastasis_prefixes: Vec<String>,
    /// Diagnosis prefixes meaning a radiotherapy or chemotherapy episode.
    pub therapy_diagnosis_prefixes: Vec<String>,
    /// Procedure prefixes meaning radiotherapy or chemotherapy.
    pub therapy_procedure_prefixes: Vec<String>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for TumourParams {
    fn default() -> Self {
        TumourParams {
            enabled: true,
            neoplasm_prefixes: strings(&["C", "D0", "D1", "D2", "D3", "D4"]),
            metastasis_prefixes: strings(&["C77", "C78", "C79"]),
            therapy_diagnosis_prefixes: strings(&["Z51.0", "Z51.1"]),
            therapy_procedure_prefixes: strings(&["92.2", "92.3", "99.25", "99.28"]),
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AgeParams {
    pub enabled: bool,
    /// Under this many whole years: infant (level 1).
    pub infant_below_years: u32,
    /// From this age: elderly (level 2).
    pub elderly_from: u32,
    /// From this age: very old (level 3).
    pub very_old_from: u32,
}

impl Default for AgeParams {
    fn default() -> Self {
        AgeParams {
            enabled: true,
            infant_below_years: 1,
            elderly_from: 65,
            very_old_from: 80,
        }
    }
}

/// The three catalogues, in the order used in files and arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Catalogue {
    Severity,
    Tumour,
    Age,
}

impl Catalogue {
    pub const ALL: [Catalogue; 3] = [Catalogue::Severity, Catalogue::Tumour, Catalogue::Age];

    pub fn key(self) -> &'static str {
        match self {
            Catalogue::Severity => "severity",
            Catalogue::Tumour => "tumour",
            Catalogue::Age => "age",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Catalogue::Severity => "疾病严重程度(CCI)",
            Catalogue::Tumour => "肿瘤严重程度",
            Catalogue::Age => "年龄特征",
        }
    }

    pub fn parse(s: &str) -> Option<Catalogue> {
        Catalogue::ALL.into_iter().find(|c| c.key() == s.trim())
    }
}

/// A case's level in each catalogue (`NA` when not applicable or disabled).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Levels {
    pub severity: u8,
    pub tumour: u8,
    pub age: u8,
    /// The CCI sum behind the severity level.
    pub cci: u8,
}

impl Levels {
    pub fn get(&self, c: Catalogue) -> u8 {
        match c {
            Catalogue::Severity => self.severity,
            Catalogue::Tumour => self.tumour,
            Catalogue::Age => self.age,
        }
    }
}

/// Coefficients per catalogue and level; with how many build cases each was estimated.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Coefficients {
    pub values: [[Fixed; 4]; 3],
    pub cases: [[u64; 4]; 3],
}

impl Default for Coefficients {
    fn default() -> Self {
        Coefficients {
            values: [[Fixed::ONE; 4]; 3],
            cases: [[0; 4]; 3],
        }
    }
}

impl Coefficients {
    /// The coefficient of one level (1 when not applicable).
    pub fn get(&self, c: Catalogue, level: u8) -> Fixed {
        if level as usize >= 4 {
            return Fixed::ONE;
        }
        self.values[c as usize][level as usize]
    }

    /// `aux.tsv`: `catalogue<TAB>level<TAB>cases<TAB>coefficient`.
    pub fn to_tsv(&self) -> String {
        let mut s = String::from("catalogue\tlevel\tcases\tcoefficient\n");
        for c in Catalogue::ALL {
            for l in 0..4 {
                s.push_str(&format!(
                    "{}\t{l}\t{}\t{}\n",
                    c.key(),
                    self.cases[c as usize][l],
                    self.values[c as usize][l]
                ));
            }
        }
        s
    }

    pub fn parse_tsv(src: &str) -> Result<Coefficients, String> {
        let mut out = Coefficients::default();
        for (i, line) in src.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.trim_end_matches('\r').split('\t').collect();
            let bad = |what: &str| format!("aux.tsv line {}: {what}", i + 1);
            if cols.len() < 4 {
                return Err(bad("expected 4 columns"));
            }
            let c = Catalogue::parse(cols[0]).ok_or_else(|| bad("unknown catalogue"))?;
            let l: usize = cols[1]
                .trim()
                .parse()
                .ok()
                .filter(|l| *l < 4)
                .ok_or_else(|| bad("level must be 0..3"))?;
            out.cases[c as usize][l] = cols[2].trim().parse().map_err(|_| bad("bad case count"))?;
            out.values[c as usize][l] = Fixed::parse(cols[3]).map_err(|e| bad(&e.to_string()))?;
        }
        Ok(out)
    }
}

/// The built-in CCI table: `prefix<TAB>family<TAB>weight` (Charlson, Quan 2005 ICD-10).
pub const BUILTIN_CCI: &str = "\
prefix\tfamily\tweight
I21\tmyocardial_infarction\t1
I22\tmyocardial_infarction\t1
I25.2\tmyocardial_infarction\t1
I11.0\theart_failure\t1
I13.0\theart_failure\t1
I13.2\theart_failure\t1
I42\theart_failure\t1
I43\theart_failure\t1
I50\theart_failure\t1
I70\tperipheral_vascular\t1
I71\tperipheral_vascular\t1
I73.1\tperipheral_vascular\t1
I73.8\tperipheral_vascular\t1
I73.9\tperipheral_vascular\t1
I77.1\tperipheral_vascular\t1
K55.1\tperipheral_vascular\t1
G45\tcerebrovascular\t1
G46\tcerebrovascular\t1
I60\tcerebrovascular\t1
I61\tcerebrovascular\t1
I62\tcerebrovascular\t1
I63\tcerebrovascular\t1
I64\tcerebrovascular\t1
I65\tcerebrovascular\t1
I66\tcerebrovascular\t1
I67\tcerebrovascular\t1
I68\tcerebrovascular\t1
I69\tcerebrovascular\t1
F00\tdementia\t1
F01\tdementia\t1
F02\tdementia\t1
F03\tdementia\t1
G30\tdementia\t1
J40\tchronic_pulmonary\t1
J41\tchronic_pulmonary\t1
J42\tchronic_pulmonary\t1
J43\tchronic_pulmonary\t1
J44\tchronic_pulmonary\t1
J45\tchronic_pulmonary\t1
J46\tchronic_pulmonary\t1
J47\tchronic_pulmonary\t1
J60\tchronic_pulmonary\t1
J61\tchronic_pulmonary\t1
J62\tchronic_pulmonary\t1
J63\tchronic_pulmonary\t1
J64\tchronic_pulmonary\t1
J65\tchronic_pulmonary\t1
J66\tchronic_pulmonary\t1
J67\tchronic_pulmonary\t1
M05\trheumatic\t1
M06\trheumatic\t1
M32\trheumatic\t1
M33\trheumatic\t1
M34\trheumatic\t1
K25\tpeptic_ulcer\t1
K26\tpeptic_ulcer\t1
K27\tpeptic_ulcer\t1
K28\tpeptic_ulcer\t1
B18\tliver\t1
K73\tliver\t1
K74\tliver\t1
K70.4\tliver\t3
K71.1\tliver\t3
K72.1\tliver\t3
K72.9\tliver\t3
K76.6\tliver\t3
K76.7\tliver\t3
I85\tliver\t3
E10.9\tdiabetes\t1
E11.9\tdiabetes\t1
E14.9\tdiabetes\t1
E10.2\tdiabetes\t2
E10.3\tdiabetes\t2
E10.4\tdiabetes\t2
E10.5\tdiabetes\t2
E11.2\tdiabetes\t2
E11.3\tdiabetes\t2
E11.4\tdiabetes\t2
E11.5\tdiabetes\t2
E14.2\tdiabetes\t2
E14.3\tdiabetes\t2
E14.4\tdiabetes\t2
E14.5\tdiabetes\t2
G81\tplegia\t2
G82\tplegia\t2
G83\tplegia\t2
N18\trenal\t2
N19\trenal\t2
Z49\trenal\t2
Z99.2\trenal\t2
C\tcancer\t2
C77\tcancer\t6
C78\tcancer\t6
C79\tcancer\t6
C80\tcancer\t6
B20\thiv\t6
B21\thiv\t6
B22\thiv\t6
B24\thiv\t6
";

/// A compiled CCI-style table (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct CciTable {
    /// (prefix, family, weight), sorted by descending prefix length.
    rows: Vec<(String, u8, u8)>,
    families: Vec<String>,
    /// First byte of a code → indexes into `rows` (rows of prefixes starting with it).
    by_first: FxHashMap<u8, Vec<u16>>,
}

impl CciTable {
    pub fn builtin() -> CciTable {
        CciTable::parse_tsv(BUILTIN_CCI).expect("built-in CCI table parses")
    }

    /// Reads `prefix<TAB>family<TAB>weight`; at most 64 families.
    pub fn parse_tsv(src: &str) -> Result<CciTable, String> {
        let mut rows = Vec::new();
        let mut families: Vec<String> = Vec::new();
        for (i, line) in src.lines().enumerate() {
            let line = line.trim_start_matches('\u{feff}').trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') || line.starts_with("prefix\t") {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
            let bad = |what: &str| format!("cci_weights.tsv line {}: {what}", i + 1);
            if cols.len() < 3 || cols[0].is_empty() {
                return Err(bad("expected prefix, family, weight"));
            }
            let w: u8 = cols[2].parse().map_err(|_| bad("weight must be 0..255"))?;
            let fam = match families.iter().position(|f| f == cols[1]) {
                Some(p) => p,
                None => {
                    if families.len() == 64 {
                        return Err(bad("more than 64 families"));
                    }
                    families.push(cols[1].to_owned());
                    families.len() - 1
                }
            };
            rows.push((codes::normalize(cols[0]).into_owned(), fam as u8, w));
        }
        rows.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        let mut by_first: FxHashMap<u8, Vec<u16>> = FxHashMap::default();
        for (i, r) in rows.iter().enumerate() {
            by_first
                .entry(r.0.as_bytes()[0])
                .or_default()
                .push(i as u16);
        }
        Ok(CciTable {
            rows,
            families,
            by_first,
        })
    }

    pub fn to_tsv(&self) -> String {
        let mut rows: Vec<&(String, u8, u8)> = self.rows.iter().collect();
        rows.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let mut s = String::from("prefix\tfamily\tweight\n");
        for (p, f, w) in rows {
            s.push_str(&format!("{p}\t{}\t{w}\n", self.families[*f as usize]));
        }
        s
    }

    /// The (family, weight) of a normalised diagnosis code: its longest matching prefix.
    pub fn lookup(&self, code: &str) -> Option<(u8, u8)> {
        let first = *code.as_bytes().first()?;
        let idx = self.by_first.get(&first)?;
        idx.iter()
            .map(|&i| &self.rows[i as usize])
            .find(|r| code.starts_with(r.0.as_str()))
            .map(|r| (r.1, r.2))
    }
}

impl Default for CciTable {
    fn default() -> Self {
        CciTable::builtin()
    }
}

/// Accumulates the CCI sum of one case without allocating.
pub(crate) struct CciSum {
    best: [u8; 64],
    seen: u64,
}

impl Default for CciSum {
    fn default() -> Self {
        CciSum {
            best: [0; 64],
            seen: 0,
        }
    }
}

impl CciSum {
    pub(crate) fn add(&mut self, table: &CciTable, code: &str) {
        if let Some((f, w)) = table.lookup(code) {
            let f = f as usize;
            if self.seen & (1 << f) == 0 || self.best[f] < w {
                self.best[f] = w;
                self.seen |= 1 << f;
            }
        }
    }

    pub(crate) fn total(&self) -> u32 {
        let mut s = 0u32;
        let mut m = self.seen;
        while m != 0 {
            let f = m.trailing_zeros() as usize;
            s += u32::from(self.best[f]);
            m &= m - 1;
        }
        s
    }
}

pub(crate) fn starts_with_any(code: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| code.starts_with(p.as_str()))
}

impl SeverityParams {
    pub fn level(&self, cci: u32) -> u8 {
        if !self.enabled {
            return NA;
        }
        self.thresholds.iter().filter(|t| cci >= **t).count() as u8
    }
}

impl AgeParams {
    pub fn level(&self, years: Option<u32>, days: Option<u32>) -> u8 {
        if !self.enabled {
            return NA;
        }
        match years {
            Some(y) if y < self.infant_below_years => 1,
            Some(y) if y >= self.very_old_from => 3,
            Some(y) if y >= self.elderly_from => 2,
            Some(_) => 0,
            None if days.is_some() => 1,
            None => NA,
        }
    }
}

impl TumourParams {
    pub fn level(&self, neoplasm: bool, metastasis: bool, therapy: bool) -> u8 {
        if !self.enabled || !neoplasm {
            return NA;
        }
        match (metastasis, therapy) {
            (false, false) => 0,
            (false, true) => 1,
            (true, false) => 2,
            (true, true) => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cci_takes_highest_weight_per_family() {
        let t = CciTable::builtin();
        let sum = |codes: &[&str]| {
            let mut s = CciSum::default();
            for c in codes {
                s.add(&t, c);
            }
            s.total()
        };
        let table: &[(&[&str], u32)] = &[
            (&[], 0),
            (&["I10.x00"], 0),
            (&["I50.900x007"], 1),
            (&["I50.900x007", "I50.100"], 1),
            (&["E11.900", "E11.200x011"], 2),
            (&["C34.900", "C78.000"], 6),
            (&["I21.000", "J44.100", "N18.500"], 4),
            (&["B20.000", "K72.100"], 9),
        ];
        for (codes, want) in table {
            assert_eq!(sum(codes), *want, "{codes:?}");
        }
        assert_eq!(
            CciTable::parse_tsv(&t.to_tsv()).unwrap().to_tsv(),
            t.to_tsv()
        );
    }

    #[test]
    fn levels() {
        let s = SeverityParams::default();
        assert_eq!(
            [0, 1, 2, 3, 4, 5, 9].map(|c| s.level(c)),
            [0, 1, 1, 2, 2, 3, 3]
        );
        let a = AgeParams::default();
        assert_eq!(a.level(Some(0), Some(20)), 1);
        assert_eq!(a.level(None, Some(20)), 1);
        assert_eq!(a.level(Some(40), None), 0);
        assert_eq!(a.level(Some(65), None), 2);
        assert_eq!(a.level(Some(80), None), 3);
        assert_eq!(a.level(None, None), NA);
        let t = TumourParams::default();
        assert_eq!(t.level(false, true, true), NA);
        assert_eq!(t.level(true, false, true), 1);
        assert_eq!(t.level(true, true, false), 2);
    }

    #[test]
    fn coefficient_table_round_trips() {
        let mut c = Coefficients::default();
        c.values[1][2] = Fixed(12_345);
        c.cases[1][2] = 77;
        assert_eq!(Coefficients::parse_tsv(&c.to_tsv()).unwrap(), c);
    }
}
