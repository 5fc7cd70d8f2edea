//! Which configuration is in force on a day, and the compiled engines.
//!
//! A case is priced with the scheme, parameters and weights in force on its
//! discharge date (today when it has none): of the activated configurations of
//! each kind, the one with the latest effective date not after that day. With
//! none, the built-in defaults apply: the embedded demo scheme, the built-in
//! parameters and no weights (every case is then priced as ungroupable).
//!
//! The conversion rate and the expected point values of a year Y come from the
//! store's cases discharged in Y−1 ([`crate::history`]); they are cached per
//! (engine, year) and dropped when configurations or institutions change or
//! when cases of Y−1 are stored ([`Engines::cases_stored`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rust_decimal::Decimal;
use store::{ConfigKind, Store};

use crate::error::ApiError;
use crate::history::YearBasis;
use crate::pipeline::{parse_standards, Engine, SchemeUpload};

/// The configuration ids of an engine: scheme, parameters, weights, DIP library.
pub type EngineKey = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);

/// Active configurations and compiled engines.
pub struct Engines {
    store: Store,
    /// `drgdip serve --point-value`: an explicit point value for the estimates,
    /// replacing the expected point value (labelled as an override wherever shown).
    point_value: Option<Decimal>,
    /// The settlement parameters the estimate's budget is built with.
    settle_params: settle::SettleParams,
    /// Active configurations: (kind, effective_from, id), sorted by effective date then id.
    active: RwLock<Vec<(ConfigKind, String, i64)>>,
    cache: Mutex<HashMap<EngineKey, Arc<Engine>>>,
    /// Institutions as pricing needs them.
    institutions: RwLock<HashMap<String, points::Institution>>,
    /// Rate and expected point values per (engine, year of the cases priced).
    bases: Mutex<HashMap<(EngineKey, u16), Arc<YearBasis>>>,
    /// Bumped when cases of a year are stored (by that year).
    stored: Mutex<HashMap<u16, u64>>,
    /// Bumped when configurations or institutions change.
    config_gen: AtomicU64,
    /// One basis is derived at a time (the others wait and reuse it).
    building: tokio::sync::Mutex<()>,
}

impl Engines {
    pub async fn new(store: Store, point_value: Option<Decimal>) -> Result<Engines, ApiError> {
        let e = Engines {
            store,
            point_value,
            settle_params: settle::SettleParams::builtin(),
            active: RwLock::new(Vec::new()),
            cache: Mutex::new(HashMap::new()),
            institutions: RwLock::new(HashMap::new()),
            bases: Mutex::new(HashMap::new()),
            stored: Mutex::new(HashMap::new()),
            config_gen: AtomicU64::new(0),
            building: tokio::sync::Mutex::new(()),
        };
        e.reload().await?;
        Ok(e)
    }

