//! Largest-remainder allocation: split an amount of fen in proportion to integer
//! weights so that the parts add up to the amount exactly.
//!
//! Each item first gets ⌊amount × wᵢ / W⌋ fen; the fen left over (fewer than the
//! number of items) go one each to the items with the largest remainders
//! (amount × wᵢ mod W). **Tie-break**: equal remainders are served in item order —
//! callers pass items sorted by institution id (then period, group …), so the
//! lowest id wins a tie. The result depends only on the inputs: deterministic.
//! A negative amount is split as its absolute value and negated.

use rust_decimal::Decimal;

/// Split `amount` over `weights` (all ≥ 0). Returns `None` when every weight is
/// zero but the amount is not (nothing to split it by).
pub fn largest_remainder(amount: i64, weights: &[i128]) -> Option<Vec<i64>> {
    assert!(
        weights.iter().all(|w| *w >= 0),
        "weights must not be negative"
    );
    let total_w: i128 = weights.iter().sum();
    if total_w == 0 {
        return if amount == 0 {
            Some(vec![0; weights.len()])
        } else {
            None
        };
    }
    let neg = amount < 0;
    let a = i128::from(amount).abs();
    let mut parts: Vec<i64> = Vec::with_capacity(weights.len());
    let mut rems: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    let mut given: i128 = 0;
    for (i, w) in weights.iter().enumerate() {
        let prod = a * w;
        let q = prod / total_w;
        given += q;
        parts.push(q as i64);
        rems.push((prod % total_w, i));
    }
    let left = (a - given) as usize;
    // Larger remainder first, then lower index.
    rems.sort_unstable_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    for &(_, i) in rems.iter().take(left) {
        parts[i] += 1;
    }
    if neg {
        for p in &mut parts {
            *p = -*p;
        }
    }
    Some(parts)
}

/// Decimal weights (≥ 0) as integers on a common scale.
pub fn decimal_weights(ws: &[Decimal]) -> Vec<i128> {
    let scale = ws.iter().map(|w| w.scale()).max().unwrap_or(0);
    ws.iter()
        .map(|w| {
            let mut x = *w;
            x.rescale(scale);
            x.mantissa()
        })
        .collect()
}

/// Round a decimal amount of fen half away from zero to whole fen.
pub fn round_fen(v: Decimal) -> i64 {
    let r = v.round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(r).expect("amount in range")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    #[allow(clippy::type_complexity)]
    fn table() {
        let cases: &[(i64, &[i128], Option<&[i64]>)] = &[
            (100, &[1, 1, 1], Some(&[34, 33, 33])), // tie: lowest index first
            (-100, &[1, 1, 1], Some(&[-34, -33, -33])),
            (10, &[3, 7], Some(&[3, 7])),
            (1, &[1, 2], Some(&[0, 1])), // remainder 2/3 beats 1/3
            (0, &[0, 0], Some(&[0, 0])),
            (5, &[0, 0], None),
            (7, &[0, 5], Some(&[0, 7])),
        ];
        for (amount, ws, want) in cases {
            assert_eq!(
                largest_remainder(*amount, ws).as_deref(),
                *want,
                "{amount} over {ws:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn parts_add_up_and_stay_within_a_fen(amount in -1_000_000_000_000i64..1_000_000_000_000, ws in proptest::collection::vec(0i128..1_000_000_000_000, 1..30)) {
            prop_assume!(ws.iter().sum::<i128>() > 0);
            let parts = largest_remainder(amount, &ws).unwrap();
            prop_assert_eq!(parts.iter().sum::<i64>(), amount);
            let tw: i128 = ws.iter().sum();
            for (p, w) in parts.iter().zip(&ws) {
                let exact = i128::from(amount) * w;
                // |p·W − amount·w| < W : within one fen of the exact share
                prop_assert!((i128::from(*p) * tw - exact).abs() < tw);
            }
        }
    }
}
