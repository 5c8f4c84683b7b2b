//! Rules indexed by host so that a decision only looks at the rules that can apply to the
//! request's host: exact names, `*.suffix` names, and the rules for every host (`*`, regexes,
//! no domain). Candidates come out in rule order, so first-match-wins is kept.

use crate::net::HostPattern;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub(crate) struct HostIndex {
    exact: HashMap<String, Vec<u32>>,
    suffix: HashMap<String, Vec<u32>>,
    global: Vec<u32>,
}

impl HostIndex {
    /// `domains` empty (or `global`) means the rule is checked for every host.
    pub fn add(&mut self, rule: u32, domains: &[HostPattern], global: bool) {
        if global || domains.is_empty() || domains.contains(&HostPattern::Any) {
            self.global.push(rule);
            return;
        }
        for d in domains {
            let list = match d {
                HostPattern::Exact(h) => self.exact.entry(h.clone()).or_default(),
                HostPattern::Suffix(s) => self.suffix.entry(s.clone()).or_default(),
                HostPattern::Any => unreachable!("handled above"),
            };
            // A rule naming a host twice is one candidate.
            if list.last() != Some(&rule) {
                list.push(rule);
            }
        }
    }

    /// Calls `f` with each candidate rule in ascending order until it returns false.
    pub fn for_each_candidate<'s>(&'s self, host: &str, mut f: impl FnMut(u32) -> bool) {
        const MAX: usize = 8;
        let mut lists: [&'s [u32]; MAX] = [&[]; MAX];
        let mut n = 0;
        let mut overflow: Vec<&'s [u32]> = Vec::new();
        let mut push = |l: &'s [u32]| {
            if l.is_empty() {
                return;
            }
            if n < MAX {
                lists[n] = l;
                n += 1;
            } else {
                overflow.push(l);
            }
        };
        if let Some(l) = self.exact.get(host) {
            push(l);
        }
        if !self.suffix.is_empty() {
            for (i, b) in host.bytes().enumerate() {
                if b == b'.' {
                    if let Some(l) = self.suffix.get(&host[i..]) {
                        push(l);
                    }
                }
            }
        }
        push(&self.global);
        if !overflow.is_empty() {
            // Hosts with very many labels: merge the slow way.
            let mut all: Vec<u32> = lists[..n].iter().chain(overflow.iter()).flat_map(|l| l.iter().copied()).collect();
            all.sort_unstable();
            all.dedup();
            for r in all {
                if !f(r) {
                    return;
                }
            }
            return;
        }
        let lists = &mut lists[..n];
        let mut last = None;
        loop {
            let mut best: Option<(usize, u32)> = None;
            for (i, l) in lists.iter().enumerate() {
                if let Some(&r) = l.first() {
                    if best.is_none_or(|(_, b)| r < b) {
                        best = Some((i, r));
                    }
                }
            }
            let Some((i, r)) = best else { return };
            lists[i] = &lists[i][1..];
            if last == Some(r) {
                continue;
            }
            last = Some(r);
            if !f(r) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(idx: &HostIndex, host: &str) -> Vec<u32> {
        let mut v = vec![];
        idx.for_each_candidate(host, |r| {
            v.push(r);
            true
        });
        v
    }

    #[test]
    fn merges_in_rule_order() {
        let mut idx = HostIndex::default();
        let p = |s: &str| HostPattern::parse(s).unwrap();
        idx.add(0, &[p("a.example.com")], false);
        idx.add(1, &[p("*.example.com")], false);
        idx.add(2, &[], false);
        idx.add(3, &[p("b.example.com"), p("a.example.com")], false);
        idx.add(4, &[p("*.com")], false);
        idx.add(5, &[p("*")], false);
        assert_eq!(candidates(&idx, "a.example.com"), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(candidates(&idx, "b.example.com"), vec![1, 2, 3, 4, 5]);
        assert_eq!(candidates(&idx, "example.com"), vec![2, 4, 5]);
        assert_eq!(candidates(&idx, "other.org"), vec![2, 5]);
        assert_eq!(candidates(&idx, "a.b.c.d.e.f.g.h.i.j.example.com"), vec![1, 2, 4, 5]);
    }
}
