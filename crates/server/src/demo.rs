//! Demo bootstrap (`drgdip serve --demo` on an empty store): institutions of a
//! synthetic region, weights calibrated on a synthetic year, and accounts.

use std::collections::BTreeMap;

use std::sync::Arc;

use store::{Actor, ConfigKind, Institution, NewUser, Role, Store};

use crate::auth::{hash_password, Auth};
use crate::engines::Engines;
use crate::error::ApiError;
use crate::pipeline::{drg_case, CaseCodes};

/// An account created for the demo, with its password (printed once).
#[derive(Clone, Debug, serde::Serialize)]
pub struct DemoAccount {
    pub username: String,
    pub password: String,
    pub role: Role,
    pub institution_id: Option<String>,
}

/// What the demo bootstrap created.
#[derive(Clone, Debug)]
pub struct Demo {
    pub accounts: Vec<DemoAccount>,
    pub institutions: usize,
    pub weights_config: i64,
    pub weights_groups: usize,
    /// A few settlement lists of the synthetic region (CSV with header), for
    /// trying uploads: 2025 cases of the first hospital that were not loaded.
    pub sample_csv: String,
    /// Cases loaded into the store (2024 and 2025).
    pub cases_loaded: usize,
}

/// The synthetic region: `hospitals` institutions and `cases` cases over 2024
/// and 2025 (settlement lists as CSV, one text per year).
pub fn synthetic(
    hospitals: usize,
    cases: u64,
    seed: u64,
) -> Result<(synth::Region, Vec<String>), ApiError> {
    let scheme =
        synth::demo::scheme().map_err(|e| ApiError::internal(format!("demo scheme: {e}")))?;
    let grouper =
        drg::Grouper::new(scheme).map_err(|e| ApiError::internal(format!("demo scheme: {e}")))?;
    let dicts = synth::demo::dictionaries()
        .map_err(|e| ApiError::internal(format!("demo dictionaries: {e}")))?;
    synthetic_with(&grouper, Some(&dicts), hospitals, cases, seed)
}

/// The synthetic region with cases built for `grouper`'s scheme, codes restricted to
/// `dicts` when given.
pub fn synthetic_with(
    grouper: &drg::Grouper,
    dicts: Option<&codes::Dictionaries>,
    hospitals: usize,
    cases: u64,
    seed: u64,
) -> Result<(synth::Region, Vec<String>), ApiError> {
    let cfg = synth::Config {
        hospitals,
        cases,
        years: vec![2024, 2025],
        seed,
        ..synth::Config::default()
    };
    let gen = synth::Generator::new(cfg, grouper, dicts);
    let mut years = Vec::new();
    for y in 0..2 {
        let mut claims = Vec::new();
        let mut sink = Vec::new();
        gen.write_year(y, &mut claims, &mut sink, &|_| {})
            .map_err(|e| ApiError::internal(format!("synth: {e}")))?;
        years.push(
            String::from_utf8(claims).map_err(|e| ApiError::internal(format!("synth: {e}")))?,
        );
    }
    Ok((gen.region().clone(), years))
}

/// Weights table (CSV code,rw,mean_cost) calibrated on a claims CSV with `grouper`.
pub fn calibrate_weights(grouper: &drg::Grouper, claims_csv: &str) -> Result<String, ApiError> {
    let mut keys = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (code, adrg, _) in grouper.scheme().payable_drgs() {
        index.insert(code.to_owned(), keys.len());
        keys.push(weights::GroupKey { code: code.to_owned(), parent: adrg.to_owned() });
    }
    let mut costs: Vec<Vec<i64>> = vec![Vec::new(); keys.len()];
    let reader = claims::import::Reader::open("claims.csv", claims_csv.as_bytes(), None)
        .map_err(|e| ApiError::internal(format!("synth claims: {e}")))?;
    for rec in reader.flatten() {
        let codes = CaseCodes::of(&rec.claim);
        let dx: Vec<&str> = codes.dx.iter().map(String::as_str).collect();
        let procs: Vec<&str> = codes.procs.iter().map(String::as_str).collect();
        let g = grouper.group(&drg_case(&rec.claim, &dx, &procs));
        let code = if g.status.is_grouped() { grouper.codes_of(&g).drg } else { drg::UNGROUPABLE_DRG };
        if let (Some(&i), Some(c)) = (index.get(code), rec.claim.total_cost) {
            if c.0 > 0 {
                costs[i].push(c.0);
            }
        }
    }
    let cal = weights::calibrate(&keys, costs, &weights::Options::default());
    let mut out = String::from("code,rw,mean_cost\n");
    for g in &cal.groups {
        out += &format!("{},{},{}\n", g.code, g.rw, g.mean);
    }
    Ok(out)
}