    /// Re-read the active configurations and institutions (after a change).
    pub async fn reload(&self) -> Result<(), ApiError> {
        let mut act: Vec<(ConfigKind, String, i64)> = self
            .store
            .configs(None)
            .await?
            .into_iter()
            .filter(|c| c.active)
            .filter_map(|c| c.effective_from.map(|e| (c.kind, e, c.id)))
            .collect();
        act.sort_by(|a, b| (&a.1, a.2).cmp(&(&b.1, b.2)));
        if let Ok(mut a) = self.active.write() {
            *a = act;
        }
        let insts = self.store.institutions().await?;
        if let Ok(mut m) = self.institutions.write() {
            *m = insts
                .into_iter()
                .map(|i| {
                    let lead = i.alliance_lead.filter(|l| !l.is_empty() && *l != i.id);
                    (
                        i.id.clone(),
                        points::Institution {
                            id: i.id,
                            level: i.level,
                            tcm: i.tcm,
                            alliance_lead: lead,
                        },
                    )
                })
                .collect();
        }
        // Rates and expected point values depend on the configurations and the institutions.
        self.config_gen.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut b) = self.bases.lock() {
            b.clear();
        }
        Ok(())
    }

    /// A registered institution as pricing needs it; None when it is not registered
    /// (the caller refuses the record: there is no level, so no coefficient).
    pub fn institution(&self, id: &str) -> Option<points::Institution> {
        self.institutions.read().ok().and_then(|m| m.get(id).cloned())
    }

    /// Every known institution as pricing needs it.
    pub fn institutions_snapshot(&self) -> BTreeMap<String, points::Institution> {
        self.institutions
            .read()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// The explicit point value of `drgdip serve --point-value`, if any.
    pub fn point_value_override(&self) -> Option<Decimal> {
        self.point_value
    }

    /// Cases discharged in these years were stored: the bases derived from them
    /// (those of the following years) are dropped.
    pub fn cases_stored(&self, years: impl IntoIterator<Item = u16>) {
        let years: Vec<u16> = years.into_iter().collect();
        if years.is_empty() {
            return;
        }
        if let Ok(mut g) = self.stored.lock() {
            for y in &years {
                *g.entry(*y).or_default() += 1;
            }
        }
        if let Ok(mut b) = self.bases.lock() {
            b.retain(|(_, y), _| !years.contains(&y.saturating_sub(1)));
        }
    }

    fn stored_gen(&self, year: u16) -> u64 {
        self.stored.lock().ok().and_then(|g| g.get(&year).copied()).unwrap_or(0)
    }

    /// The conversion rate and expected point values for pricing cases of `year`
    /// with the engine `key`: from the cache, or derived now from the store's cases
    /// of `year − 1` (latest version of each).
    pub async fn basis(&self, key: EngineKey, year: u16) -> Result<Arc<YearBasis>, ApiError> {
        let cached = |e: &Engines| e.bases.lock().ok().and_then(|b| b.get(&(key, year)).cloned());
        if let Some(b) = cached(self) {
            return Ok(b);
        }
        let _building = self.building.lock().await;
        if let Some(b) = cached(self) {
            return Ok(b);
        }
        let hy = year.saturating_sub(1);
        let (gen, cgen) = (self.stored_gen(hy), self.config_gen.load(Ordering::SeqCst));
        let engine = self.engine(key).await?;
        let rows = self.store.settlement_inputs(&format!("{hy:04}-01"), &format!("{hy:04}-12")).await?;
        let institutions = self.institutions_snapshot();
        let params = self.settle_params.clone();
        let pv = self.point_value;
        let basis = tokio::task::spawn_blocking(move || -> Result<YearBasis, ApiError> {
            let claims = crate::settlement::parse_claims(rows)?;
            Ok(crate::history::year_basis(&engine, &claims, &institutions, year, &params, pv))
        })
        .await
        .map_err(|e| ApiError::internal(format!("history {hy}: {e}")))??;
        let basis = Arc::new(basis);
        if self.stored_gen(hy) == gen && self.config_gen.load(Ordering::SeqCst) == cgen {
            if let Ok(mut b) = self.bases.lock() {
                b.insert((key, year), basis.clone());
            }
        }
        Ok(basis)
    }

    /// The configuration ids in force on `day` (`YYYY-MM-DD`).
    pub fn key_for(&self, day: &str) -> EngineKey {
        let mut k: EngineKey = (None, None, None, None);
        if let Ok(a) = self.active.read() {
            for (kind, eff, id) in a.iter() {
                if eff.as_str() > day {
                    break;
                }
                match kind {
                    ConfigKind::Scheme => k.0 = Some(*id),
                    ConfigKind::Params => k.1 = Some(*id),
                    ConfigKind::Weights => k.2 = Some(*id),
                    ConfigKind::DipLibrary => k.3 = Some(*id),
                }
            }
        }
        k
    }

    /// A compiled engine, from the cache or built now.
    pub async fn engine(&self, key: EngineKey) -> Result<Arc<Engine>, ApiError> {
        if let Some(e) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(e);
        }
        let content = |id: Option<i64>| async move {
            match id {
                None => Ok::<_, ApiError>(None),
                Some(id) => Ok(self.store.config(id).await?.and_then(|c| c.content)),
            }
        };
        let (scheme, params, weights, library) = (
            content(key.0).await?,
            content(key.1).await?,
            content(key.2).await?,
            content(key.3).await?,
        );
        let engine = tokio::task::spawn_blocking(move || build(key, scheme, params, weights, library))
            .await
            .map_err(|e| ApiError::internal(format!("engine build: {e}")))??;
        let engine = Arc::new(engine);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, engine.clone());
        }
        Ok(engine)
    }
}

/// Compile an engine from configuration texts (None: the built-in default).
pub fn build(
    key: EngineKey,
    scheme: Option<String>,
    params: Option<String>,
    weights: Option<String>,
    library: Option<String>,
) -> Result<Engine, ApiError> {
    let grouper = match scheme {
        Some(text) => SchemeUpload::compile_text(&text)?,
        None => {
            let s = synth::demo::scheme()
                .map_err(|e| ApiError::internal(format!("demo scheme: {e}")))?;
            drg::Grouper::new(s).map_err(|e| ApiError::internal(format!("demo scheme: {e}")))?
        }
    };
    let params = match params {
        Some(t) => points::Params::from_toml(&t)?,
        None => points::Params::builtin(),
    };
    let standards = match weights {
        Some(t) => parse_standards(&t).map_err(ApiError::bad_request)?,
        None => HashMap::new(),
    };
    let dip = match (params.method, library) {
        (points::Method::Dip, Some(t)) => Some(crate::pipeline::compile_library(&t).map_err(ApiError::bad_request)?),
        (points::Method::Dip, None) => {
            return Err(ApiError::bad_request(
                "the parameters in force say method = \"dip\" but no DIP library is in force: upload and activate one (kind dip_library)",
            ))
        }
        _ => None,
    };
    Ok(Engine {
        grouper,
        params,
        standards,
        dip,
        scheme_id: key.0,
        params_id: key.1,
        weights_id: key.2,
    })
}

/// Check a configuration's text before it is stored: it must compile.
pub fn validate(kind: ConfigKind, text: &str) -> Result<(), ApiError> {
    match kind {
        ConfigKind::Scheme => {
            build((None, None, None, None), Some(text.to_owned()), None, None, None).map(|_| ())
        }
        ConfigKind::Params => {
            // A DIP parameter set is checked without a library (it comes as its own configuration).
            points::Params::from_toml(text)?;
            Ok(())
        }
        ConfigKind::Weights => parse_standards(text)
            .map(|_| ())
            .map_err(ApiError::bad_request),
        ConfigKind::DipLibrary => crate::pipeline::compile_library(text)
            .map(|_| ())
            .map_err(ApiError::bad_request),
    }
}
