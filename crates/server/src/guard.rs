//! Login protection: a bounded pool for password hashing (argon2 needs ~19 MiB per
//! attempt, so concurrency is memory), backoff and lockout per account and per client
//! address after repeated failures, and the same work for unknown and known usernames
//! (a dummy hash is verified when the username is unknown, so timing does not tell
//! which accounts exist).
//!
//! The failure bookkeeping ([`Tracker`]) is pure: every decision takes the time as an
//! argument and is unit-tested without a clock. It lives in the process's memory: a
//! restart forgets backoff and lockouts (documented in docs/API.md).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::ApiError;

/// The login policy. Every field is documented in docs/API.md ("Login protection").
#[derive(Clone, Debug)]
pub struct LoginPolicy {
    /// Password hashes computed at once (each ~19 MiB); further attempts wait.
    pub hash_slots: usize,
    /// Attempts waiting for a hashing slot at most; beyond, 429 at once.
    pub max_waiting: usize,
    /// How long an attempt waits for a slot before it is answered 429.
    pub queue_wait_ms: u64,
    /// Consecutive failures of an account before backoff starts.
    pub free_failures: u32,
    /// The first backoff; it doubles with every further failure, up to `backoff_max_ms`.
    pub backoff_base_ms: i64,
    pub backoff_max_ms: i64,
    /// Consecutive failures that lock an account for `lock_ms` (an administrator can unlock).
    pub lock_after: u32,
    pub lock_ms: i64,
    /// Failures from one client address (any usernames) that lock the address.
    pub address_lock_after: u32,
    pub address_lock_ms: i64,
    /// A failure count is forgotten after this long without failures (unless locked).
    pub forget_ms: i64,
    /// Accounts and addresses tracked at most (memory bound); the oldest unlocked go first.
    pub max_tracked: usize,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        LoginPolicy {
            hash_slots: 2,
            max_waiting: 64,
            queue_wait_ms: 5_000,
            free_failures: 3,
            backoff_base_ms: 1_000,
            backoff_max_ms: 60_000,
            lock_after: 10,
            lock_ms: 30 * 60_000,
            address_lock_after: 50,
            address_lock_ms: 15 * 60_000,
            forget_ms: 60 * 60_000,
            max_tracked: 100_000,
        }
    }
}

/// Failures of one account or address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Track {
    pub failures: u32,
    pub last_failure_ms: i64,
    /// No attempt before this time (backoff or lock).
    pub not_before_ms: i64,
    pub locked: bool,
}

/// Why an attempt is refused before any password is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Wait `retry_after_ms` (backoff after failures of this account).
    Backoff { retry_after_ms: i64 },
    /// The account is locked until then.
    AccountLocked { until_ms: i64 },
    /// The client address is locked until then.
    AddressLocked { until_ms: i64 },
}

/// Failure bookkeeping by key (username or address), pure.
#[derive(Debug, Default)]
pub struct Tracker {
    map: HashMap<String, Track>,
}

/// What a recorded failure did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub failures: u32,
    /// Set when this failure locked the key (until then).
    pub locked_until_ms: Option<i64>,
}

impl Tracker {
    /// The refusal time of `key` at `now`, if any: Some(not_before) while in backoff or lock.
    pub fn blocked(&self, key: &str, now: i64) -> Option<(i64, bool)> {
        self.map
            .get(key)
            .filter(|t| t.not_before_ms > now)
            .map(|t| (t.not_before_ms, t.locked))
    }

    /// Record a failure of `key` at `now`: backoff after `free` failures (base doubling up
    /// to max), a lock of `lock_ms` at `lock_after` failures.
    #[allow(clippy::too_many_arguments)]
    pub fn fail(
        &mut self,
        key: &str,
        now: i64,
        free: u32,
        base_ms: i64,
        max_ms: i64,
        lock_after: u32,
        lock_ms: i64,
        forget_ms: i64,
        max_tracked: usize,
    ) -> Failure {
        if !self.map.contains_key(key) && self.map.len() >= max_tracked {
            self.evict(now, forget_ms, max_tracked);
        }
        let t = self.map.entry(key.to_owned()).or_default();
        let lock_over = t.locked && t.not_before_ms <= now;
        if lock_over || (!t.locked && now - t.last_failure_ms > forget_ms) {
            *t = Track::default();
        }
        t.failures = t.failures.saturating_add(1);
        t.last_failure_ms = now;
        let mut locked_until_ms = None;
        if t.failures >= lock_after {
            if !t.locked {
                t.locked = true;
                t.not_before_ms = now + lock_ms;
                locked_until_ms = Some(t.not_before_ms);
            }
        } else if t.failures > free {
            let doublings = (t.failures - free - 1).min(30);
            let wait = base_ms.saturating_mul(1i64 << doublings).min(max_ms);
            t.not_before_ms = now + wait;
        }
        Failure {
            failures: t.failures,
            locked_until_ms,
        }
    }

