//! Where rule evaluation spends its time on a capture: `cargo bench -p harrier-pipeline --bench
//! rulecost -- CAPTURE [RULES…]` (default rules: the three official syscall files).
//!
//! Reads the capture once into memory, then times, each the best of 3 passes (this thread's CPU
//! time): read + state only; read + state + every rule; and, per event type, the cost of each
//! candidate rule evaluated alone (the rule's own time only, measured around its evaluation, the
//! other rules disabled — shared parts are then paid by that rule). Nothing asserted.

use std::path::PathBuf;
use std::time::Instant;

use harrier_engine::compile::Scratch;
use harrier_engine::{Checker, EventAccessor, RuleMatching, Ruleset, Source};
use harrier_rules::{Loader, LoaderOptions};
use harrier_state::fields::SyscallEvent;
use harrier_state::State;

fn thread_cpu() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn load(files: &[PathBuf]) -> Ruleset {
    let mut loader = Loader::new(LoaderOptions::default());
    for f in files {
        loader.load_file(f);
    }
    let rs = loader.finish(Some(&Checker));
    let (compiled, _errors) = Ruleset::compile(&rs.rules);
    compiled
}

/// One pass over the capture: state always, `eval` per event (given the accessor).
fn pass(path: &str, mut eval: impl FnMut(&SyscallEvent<'_>)) -> u64 {
    let mut rd = harrier_scap::Reader::open(path).expect("open capture");
    let mut state = State::new();
    state.load_scap_header(rd.header());
    let mut n = 0u64;
    let mut prev_ts = 0;
    rd.for_each_event(|ev| {
        n += 1;
        state.apply(&ev);
        let acc = SyscallEvent::after(&state, ev, n, prev_ts);
        eval(&acc);
        prev_ts = ev.ts();
        true
    })
    .expect("read capture");
    n
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let Some(path) = args.first().cloned() else {
        eprintln!("usage: rulecost CAPTURE [RULES…]");
        return;
    };
    let mut files: Vec<PathBuf> = args[1..].iter().map(PathBuf::from).collect();
    if files.is_empty() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/falco-rules");
        files = ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]
            .iter()
            .map(|f| dir.join(f))
            .collect();
    }
    let mut rules = load(&files);
    rules.set_rule_matching(RuleMatching::First);
    // RULECOST_SCREEN=0: every candidate rule walked (the per-type screens off)
    let screen = std::env::var("RULECOST_SCREEN").map_or(true, |v| v != "0");
    rules.set_screen(screen);
    let mut scratch = Scratch::new();
    let best = |f: &mut dyn FnMut() -> u64| {
        let mut b = u64::MAX;
        let mut n = 0;
        for _ in 0..3 {
            let c = thread_cpu();
            n = f();
            b = b.min(thread_cpu() - c);
        }
        (b, n)
    };
    let (base, n) = best(&mut || pass(&path, |_| {}));
    let mut hits = 0u64;
    let (full, _) = best(&mut || {
        pass(&path, |acc| rules.evaluate_with(Source::Syscall, acc, &mut scratch, |_| hits += 1))
    });
    println!(
        "{n} events: state only {:.1} ms ({:.0} ns/event); with rules {:.1} ms ({:.0} ns/event, rules {:.0} ns/event); {} alerts (3 passes)",
        base as f64 / 1e6,
        base as f64 / n as f64,
        full as f64 / 1e6,
        full as f64 / n as f64,
        (full as f64 - base as f64) / n as f64,
        hits
    );
    if std::env::var_os("RULECOST_OUTLINE").is_some() {
        for r in rules.rules() {
            let ty = std::env::var("RULECOST_OUTLINE").unwrap_or_default();
            let codes = harrier_engine::event_codes_for_name(if ty.is_empty() { "openat" } else { &ty });
            if let Some(&c) = codes.iter().find(|&&c| r.enabled && r.evttypes.contains(c)) {
                println!("== {}\nguard: {}\n{}", r.name, r.filter.guard_outline(c), r.filter.outline());
            }
        }
        return;
    }
    {
        // the fields the official rules test on an open, each extracted once per event
        let names = [
            "evt.is_open_read",
            "evt.is_open_write",
            "fd.num",
            "fd.typechar",
            "fd.name",
            "fd.directory",
            "fd.nameraw",
            "proc.name",
            "proc.pname",
            "container.id",
            "proc.tty",
            "evt.type",
        ];
        let fields: Vec<harrier_engine::BoundField> = names
            .iter()
            .map(|n| harrier_engine::BoundField::new(harrier_engine::FieldId::from_name(n).unwrap()))
            .collect();

        let mut vals = harrier_engine::Values::new();
        let mut k = 0u64;
        let (t, _) = best(&mut || {
            pass(&path, |acc| {
                if acc.ev.type_name() == "openat" {
                    for f in &fields {
                        vals.clear();
                        match acc.extract_one(f) {
                            harrier_engine::One::Value(v) => vals.push(v),
                            harrier_engine::One::Absent => {}
                            harrier_engine::One::Fallback => {
                                acc.extract(f, &mut vals);
                            }
                        }
                        k += vals.len() as u64;
                    }
                }
            })
        });
        println!(
            "state + extracting {} fields per openat: {:.0} ns/event (extraction {:.0} ns/event)",
            fields.len(),
            t as f64 / n as f64,
            (t as f64 - base as f64) / n as f64
        );
    }
    // Per event type: how many events, candidate rules, and candidates the screen may skip.
    let mut counts: std::collections::HashMap<u16, u64> = Default::default();
    pass(&path, |acc| *counts.entry(acc.event_type().unwrap_or(u16::MAX)).or_default() += 1);
    let mut by_count: Vec<(u16, u64)> = counts.iter().map(|(&c, &n)| (c, n)).collect();
    by_count.sort_by_key(|&(c, n)| (std::cmp::Reverse(n), c));
    for &(code, cnt) in by_count.iter().take(8) {
        if code == u16::MAX {
            continue;
        }
        println!(
            "  type {code:>3} {:<12} {cnt:>8} events, {:>3} candidate rules, {:>3} screened",
            harrier_event::schema::event_info(code).map_or("?", |i| i.name),
            rules.candidates(Source::Syscall, Some(code)),
            rules.screened(Source::Syscall, code)
        );
    }
    if std::env::var_os("RULECOST_FULL_ONLY").is_some() {
        return;
    }
    // Per rule, time spent on the events of its candidate types.
    let mut names: Vec<(String, usize)> = Vec::new();
    for (&code, &cnt) in &counts {
        if code == u16::MAX || cnt * 100 < n {
            continue;
        }
        for r in rules.rules() {
            if r.enabled && r.evttypes.contains(code) && !names.iter().any(|(x, _)| x == &r.name) {
                names.push((r.name.clone(), r.index));
            }
        }
    }
    let mut costs: Vec<(u64, String, u64)> = Vec::new();
    for (name, _) in &names {
        let mut one = load(&files);
        one.set_screen(screen);
        one.set_enabled_by_name("*", false);
        one.set_enabled_by_name(name, true);
        let mut hit = 0u64;
        let mut spent = u64::MAX;
        for _ in 0..2 {
            let mut t = 0u64;
            pass(&path, |acc| {
                let s = Instant::now();
                one.evaluate_with(Source::Syscall, acc, &mut scratch, |_| hit += 1);
                t += s.elapsed().as_nanos() as u64;
            });
            spent = spent.min(t);
        }
        costs.push((spent, name.clone(), hit / 2));
    }
    costs.sort_by_key(|c| std::cmp::Reverse(c.0));
    let total: u64 = costs.iter().map(|c| c.0).sum();
    println!("rules alone, summed {:.1} ms ({:.0} ns/event):", total as f64 / 1e6, total as f64 / n as f64);
    for (t, name, hit) in costs {
        println!("  {:>8.2} ms {:>6.0} ns/event  {hit:>6} hits  {name}", t as f64 / 1e6, t as f64 / n as f64);
    }
}
