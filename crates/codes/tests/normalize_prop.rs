//! Property tests for `normalize`.

use codes::{is_normal, normalize, normalize_into};
use proptest::prelude::*;

/// Strings built from characters that matter to the rules, plus arbitrary ones.
fn code_like() -> impl Strategy<Value = String> {
    let alphabet = prop::sample::select(vec![
        'A', 'a', 'K', 'x', 'X', 'ｘ', 'Ｘ', '0', '1', '9', '０', '９', '.', '．', '。', '+', '＋',
        '†', '*', '＊', ' ', '\t', '\u{3000}', '\u{000B}', '/', '-', '急', 'é',
    ]);
    prop_oneof![
        prop::collection::vec(alphabet, 0..16).prop_map(|v| v.into_iter().collect()),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn idempotent_and_total(s in code_like()) {
        let once = normalize(&s).into_owned();
        let twice = normalize(&once);
        prop_assert_eq!(twice.as_ref(), once.as_str());
        prop_assert!(is_normal(&once));
        prop_assert_eq!(is_normal(&s), once == s);
        let mut buf = String::new();
        normalize_into(&s, &mut buf);
        prop_assert_eq!(buf, once);
    }
}
