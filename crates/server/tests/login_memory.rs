//! Concurrent sign-ins beyond the hashing pool do not raise memory above a stated
//! bound: each argon2 attempt needs ~19 MiB, the pool computes `hash_slots` (2) at
//! once, the rest wait (at most `max_waiting`, then 429 `login_busy`). Own test binary:
//! the resident set measured is this process's, with no other test running beside it.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use serde_json::json;
use server::guard::LoginPolicy;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Peak resident set (KiB above `base`) while `n` wrong-password sign-ins run at once;
/// the count of each status.
async fn burst(f: &Fixture, n: usize, base: u64) -> (u64, std::collections::BTreeMap<u16, usize>) {
    let peak = Arc::new(AtomicU64::new(base));
    let stop = Arc::new(AtomicBool::new(false));
    let (p2, s2) = (peak.clone(), stop.clone());
    let sampler = std::thread::spawn(move || {
        while !s2.load(Ordering::Relaxed) {
            p2.fetch_max(rss_kib(), Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    });
    let mut tasks = Vec::new();
    for i in 0..n {
        let (c, url) = (f.client.clone(), format!("{}/api/login", f.base));
        tasks.push(tokio::spawn(async move {
            c.post(url).json(&json!({"username": format!("attacker{i}"), "password": "wrong-password"})).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
        }));
    }
    let mut by = std::collections::BTreeMap::new();
    for t in tasks {
        *by.entry(t.await.unwrap_or(0)).or_insert(0) += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    (peak.load(Ordering::Relaxed).saturating_sub(base), by)
}

/// The stated bound: the pool's two hashes (2 × 19 MiB) and the waiting requests, with room.
const BOUND_MIB: u64 = 96;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_beyond_the_pool_stay_within_the_memory_bound() {
    let db = databases().await.remove(0);
    let policy = LoginPolicy { address_lock_after: 1_000_000, ..LoginPolicy::default() };
    let f = start_with(db.store.clone(), server::Options { login: policy, ..Default::default() }).await;
    // Warm up: the allocator's arenas hold a hash's memory after the first attempts.
    burst(&f, 4, rss_kib()).await;
    let base = rss_kib();
    for n in [64usize, 256] {
        let (peak, by) = burst(&f, n, base).await;
        println!("{n} concurrent wrong-password sign-ins: peak +{} MiB over {} MiB, statuses {by:?}", peak / 1024, base / 1024);
        assert!(peak / 1024 < BOUND_MIB, "{n} concurrent sign-ins raised memory by {} MiB (bound {BOUND_MIB} MiB)", peak / 1024);
        assert_eq!(by.keys().filter(|s| **s != 401 && **s != 429).count(), 0, "{by:?}");
        if n > 64 + 2 {
            assert!(by.get(&429).is_some_and(|c| *c > 0), "attempts beyond the waiting room get 429: {by:?}");
        }
    }
    db.cleanup().await;
}
