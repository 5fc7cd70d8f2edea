//! Which configuration is in force on a day, and the compiled engines.
//!
//! A case is priced with the scheme, parameters and weights in force on its
//! discharge date (today when it has none): of the activated configurations of
//! each kind, the one with the latest effective date not after that day. With
//! none, the built-in defaults apply: the embedded demo scheme, the built-in
//! parameters and no weights (every case is then priced as ungroupable).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use rust_decimal::Decimal;
use store::{ConfigKind, Store};

use crate::error::ApiError;
use crate::pipeline::{parse_standards, Engine, SchemeUpload};

/// The configuration ids of an engine: scheme, parameters, weights, DIP library.
pub type EngineKey = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);

/// Active configurations and compiled engines.
pub struct Engines {
    store: Store,
    /// Fixed provisional point value (yuan per point); default: the parameters' `fee_for_service.yuan_per_point`.
    point_value: Option<Decimal>,
    /// Active configurations: (kind, effective_from, id), sorted by effective date then id.
    active: RwLock<Vec<(ConfigKind, String, i64)>>,
    cache: Mutex<HashMap<EngineKey, Arc<Engine>>>,
    /// Institutions as pricing needs them.
    institutions: RwLock<HashMap<String, points::Institution>>,
}

impl Engines {
    pub async fn new(store: Store, point_value: Option<Decimal>) -> Result<Engines, ApiError> {
        let e = Engines {
            store,
            point_value,
            active: RwLock::new(Vec::new()),
            cache: Mutex::new(HashMap::new()),
            institutions: RwLock::new(HashMap::new()),
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
        Ok(())
    }

    /// The institution for pricing. An unknown one has no level, hence no coefficient:
    /// its DRG/DIP points are withheld (`points::Rule::NoCoefficient`), never priced
    /// with a default coefficient.
    pub fn institution(&self, id: &str) -> points::Institution {
        self.institutions
            .read()
            .ok()
            .and_then(|m| m.get(id).cloned())
            .unwrap_or_else(|| points::Institution {
                id: id.to_owned(),
                level: String::new(),
                tcm: false,
                alliance_lead: None,
            })
    }

    /// Every known institution as pricing needs it.
    pub fn institutions_snapshot(&self) -> std::collections::BTreeMap<String, points::Institution> {
        self.institutions
            .read()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    pub fn institution_known(&self, id: &str) -> bool {
        self.institutions.read().is_ok_and(|m| m.contains_key(id))
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
        let pv = self.point_value;
        let engine = tokio::task::spawn_blocking(move || build(key, scheme, params, weights, library, pv))
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
    point_value: Option<Decimal>,
) -> Result<Engine, ApiError> {
    let grouper = match scheme {
        Some(text) => {
            let up: SchemeUpload = serde_json::from_str(&text)
                .map_err(|e| ApiError::bad_request(format!("scheme configuration: {e}")))?;
            up.compile().map_err(ApiError::bad_request)?
        }
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
    // TEMPORARY (issue 13 in progress): the derived rate comes from the store's history year.
    let conv = match params.fee_for_service.yuan_per_point {
        points::RateSetting::Fixed(r) => points::Conversion::fixed(r),
        points::RateSetting::Derived => points::Conversion::fixed(point_value.unwrap_or(Decimal::ONE_HUNDRED)),
    };
    let point_value = point_value.unwrap_or(conv.yuan_per_point);
    Ok(Engine {
        grouper,
        params,
        standards,
        conv,
        dip,
        point_value,
        scheme_id: key.0,
        params_id: key.1,
        weights_id: key.2,
    })
}

/// Check a configuration's text before it is stored: it must compile.
pub fn validate(kind: ConfigKind, text: &str) -> Result<(), ApiError> {
    match kind {
        ConfigKind::Scheme => {
            build((None, None, None, None), Some(text.to_owned()), None, None, None, None).map(|_| ())
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