/// Fill an empty store with the demo region, its settlement lists of 2024 and
/// 2025 (uploaded as the agency administrator, through the same QC, grouping
/// and pricing as any upload) and accounts. Passwords are fixed and printed:
/// this is for demonstrations, never for real data.
///
/// With `reference` (the national schemes of `shared/reference`, see
/// [`crate::reference`]) the region is coded for the newest of them (CHS-DRG 2.0), the
/// schemes are put in force by effective date and each gets weights calibrated on the
/// region's 2024 cases grouped under it, in force from the same date.
pub async fn bootstrap(
    store: &Store,
    hospitals: usize,
    cases: u64,
    dicts: Option<Arc<codes::Dictionaries>>,
    reference: Option<Vec<crate::reference::ReferenceScheme>>,
) -> Result<Demo, ApiError> {
    let reference = reference.filter(|r| !r.is_empty());
    let refs2 = reference.clone();
    let dicts2 = dicts.clone();
    let (region, years) = tokio::task::spawn_blocking(move || match refs2.as_ref().and_then(|r| r.last()) {
        Some(newest) => synthetic_with(&newest.grouper()?, dicts2.as_deref(), hospitals, cases, 1),
        None => synthetic(hospitals, cases, 1),
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    let claims_csv = years[0].clone();
    let sys = Actor::system();
    for i in &region.institutions {
        let inst = Institution {
            id: i.id.clone(),
            name: i.name.clone(),
            level: i.level.zh().to_owned(),
            tcm: matches!(i.kind, synth::region::Kind::Tcm),
            alliance_lead: i.alliance.as_ref().map(|(_, lead)| lead.clone()).filter(|l| *l != i.id),
        };
        store.upsert_institution(&sys, &inst).await?;
    }
    // (configuration name, effective from, scheme to calibrate with: None = the demo scheme)
    let plans: Vec<(String, String, Option<crate::reference::ReferenceScheme>)> = match &reference {
        Some(refs) => {
            crate::reference::seed(store, refs).await?;
            refs.iter()
                .map(|r| (format!("{} weights (synthetic 2024)", r.name), r.effective_from.clone(), Some(r.clone())))
                .collect()
        }
        None => vec![("demo weights (synthetic 2024)".to_owned(), "2000-01-01".to_owned(), None)],
    };
    let (mut weights_config, mut weights_groups) = (0, 0);
    for (name, eff, scheme) in plans {
        let csv2 = claims_csv.clone();
        let weights_csv = tokio::task::spawn_blocking(move || {
            let grouper = match scheme {
                Some(r) => r.grouper()?,
                None => {
                    let s = synth::demo::scheme()
                        .map_err(|e| ApiError::internal(format!("demo scheme: {e}")))?;
                    drg::Grouper::new(s).map_err(|e| ApiError::internal(format!("demo scheme: {e}")))?
                }
            };
            calibrate_weights(&grouper, &csv2)
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
        weights_groups = crate::pipeline::parse_standards(&weights_csv)
            .map_err(ApiError::internal)?
            .len();
        weights_config = store.add_config(&sys, ConfigKind::Weights, &name, &weights_csv).await?;
        store.activate_config(&sys, weights_config, &eff).await?;
    }
    let first = region
        .institutions
        .first()
        .map(|i| i.id.clone())
        .ok_or_else(|| ApiError::internal("empty region"))?;
    let second = region
        .institutions
        .get(1)
        .map(|i| i.id.clone())
        .unwrap_or_else(|| first.clone());
    let accounts = vec![
        DemoAccount {
            username: "admin".into(),
            password: "demo-admin".into(),
            role: Role::AgencyAdmin,
            institution_id: None,
        },
        DemoAccount {
            username: "reviewer".into(),
            password: "demo-reviewer".into(),
            role: Role::AgencyReviewer,
            institution_id: None,
        },
        DemoAccount {
            username: "hospital1".into(),
            password: "demo-hospital".into(),
            role: Role::HospitalUser,
            institution_id: Some(first.clone()),
        },
        DemoAccount {
            username: "hospital2".into(),
            password: "demo-hospital".into(),
            role: Role::HospitalUser,
            institution_id: Some(second),
        },
    ];
    for a in &accounts {
        let pw = a.password.clone();
        let phc = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
        store
            .create_user(
                &sys,
                &NewUser {
                    username: a.username.clone(),
                    password_hash: phc,
                    role: a.role,
                    institution_id: a.institution_id.clone(),
                    display_name: a.username.clone(),
                },
            )
            .await?;
    }
    // Hold back 20 of the first institution's 2025 cases as the sample upload.
    let (sample, rest_2025) = split_sample(&years[1], &first, 20);
    let admin = store
        .user_by_name("admin")
        .await?
        .ok_or_else(|| ApiError::internal("demo admin missing"))?;
    let auth = Auth {
        user: admin,
        token_hash: String::new(),
    };
    let engines = Engines::new(store.clone(), None).await?;
    let rules = qc::RuleSet::builtin();
    let mut cases_loaded = 0;
    for (name, text) in [("demo-2024.csv", &years[0]), ("demo-2025.csv", &rest_2025)] {
        cases_loaded += load_csv(store, &engines, &auth, &rules, dicts.as_deref(), name, text).await?;
    }
    Ok(Demo {
        accounts,
        institutions: region.institutions.len(),
        weights_config,
        weights_groups,
        sample_csv: sample,
        cases_loaded,
    })
}

/// Split a claims CSV: up to `n` records of `institution` (the sample, with the
/// header) and everything else (with the header).
pub fn split_sample(csv: &str, institution: &str, n: usize) -> (String, String) {
    let mut lines = csv.lines();
    let header = lines.next().unwrap_or("");
    let inst_col = header.split(',').position(|h| h == "institution_id");
    let (mut sample, mut rest) = (format!("{header}\n"), format!("{header}\n"));
    let mut taken = 0;
    for l in lines {
        if taken < n && inst_col.and_then(|c| l.split(',').nth(c)) == Some(institution) {
            sample += l;
            sample.push('\n');
            taken += 1;
        } else {
            rest += l;
            rest.push('\n');
        }
    }
    (sample, rest)
}

/// Upload a claims CSV as `auth` in chunks of 2,000 records (QC, group, price,
/// commit); returns the cases stored.
pub async fn load_csv(
    store: &Store,
    engines: &Engines,
    auth: &Auth,
    rules: &qc::RuleSet,
    dicts: Option<&codes::Dictionaries>,
    name: &str,
    text: &str,
) -> Result<usize, ApiError> {
    let read = crate::upload::read_body(name, text.as_bytes())?;
    let present = read.present;
    let format = read.format;
    let mut stored = 0;
    let mut items = read.items;
    while !items.is_empty() {
        let rest = items.split_off(items.len().min(2_000));
        let chunk = std::mem::replace(&mut items, rest);
        let built = crate::upload::engines_for(engines, &chunk).await?;
        // The chunk's own account: its records' lines only.
        let mut count = claims::import::LineCount::default();
        chunk.iter().for_each(|i| count.add(i));
        count.lines = count.read + count.rejected;
        let body = crate::upload::ReadBody {
            items: chunk,
            present,
            format,
            count,
        };
        let prepared =
            crate::upload::prepare(auth, "batch", name, body, engines, &built, rules, dicts);
        stored += prepared.upload.cases.len();
        store.commit_uploads(std::slice::from_ref(&prepared.upload)).await?;
        engines.cases_stored(crate::upload::years_of(&prepared.upload));
    }
    Ok(stored)
}
