//! Passwords (argon2id), session tokens and the access rules.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use store::{Role, User};

use crate::error::ApiError;
use crate::AppState;

/// Hash a password as a PHC string (argon2id, default parameters, random salt).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| ApiError::internal(format!("random: {e}")))?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| ApiError::internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("argon2: {e}")))
}

/// Check a password against a PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A new random session token (256 bits, hex).
pub fn new_token() -> Result<String, ApiError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| ApiError::internal(format!("random: {e}")))?;
    Ok(hex(&b))
}

/// What the store keeps of a token: its SHA-256, so a leaked database holds no usable token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

/// The authenticated user of a request (`Authorization: Bearer <token>`).
#[derive(Clone, Debug)]
pub struct Auth {
    pub user: User,
    pub token_hash: String,
}

impl Auth {
    pub fn actor(&self) -> store::Actor {
        store::Actor {
            user_id: Some(self.user.id),
            username: self.user.username.clone(),
        }
    }

    /// The institution of a hospital user (None for agency users).
    pub fn institution(&self) -> Option<&str> {
        match self.user.role {
            Role::HospitalUser => self.user.institution_id.as_deref(),
            _ => None,
        }
    }

    pub fn is_agency(&self) -> bool {
        matches!(self.user.role, Role::AgencyAdmin | Role::AgencyReviewer)
    }

    /// Agency administrators only.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.role == Role::AgencyAdmin {
            Ok(())
        } else {
            Err(ApiError::forbidden("agency administrators only"))
        }
    }

    /// Agency users (administrator or reviewer) only.
    pub fn require_agency(&self) -> Result<(), ApiError> {
        if self.is_agency() {
            Ok(())
        } else {
            Err(ApiError::forbidden("agency users only"))
        }
    }

    /// Hospital users only.
    pub fn require_hospital(&self) -> Result<&str, ApiError> {
        match (&self.user.role, &self.user.institution_id) {
            (Role::HospitalUser, Some(i)) => Ok(i),
            _ => Err(ApiError::forbidden("hospital users only")),
        }
    }

    /// May this user see or change data of `institution`? Agency users: any;
    /// a hospital user: its own institution only.
    pub fn may_access(&self, institution: &str) -> bool {
        match self.user.role {
            Role::AgencyAdmin | Role::AgencyReviewer => true,
            Role::HospitalUser => self.user.institution_id.as_deref() == Some(institution),
        }
    }

    pub fn require_access(&self, institution: &str) -> Result<(), ApiError> {
        if self.may_access(institution) {
            Ok(())
        } else {
            Err(ApiError::forbidden("another institution's data"))
        }
    }

    /// The institution a listing is restricted to: the user's own for a
    /// hospital user (asking for another is refused), the requested one (or all) for the agency.
    pub fn scope(&self, requested: Option<&str>) -> Result<Option<String>, ApiError> {
        match (&self.user.role, requested) {
            (Role::HospitalUser, Some(r)) => {
                self.require_access(r)?;
                Ok(Some(r.to_owned()))
            }
            (Role::HospitalUser, None) => Ok(self.user.institution_id.clone()),
            (_, r) => Ok(r.map(str::to_owned)),
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let h = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("missing bearer token (POST /api/login)"))?;
        let th = token_hash(h.trim());
        if let Some(u) = state.sessions.get(&th) {
            return Ok(Auth {
                user: u,
                token_hash: th,
            });
        }
        let user = state
            .store
            .session_user(&th)
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown or expired session"))?;
        state.sessions.put(&th, user.clone());
        Ok(Auth {
            user,
            token_hash: th,
        })
    }
}

/// Sessions looked up recently, kept for a few seconds to spare the database a
/// read per request. Logout removes the entry at once; an expired session
/// stays usable at most [`SessionCache::TTL_MS`] after its expiry.
#[derive(Default)]
pub struct SessionCache {
    map: std::sync::Mutex<std::collections::HashMap<String, (User, i64)>>,
}

impl SessionCache {
    pub const TTL_MS: i64 = 5_000;

    pub fn get(&self, th: &str) -> Option<User> {
        let now = store::now_ms();
        let m = self.map.lock().ok()?;
        m.get(th)
            .filter(|(_, at)| now - at < Self::TTL_MS)
            .map(|(u, _)| u.clone())
    }

    pub fn put(&self, th: &str, u: User) {
        if let Ok(mut m) = self.map.lock() {
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(th.to_owned(), (u, store::now_ms()));
        }
    }

    pub fn remove(&self, th: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(th);
        }
    }
}
