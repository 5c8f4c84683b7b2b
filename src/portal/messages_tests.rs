use super::*;

/// Every key has a text in every language, and the same `{placeholders}` in each.
#[test]
fn every_key_has_every_language() {
    let holes = |t: &str| {
        let mut v: Vec<String> =
            t.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string())).collect();
        v.sort();
        v
    };
    for m in M::ALL {
        let en = m.text(Lang::En);
        for lang in Lang::ALL {
            let t = m.text(lang);
            assert!(!t.trim().is_empty(), "{m:?} has no {} text", lang.tag());
            assert_eq!(holes(t), holes(en), "{m:?} in {} fills other blanks than in English", lang.tag());
        }
    }
}

/// The language with the highest q-value the portal speaks; English when it speaks none.
#[test]
fn accept_language_picks_by_q_value() {
    let pick = |h: &str| Lang::from_accept(Some(h));
    assert_eq!(Lang::from_accept(None), Lang::En);
    assert_eq!(pick(""), Lang::En);
    assert_eq!(pick("de"), Lang::De);
    assert_eq!(pick("de-CH, en;q=0.5"), Lang::De);
    assert_eq!(pick("en;q=0.4, de;q=0.8"), Lang::De);
    assert_eq!(pick("en-GB;q=0.9, DE;q=0.3"), Lang::En);
    assert_eq!(pick("fr, de;q=0.7, en;q=0.5"), Lang::De, "French is not spoken: the next best");
    assert_eq!(pick("fr, it;q=0.9"), Lang::En, "nothing spoken: English");
    assert_eq!(pick("de;q=0, en;q=0.1"), Lang::En, "q=0 refuses German");
    assert_eq!(pick("de;q=0"), Lang::En);
    assert_eq!(pick("de;q=1.0"), Lang::De);
    assert_eq!(pick("de;q=bogus, en;q=0.2"), Lang::En, "a malformed q-value drops its range");
    assert_eq!(pick("de;q=0.5, en;q=0.5"), Lang::De, "the first of equals");
    assert_eq!(pick("*"), Lang::En);
}
