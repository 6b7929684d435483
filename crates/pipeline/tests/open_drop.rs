//! The kernel's drop of read-only opens no rule can match (`Ruleset::read_open_drop`), checked
//! on real events: on every successful read-only open of the reference captures (both
//! extraction modes) that the bound would let the probe drop, no rule matches — with the
//! official rules, and with rules made from the captures' own paths and process names (so that
//! many opens match, through every kind of bound: exact names, prefixes, directories, `pmatch`,
//! globs, process names, `or` and `and` of them). Also: which rules keep the probe from
//! dropping anything, and why.

mod common;
use common::*;

use std::collections::BTreeSet;
use std::path::Path;

use harrier_engine::compile::Scratch;
use harrier_engine::{Checker, FieldId, RuleMatching, Ruleset, Source};
use harrier_rules::{Loader, LoaderOptions};
use harrier_state::SyscallEvent;

fn load(official: bool, extra: &[(&str, &str)]) -> Ruleset {
    let dir = reference().join("falco-rules");
    let mut loader = Loader::new(LoaderOptions::default());
    if official {
        for f in ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"] {
            loader.load_file(dir.join(f));
        }
    }
    for (name, text) in extra {
        loader.load_str(name, text);
    }
    let loaded = loader.finish(Some(&Checker));
    assert!(!loaded.has_errors());
    let (mut rs, errors) = Ruleset::compile(&loaded.rules);
    assert!(errors.is_empty(), "{errors:?}");
    rs.set_rule_matching(RuleMatching::All);
    rs
}

/// Harrier's default rules file.
fn default_rules() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/harrier_rules.yaml"))
        .expect("default rules")
}

fn rules_yaml(conds: &[String], output: &str) -> String {
    conds
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "- rule: open rule {i}\n  desc: made from the reference captures\n  condition: >-\n    {c}\n  output: \"{output}\"\n  priority: WARNING\n"
            )
        })
        .collect()
}

/// Open rules made from the paths and process names of the captures' opens.
fn capture_open_rules() -> String {
    let (mut names, mut procs) = (BTreeSet::new(), BTreeSet::new());
    walk(|acc| {
        if !is_open(acc) {
            return;
        }
        // (below a directory other than `/`: a rule on `/` would keep every open)
        if let Some(n) =
            str_of(acc, FieldId::FdName).filter(|n| n.rfind('/').is_some_and(|i| i > 0) && !n.contains('\''))
        {
            names.insert(n);
        }
        procs.extend(str_of(acc, FieldId::ProcName).filter(|p| !p.is_empty() && !p.contains('\'')));
    });
    assert!(names.len() > 20 && procs.len() > 3, "{names:?} {procs:?}");
    let pick = |s: &BTreeSet<String>, n: usize| -> Vec<String> {
        let step = (s.len() / n).max(1);
        s.iter().step_by(step).take(n).cloned().collect()
    };
    // (few: the captures' opens come from a handful of processes)
    let procs = pick(&procs, 2);
    let opens = "evt.type in (open, openat) and evt.dir = <";
    let mut conds = Vec::new();
    for (i, n) in pick(&names, 6).iter().enumerate() {
        let d = &n[..n.rfind('/').unwrap_or(0).max(1)];
        let p = &procs[i % procs.len()];
        conds.extend([
            format!("{opens} and fd.name = {}", q(n)),
            format!("{opens} and fd.name in ({}, /nonexistent)", q(n)),
            format!("{opens} and fd.name startswith {} and proc.name != {}", q(d), q(p)),
            format!("{opens} and fd.directory = {}", q(d)),
            format!("{opens} and (fd.name pmatch ({}) or proc.name = {})", q(d), q(p)),
            format!("{opens} and fd.name glob {} and not fd.name endswith .so", q(&format!("{d}/*"))),
            format!("{opens} and proc.name = {} and fd.typechar = f", q(p)),
            format!(
                "{opens} and fd.nameraw startswith {} and proc.name in ({}, sh)",
                q(&n[..n.len().min(6)]),
                q(p)
            ),
            format!(
                "{opens} and not fd.name startswith {} and fd.name startswith {} and evt.is_open_read = true",
                q(n),
                q(d)
            ),
        ]);
    }
    conds.push(format!("{opens} and fd.nameraw contains '../'"));
    rules_yaml(&conds, "%fd.name")
}

fn is_open(acc: &SyscallEvent<'_>) -> bool {
    text_of(acc, FieldId::EvtType).is_some_and(|t| t == "open" || t == "openat")
}