    /// Forget `key` (a successful login, or an administrator's unlock). True if it was tracked.
    pub fn clear(&mut self, key: &str) -> bool {
        self.map.remove(key).is_some()
    }

    /// Keys in backoff or locked at `now`, sorted.
    pub fn blocked_keys(&self, now: i64) -> Vec<(String, Track)> {
        let mut v: Vec<(String, Track)> = self
            .map
            .iter()
            .filter(|(_, t)| t.not_before_ms > now)
            .map(|(k, t)| (k.clone(), *t))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Make room: drop what is forgotten anyway, then the oldest unlocked entries, down to
    /// three quarters of the bound. Locked entries stay (a flood of usernames cannot
    /// unlock an account).
    fn evict(&mut self, now: i64, forget_ms: i64, max: usize) {
        self.map
            .retain(|_, t| t.not_before_ms > now || now - t.last_failure_ms <= forget_ms);
        if self.map.len() < max {
            return;
        }
        let mut unlocked: Vec<(i64, String)> = self
            .map
            .iter()
            .filter(|(_, t)| !t.locked)
            .map(|(k, t)| (t.last_failure_ms, k.clone()))
            .collect();
        unlocked.sort();
        let excess = self.map.len().saturating_sub(max * 3 / 4);
        for (_, k) in unlocked.into_iter().take(excess) {
            self.map.remove(&k);
        }
    }
}

type HashJob = Box<dyn FnOnce() + Send>;

/// The service's login guard: the hashing pool and the two trackers.
///
/// Hashes run on `hash_slots` threads of their own, not on the runtime's blocking
/// pool: the allocator keeps a hash's ~19 MiB in the arena of the thread that ran
/// it, so the number of threads that ever hash bounds the memory, not just the
/// number of hashes at once.
pub struct LoginGuard {
    pub policy: LoginPolicy,
    hashing: Semaphore,
    jobs: std::sync::mpsc::SyncSender<HashJob>,
    waiting: AtomicUsize,
    accounts: Mutex<Tracker>,
    addresses: Mutex<Tracker>,
    /// A PHC string verified when the username is unknown (same work as a known one).
    dummy_phc: String,
}

/// A hashing slot; dropped when the hash is done.
pub struct Slot<'a>(#[allow(dead_code)] SemaphorePermit<'a>);

impl LoginGuard {
    pub fn new(policy: LoginPolicy) -> Result<LoginGuard, ApiError> {
        let mut secret = [0u8; 24];
        getrandom::fill(&mut secret).map_err(|e| ApiError::internal(format!("random: {e}")))?;
        let dummy_phc = crate::auth::hash_password(&format!("{secret:?}"))?;
        let slots = policy.hash_slots.max(1);
        let (jobs, rx) = std::sync::mpsc::sync_channel::<HashJob>(slots);
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..slots {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(j) => j(),
                        Err(_) => return,
                    }
                })
                .map_err(|e| ApiError::internal(format!("starting the hashing threads: {e}")))?;
        }
        Ok(LoginGuard {
            hashing: Semaphore::new(slots),
            jobs,
            waiting: AtomicUsize::new(0),
            accounts: Mutex::new(Tracker::default()),
            addresses: Mutex::new(Tracker::default()),
            dummy_phc,
            policy,
        })
    }

    pub fn dummy_phc(&self) -> &str {
        &self.dummy_phc
    }

    /// Wait for a hashing slot: at most `queue_wait_ms`, and only while fewer than
    /// `max_waiting` attempts wait; otherwise 429 `login_busy`.
    pub async fn slot(&self) -> Result<Slot<'_>, ApiError> {
        let busy = || {
            ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "login_busy",
                "too many sign-in attempts at once; try again in a few seconds",
            )
            .zh("同时登录的请求过多，请几秒后再试")
            .retry_after(2)
        };
        if let Ok(p) = self.hashing.try_acquire() {
            return Ok(Slot(p));
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.policy.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy());
        }
        let r = tokio::time::timeout(
            Duration::from_millis(self.policy.queue_wait_ms),
            self.hashing.acquire(),
        )
        .await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match r {
            Ok(Ok(p)) => Ok(Slot(p)),
            _ => Err(busy()),
        }
    }

    /// Run a password hash or verification on the hashing threads, after waiting for a
    /// slot ([`LoginGuard::slot`]).
    pub async fn hash<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let _slot = self.slot().await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: HashJob = Box::new(move || {
            let _ = tx.send(f());
        });
        // A slot is held: a worker is free, the channel has room.
        self.jobs
            .try_send(job)
            .map_err(|e| ApiError::internal(format!("hashing threads: {e}")))?;
        rx.await.map_err(|_| ApiError::internal("hashing threads stopped"))
    }

    /// Refuse an attempt before any work when the account or the address is blocked.
    pub fn check(&self, username: &str, addr: Option<IpAddr>, now: i64) -> Result<(), Refusal> {
        if let Some(a) = addr {
            if let Some((until, true)) = lock(&self.addresses).blocked(&a.to_string(), now) {
                return Err(Refusal::AddressLocked { until_ms: until });
            }
        }
        match lock(&self.accounts).blocked(username, now) {
            Some((until, true)) => Err(Refusal::AccountLocked { until_ms: until }),
            Some((until, false)) => Err(Refusal::Backoff {
                retry_after_ms: until - now,
            }),
            None => Ok(()),
        }
    }

    /// Record a failed attempt; returns what it did to the account and to the address.
    pub fn failed(&self, username: &str, addr: Option<IpAddr>, now: i64) -> (Failure, Option<Failure>) {
        let p = &self.policy;
        let acc = lock(&self.accounts).fail(
            username,
            now,
            p.free_failures,
            p.backoff_base_ms,
            p.backoff_max_ms,
            p.lock_after,
            p.lock_ms,
            p.forget_ms,
            p.max_tracked,
        );
        let adr = addr.map(|a| {
            lock(&self.addresses).fail(
                &a.to_string(),
                now,
                u32::MAX,
                0,
                0,
                p.address_lock_after,
                p.address_lock_ms,
                p.forget_ms,
                p.max_tracked,
            )
        });
        (acc, adr)
    }

    /// A successful login forgets the account's failures (not the address's).
    pub fn succeeded(&self, username: &str) {
        lock(&self.accounts).clear(username);
    }

    /// An administrator's unlock of an account or an address.
    pub fn unlock_account(&self, username: &str) -> bool {
        lock(&self.accounts).clear(username)
    }

    pub fn unlock_address(&self, addr: &str) -> bool {
        lock(&self.addresses).clear(addr)
    }

    /// Accounts and addresses in backoff or locked now.
    pub fn blocked(&self, now: i64) -> (Vec<(String, Track)>, Vec<(String, Track)>) {
        (
            lock(&self.accounts).blocked_keys(now),
            lock(&self.addresses).blocked_keys(now),
        )
    }
}

