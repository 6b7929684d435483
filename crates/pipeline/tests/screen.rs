//! The per-type screens (`harrier_engine`'s guards) never change which rules match: on every
//! event of the reference captures, in both extraction modes, the official rules plus rules
//! made from the captures' own names and paths (so that many events match, through every
//! operator a guard is made from, under `or`, `not` and event-type branches) give the same
//! matches with the screens on and off.

mod common;
use common::*;

use std::collections::BTreeSet;

use harrier_engine::compile::Scratch;
use harrier_engine::{Checker, EventAccessor, FieldId, RuleMatching, Ruleset, Source};
use harrier_rules::{Loader, LoaderOptions};

/// Rules built from names and paths the captures hold: hits and near misses for every kind of
/// guard test. Returns the rules file's text and the number of rules in it.
fn capture_rules() -> (String, usize) {
    let (mut names, mut dirs, mut files, mut procs) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    walk(|acc| {
        if let Some(n) = str_of(acc, FieldId::FdName).filter(|n| n.starts_with('/') && !n.contains('\'')) {
            names.insert(n);
        }
        dirs.extend(str_of(acc, FieldId::FdDirectory).filter(|d| !d.contains('\'')));
        files.extend(str_of(acc, FieldId::FdFilename).filter(|f| !f.is_empty() && !f.contains('\'')));
        procs.extend(str_of(acc, FieldId::ProcName).filter(|p| !p.is_empty() && !p.contains('\'')));
    });
    assert!(names.len() > 20 && dirs.len() > 5 && procs.len() > 3, "{names:?} {dirs:?} {procs:?}");
    let pick = |s: &BTreeSet<String>, n: usize| -> Vec<String> {
        let step = (s.len() / n).max(1);
        s.iter().step_by(step).take(n).cloned().collect()
    };
    let mut conds = Vec::new();
    for (i, n) in pick(&names, 12).iter().enumerate() {
        let d = &n[..n.rfind('/').unwrap_or(0).max(1)];
        let p = &pick(&procs, 12)[i % pick(&procs, 12).len()];
        let tail = &n[n.len().saturating_sub(4)..];
        let mid = &n[n.len() / 3..(n.len() / 3 + 3).min(n.len())];
        conds.extend([
            format!("fd.name = {}", q(n)),
            format!("evt.type in (open, openat) and fd.name in ({}, /nonexistent)", q(n)),
            format!("fd.name startswith {} and proc.name != {}", q(d), q(p)),
            format!("fd.name pmatch ({}) or proc.name = {}", q(d), q(p)),
            format!("fd.name glob {} and not fd.name endswith .so", q(&format!("{d}/*"))),
            format!("(evt.type = execve and proc.name = {}) or (evt.type in (openat, close, read) and fd.directory = {})", q(p), q(d)),
            format!("fd.name endswith {} and fd.typechar = f", q(tail)),
            format!("fd.nameraw contains {} or fd.filename = {}", q(mid), q(&n[n.rfind('/').map_or(0, |i| i + 1)..])),
            format!("proc.name in ({}, sh) and (fd.name startswith {} or fd.name startswith /etc)", q(p), q(&n[..n.len().min(6)])),
            format!("not fd.name startswith {} and fd.name startswith /", q(d)),
            format!("fd.directory pmatch ({}) and proc.pname exists", q(d)),
        ]);
    }
    for f in pick(&files, 6) {
        conds.push(format!("fd.filename in ({}, passwd) and evt.dir = <", q(&f)));
    }
    for d in pick(&dirs, 6) {
        conds.push(format!("evt.type != close and fd.directory in ({}, /tmp)", q(&d)));
    }
    let yaml = conds
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "- rule: capture rule {i}\n  desc: made from the reference captures\n  condition: >-\n    {c}\n  output: \"%evt.type\"\n  priority: WARNING\n"
            )
        })
        .collect();
    (yaml, conds.len())
}

#[test]
fn screens_do_not_change_matches_on_the_reference_captures() {
    let dir = reference().join("falco-rules");
    let mut loader = Loader::new(LoaderOptions::default());
    for f in ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"] {
        loader.load_file(dir.join(f));
    }
    let (extra, n) = capture_rules();
    assert!(n > 100, "{n}");
    loader.load_str("capture_rules.yaml", &extra);
    let loaded = loader.finish(Some(&Checker));
    assert!(!loaded.has_errors());
    let (mut rs, errors) = Ruleset::compile(&loaded.rules);
    assert!(errors.is_empty(), "{errors:?}");
    rs.set_rule_matching(RuleMatching::All);
    let openat = harrier_engine::event_codes_for_name("openat");
    let screened: usize = openat.iter().map(|&c| rs.screened(Source::Syscall, c)).sum();
    assert!(screened > 40, "the screen guards the open rules ({screened})");

    let mut scratch = Scratch::new();
    let (mut events, mut matches) = (0u64, 0u64);
    let mut matched_rules = BTreeSet::new();
    walk(|acc| {
        let mut on = Vec::new();
        rs.set_screen(true);
        rs.evaluate_with(Source::Syscall, acc, &mut scratch, |r| on.push(r.index));
        let mut off = Vec::new();
        rs.set_screen(false);
        rs.evaluate_with(Source::Syscall, acc, &mut scratch, |r| off.push(r.index));
        assert_eq!(on, off, "event {} ({:?})", acc.num, acc.event_type());
        events += 1;
        matches += on.len() as u64;
        matched_rules.extend(on);
    });
    eprintln!(
        "{events} events, {matches} matches of {} rules, {screened} open candidates screened",
        matched_rules.len()
    );
    assert!(events > 10_000, "{events}");
    assert!(
        matches > 5_000 && matched_rules.len() > 60,
        "{matches} matches of {} rules",
        matched_rules.len()
    );
}
