//! The grouping hot path does not allocate for canonically spelled codes.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use dip::aux::CciTable;
use dip::params::BuildParams;
use dip::{Builder, Grouper, ProcClassifier, Scratch};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn grouping_does_not_allocate() {
    let cases = common::region(20_000, 200, 3);
    let mut b = Builder::new(
        BuildParams::default(),
        ProcClassifier::builtin(),
        CciTable::builtin(),
    );
    for c in &cases {
        b.add(&c.view(), Some(c.level)).unwrap();
    }
    let (lib, _) = b.finish("t").unwrap();
    let g = Grouper::new(lib).unwrap();
    let views: Vec<_> = cases.iter().map(|c| (c.view(), c.level)).collect();
    let mut s = Scratch::default();
    // Warm the scratch buffer.
    for (v, l) in &views[..100] {
        g.group(v, Some(*l), &mut s);
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    let mut total = 0i64;
    for (v, l) in &views {
        total += g.group(v, Some(*l), &mut s).score.0;
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert!(total > 0);
    assert_eq!(
        after - before,
        0,
        "allocations while grouping {} cases",
        views.len()
    );
}