fn lock(m: &Mutex<Tracker>) -> std::sync::MutexGuard<'_, Tracker> {
    // The tracker holds no invariant a panic could break half-way: use it as it is.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(t: &mut Tracker, k: &str, now: i64) -> Failure {
        let p = LoginPolicy::default();
        t.fail(k, now, p.free_failures, p.backoff_base_ms, p.backoff_max_ms, p.lock_after, p.lock_ms, p.forget_ms, 8)
    }

    #[test]
    fn backoff_doubles_after_the_free_failures_then_locks() {
        let mut t = Tracker::default();
        // Failures 1-3: no wait.
        for i in 0..3 {
            fail(&mut t, "u", i);
            assert_eq!(t.blocked("u", i), None, "failure {}", i + 1);
        }
        // 4th: 1 s, 5th: 2 s, 6th: 4 s ...
        let mut now = 10;
        for (n, wait) in [(4, 1_000), (5, 2_000), (6, 4_000), (7, 8_000), (8, 16_000), (9, 32_000)] {
            let f = fail(&mut t, "u", now);
            assert_eq!(f.failures, n);
            assert_eq!(f.locked_until_ms, None);
            assert_eq!(t.blocked("u", now), Some((now + wait, false)), "failure {n}");
            assert_eq!(t.blocked("u", now + wait), None);
            now += wait;
        }
        let f = fail(&mut t, "u", now);
        assert_eq!(f.locked_until_ms, Some(now + 30 * 60_000));
        assert_eq!(t.blocked("u", now + 29 * 60_000), Some((now + 30 * 60_000, true)));
        // A lock that ran out starts the count afresh.
        let after = now + 30 * 60_000 + 1;
        assert_eq!(t.blocked("u", after), None);
        assert_eq!(fail(&mut t, "u", after).failures, 1);
    }

    #[test]
    fn failures_are_forgotten_after_an_hour_and_cleared_by_success() {
        let mut t = Tracker::default();
        for i in 0..3 {
            fail(&mut t, "u", i);
        }
        assert_eq!(fail(&mut t, "u", 3 + 3_600_001).failures, 1);
        fail(&mut t, "u", 3_600_010);
        assert!(t.clear("u"));
        assert_eq!(fail(&mut t, "u", 3_600_020).failures, 1);
    }

    #[test]
    fn the_tracker_is_bounded_and_keeps_locks() {
        let mut t = Tracker::default();
        // Lock "victim" (10 failures spaced beyond the backoff).
        let mut now = 0;
        for _ in 0..10 {
            fail(&mut t, "victim", now);
            now += 100_000;
        }
        assert!(t.blocked("victim", now).is_some_and(|(_, l)| l));
        for i in 0..100 {
            fail(&mut t, &format!("spray{i}"), now + i);
            assert!(t.len() <= 8, "{} tracked", t.len());
        }
        assert!(t.blocked("victim", now + 200).is_some_and(|(_, l)| l), "the lock survived eviction");
    }
}