/// A successful read-only open: its raw path and thread name.
fn read_only_open(acc: &SyscallEvent<'_>) -> Option<(String, String)> {
    if !is_open(acc) || text_of(acc, FieldId::EvtDir)? != "<" {
        return None;
    }
    let res: i64 = text_of(acc, FieldId::EvtRawres)?.parse().ok()?;
    if res < 0 || text_of(acc, FieldId::EvtIsOpenWrite)? == "true" {
        return None;
    }
    Some((text_of(acc, FieldId::FdNameraw)?, text_of(acc, FieldId::ProcName).unwrap_or_default()))
}

/// Walk the captures: (opens the bound drops, matches among the kept opens).
fn check(rs: &mut Ruleset) -> (u64, u64) {
    let keep =
        rs.read_open_drop().unwrap_or_else(|| panic!("drop disabled: {:?}", rs.read_open_drop_blockers()));
    let mut scratch = Scratch::new();
    let (mut dropped, mut kept_matches) = (0u64, 0u64);
    walk(|acc| {
        let Some((path, comm)) = read_only_open(acc) else { return };
        let mut matched = Vec::new();
        rs.evaluate_with(Source::Syscall, acc, &mut scratch, |r| matched.push(r.name.clone()));
        if keep.keeps(path.as_bytes(), comm.as_bytes()) {
            kept_matches += matched.len() as u64;
        } else {
            dropped += 1;
            assert!(
                matched.is_empty(),
                "event {}: {path} by {comm} dropped but {matched:?} match it",
                acc.num
            );
        }
    });
    (dropped, kept_matches)
}

#[test]
fn no_rule_matches_a_dropped_open_on_the_reference_captures() {
    let capture = capture_open_rules();
    let default = default_rules();
    for (official, with_default) in [(true, false), (false, false), (false, true)] {
        let mut extra = vec![("capture_open_rules.yaml", capture.as_str())];
        if with_default {
            extra.push(("harrier_rules.yaml", default.as_str()));
        }
        let mut rs = load(official, &extra);
        let (dropped, kept_matches) = check(&mut rs);
        eprintln!(
            "official rules {official}, default rules {with_default}: {dropped} opens dropped, {kept_matches} matches among the kept"
        );
        assert!(dropped > 10, "{dropped}");
        assert!(kept_matches > 50, "{kept_matches}");
    }
}

fn blockers(cond: &str) -> Vec<String> {
    let rs = load(false, &[("r.yaml", &rules_yaml(&[cond.to_string()], "%evt.type %fd.num"))]);
    rs.read_open_drop_blockers().into_iter().map(|(_, why)| why.to_string()).collect()
}

#[test]
fn rules_that_keep_every_open() {
    // the official rules leave the drop on
    let rs = load(true, &[]);
    assert!(rs.read_open_drop_blockers().is_empty(), "{:?}", rs.read_open_drop_blockers());
    let keep = rs.read_open_drop().expect("drop on");
    assert!(
        keep.paths.iter().any(|p| p == "/etc/shadow") && keep.comms.iter().any(|c| c == "sshd"),
        "{keep:?}"
    );

    // so do Harrier's default rules
    let rs = load(false, &[("harrier_rules.yaml", &default_rules())]);
    assert!(rs.read_open_drop_blockers().is_empty(), "{:?}", rs.read_open_drop_blockers());
    eprintln!("default rules: {:?}", rs.read_open_drop());

    // an open rule without a path or name bound
    assert_eq!(
        blockers("evt.type = openat and evt.dir = < and fd.filename = passwd"),
        ["may match a read-only open of any path"]
    );
    // descriptor fields read on later events, in the condition or in the output
    assert_eq!(
        blockers("evt.type = read and fd.name startswith /etc"),
        ["reads descriptor fields on events other than opens"]
    );
    assert_eq!(
        blockers("evt.type = close and fd.num > 2"),
        Vec::<String>::new(),
        "fd.num is the event's own"
    );
    assert_eq!(
        blockers("evt.type = dup and fd.type in (ipv4, ipv6)"),
        Vec::<String>::new(),
        "no regular file passes"
    );
    assert_eq!(
        blockers("evt.type = dup and fd.type != ipv4"),
        ["reads descriptor fields on events other than opens"]
    );
    assert_eq!(
        blockers("evt.type = unlinkat and fd.name startswith /tmp"),
        Vec::<String>::new(),
        "directory descriptors are kept"
    );
    assert_eq!(blockers("evt.type = execve and fd.name exists"), Vec::<String>::new(), "no descriptor");
    assert_eq!(
        blockers("(evt.type = openat and fd.name = /x) or (evt.type = connect and fd.sport = 22)").len(),
        1
    );
    // any event type: descriptor fields of any descriptor
    assert_eq!(blockers("fd.name = /etc/passwd").len(), 1);
    // the output counts too
    let rs = load(false, &[("r.yaml", &rules_yaml(&["evt.type = close".to_string()], "%fd.name"))]);
    assert_eq!(rs.read_open_drop_blockers().len(), 1);
}
