//! The learned-detection experiment (docs/learned-detection.md): labelled cases — attacks and
//! benign near-misses — as synthetic captures; rules without syscall families, rules with them,
//! the learned scorer (trained on `execve`/`open`/`connect`/`rename` cases only, tested on their
//! neighbours `execveat`/`openat`/`openat2`/`renameat2` and on lexically unrelated `creat` and
//! `sendto`) and workload profiles (learned on benign activity of the same workloads). Prints the
//! table; regenerate with
//! `cargo test -p harrier --test learned_detection -- --nocapture`. No root needed.

mod common;
mod synth;

use harrier_profile::offline::{examples, observe_capture};
use harrier_profile::{Model, Observation, ProfileSet};
use std::path::Path;
use std::sync::Arc;
use synth::*;

/// The same five detections, written with only the classic syscall names (what the paper's
/// rules match) or with the whole families.
fn rules_text(families: bool) -> String {
    let (exec, open, conn, ren) = if families {
        (
            "execve, execveat",
            "open, openat, openat2, creat",
            "connect, sendto, sendmsg",
            "rename, renameat, renameat2",
        )
    } else {
        ("execve", "open", "connect", "rename")
    };
    format!(
        r#"
- rule: Read sensitive file
  desc: a credential file read by a program that has no business reading it
  condition: evt.type in ({open}) and evt.dir = < and fd.name in (/etc/shadow, /etc/sudoers, /etc/gshadow) and not proc.name in (sshd, sudo, login, passwd, unix_chkpwd, cron)
  output: Sensitive file opened for reading (file=%fd.name proc=%proc.name cmdline=%proc.cmdline parent=%proc.pname user=%user.name)
  priority: WARNING
- rule: Write below binary dir
  desc: a binary directory written by something other than the package manager
  condition: evt.type in ({open}) and evt.dir = < and evt.is_open_write = true and fd.directory in (/usr/bin, /bin, /usr/sbin, /sbin, /usr/local/bin) and not proc.name in (dpkg, apt, apt-get, rpm, yum, dnf, pip)
  output: File below a binary directory opened for writing (file=%fd.name proc=%proc.name cmdline=%proc.cmdline)
  priority: ERROR
- rule: Shell spawned by a web server
  desc: a shell whose parent is a web server
  condition: evt.type in ({exec}) and evt.dir = < and proc.name in (sh, bash, dash) and proc.pname in (nginx, httpd, node)
  output: Shell spawned by a web server (shell=%proc.name parent=%proc.pname cmdline=%proc.cmdline)
  priority: ERROR
- rule: Outbound connection to a C2 port
  desc: a connection to a port commonly used by reverse shells
  condition: evt.type in ({conn}) and evt.dir = < and fd.sport in (4444, 1337, 6667, 31337)
  output: Outbound connection to a suspicious port (connection=%fd.name proc=%proc.name cmdline=%proc.cmdline)
  priority: WARNING
- rule: System binary replaced
  desc: a file renamed over a system binary
  condition: evt.type in ({ren}) and evt.dir = < and (evt.arg.newpath startswith /usr/bin/ or evt.arg.newpath startswith /bin/) and not proc.name in (dpkg, rpm)
  output: File renamed over a system binary (proc=%proc.name cmdline=%proc.cmdline)
  priority: ERROR
"#
    )
}

fn ruleset(families: bool, dir: &Path) -> Arc<harrier_engine::Ruleset> {
    let f = dir.join(if families { "fam.yaml" } else { "nofam.yaml" });
    std::fs::write(&f, rules_text(families)).unwrap();
    let mut loader = harrier_rules::Loader::new(harrier_rules::LoaderOptions::default());
    loader.load_file(&f);
    let loaded = loader.finish(Some(&harrier_engine::Checker));
    assert!(!loaded.has_errors(), "rules: {}", loaded.to_text());
    let (rs, errs) = harrier_engine::Ruleset::compile(&loaded.rules);
    assert!(errs.is_empty(), "{errs:?}");
    Arc::new(rs)
}

/// One labelled case: a small capture with the workloads' usual context and one action.
struct Case {
    name: String,
    attack: bool,
    /// The syscall the action uses (for the train/test split).
    syscall: &'static str,
    cap: std::path::PathBuf,
}

/// The workloads every case runs in: a web server (nginx), a login shell, a package manager.
struct World {
    s: Synth,
    nginx: u64,
    shell: u64,
}

fn world() -> World {
    let mut s = Synth::new();
    s.process(1, 0, "/sbin/init", &[]);
    s.process(50, 1, "/usr/sbin/sshd", &["-D"]);
    s.process(60, 1, "/usr/sbin/nginx", &["-g", "daemon off;"]);
    s.process(100, 50, "/usr/bin/bash", &[]).tty = TTY_PTS0 as u32;
    World { s, nginx: 60, shell: 100 }
}

/// Normal activity of the workloads (what profiles learn from, and context for every case).
fn routine(w: &mut World, i: u64) {
    let ng = w.nginx;
    w.s.open(ng, 10, "/var/log/nginx/access.log", flags::APPEND);
    w.s.open(ng, 11, "/etc/nginx/nginx.conf", flags::READ);
    w.s.connect(ng, 12, [10, 0, 0, 20], 8080, false);
    let p = w.s.spawn(ng, Cmd::new("/usr/bin/logger", &["-t", "nginx", "reload"]));
    w.s.open(p, 3, "/dev/log", flags::WRITE);
    let sh = w.shell;
    for (exe, args) in
        [("/usr/bin/ls", vec!["-l"]), ("/usr/bin/git", vec!["status"]), ("/usr/bin/vim", vec!["notes.txt"])]
    {
        let c = w.s.spawn(sh, Cmd::new(exe, &args).tty());
        w.s.open(c, 3, &format!("/root/work/{}{}", exe.rsplit('/').next().unwrap(), i % 3), flags::CREATE);
        w.s.open(c, 4, "/etc/passwd", flags::READ);
    }
}

type Action = Box<dyn Fn(&mut World)>;

fn cases(dir: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let mut add = |name: &str, attack: bool, syscall: &'static str, act: Action| {
        for rep in 0..3u64 {
            let mut w = world();
            routine(&mut w, rep);
            act(&mut w);
            let safe: String =
                name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            let cap = dir.join(format!("{safe}-{rep}.scap"));
            w.s.write(&cap);
            out.push(Case { name: format!("{name} #{rep}"), attack, syscall, cap });
        }
    };
    // Attacks: each behaviour through each member of its family.
    for which in ["open", "openat", "openat2"] {
        for (prog, file) in [
            ("/usr/bin/cat", "/etc/shadow"),
            ("/usr/bin/python3", "/etc/sudoers"),
            ("/usr/bin/head", "/etc/gshadow"),
        ] {
            let n = format!("read {file} by {prog} via {which}");
            let (prog, file) = (prog.to_string(), file.to_string());
            add(
                &n,
                true,
                which,
                Box::new(move |w| {
                    let p = w.s.spawn(w.shell, Cmd::new(&prog, &[&file]).tty());
                    w.s.open_with(which, p, 3, &file, flags::READ);
                }),
            );
        }
    }
    for which in ["open", "openat", "openat2", "creat"] {
        for (prog, file) in [
            ("/usr/bin/curl", "/usr/bin/sshd-helper"),
            ("/usr/bin/wget", "/usr/local/bin/kworker"),
            ("/tmp/x", "/bin/ps"),
        ] {
            let n = format!("drop {file} by {prog} via {which}");
            let (prog, file) = (prog.to_string(), file.to_string());
            add(
                &n,
                true,
                which,
                Box::new(move |w| {
                    let p = w.s.spawn(w.shell, Cmd::new(&prog, &["-o", &file]));
                    w.s.open_with(which, p, 3, &file, flags::CREATE);
                }),
            );
        }
    }
    for which in ["execve", "execveat"] {
        for sh in ["/bin/sh", "/bin/bash", "/bin/dash"] {
            let n = format!("shell {sh} from nginx via {which}");
            add(
                &n,
                true,
                which,
                Box::new(move |w| {
                    let c = if which == "execveat" {
                        Cmd::new(sh, &["-i"]).execveat()
                    } else {
                        Cmd::new(sh, &["-i"])
                    };
                    w.s.spawn(w.nginx, c);
                }),
            );
        }
    }
    for which in ["connect", "sendto"] {
        for port in [4444u16, 1337, 31337] {
            let n = format!("c2 port {port} via {which}");
            add(
                &n,
                true,
                which,
                Box::new(move |w| {
                    let p = w.s.spawn(w.shell, Cmd::new("/usr/bin/nc", &["203.0.113.7", &port.to_string()]));
                    if which == "connect" {
                        w.s.connect(p, 3, [203, 0, 113, 7], port, false);
                    } else {
                        w.s.connect(p, 3, [203, 0, 113, 7], port, true);
                        w.s.syscall(
                            p,
                            "sendto",
                            &[
                                ("res", V::I(64)),
                                ("data", V::B(b"hello".to_vec())),
                                ("fd", V::I(3)),
                                ("tuple", tuple4([10, 0, 0, 5], 40000, [203, 0, 113, 7], port)),
                            ],
                        );
                    }
                }),
            );
        }
    }
    for which in ["rename", "renameat2"] {
        for target in ["/usr/bin/ls", "/bin/ps", "/usr/bin/sudo"] {
            let n = format!("replace {target} via {which}");
            add(
                &n,
                true,
                which,
                Box::new(move |w| {
                    let p = w.s.spawn(w.shell, Cmd::new("/tmp/.x/installer", &[]));
                    let mut params =
                        vec![("res", V::I(0)), ("oldpath", s("/tmp/.x/payload")), ("newpath", s(target))];
                    if which == "renameat2" {
                        params.push(("olddirfd", V::I(-100)));
                        params.push(("newdirfd", V::I(-100)));
                        params.push(("flags", V::I(0)));
                    }
                    w.s.syscall(p, which, &params);
                }),
            );
        }
    }
    // Benign near-misses: the same files, directories and calls, by the programs whose job it is.
    for which in ["open", "openat", "openat2"] {
        add(
            &format!("sshd reads shadow via {which}"),
            false,
            which,
            Box::new(move |w| {
                let p = w.s.spawn(50, Cmd::new("/usr/sbin/sshd", &["-R"]));
                w.s.open_with(which, p, 3, "/etc/shadow", flags::READ);
            }),
        );
        add(
            &format!("sudo reads sudoers via {which}"),
            false,
            which,
            Box::new(move |w| {
                let p = w.s.spawn(w.shell, Cmd::new("/usr/bin/sudo", &["ls"]).tty());
                w.s.open_with(which, p, 3, "/etc/sudoers", flags::READ);
            }),
        );
        add(
            &format!("cat reads hosts via {which}"),
            false,
            which,
            Box::new(move |w| {
                let p = w.s.spawn(w.shell, Cmd::new("/usr/bin/cat", &["/etc/hosts"]).tty());
                w.s.open_with(which, p, 3, "/etc/hosts", flags::READ);
            }),
        );
    }
    for which in ["open", "openat", "openat2", "creat"] {
        add(
            &format!("dpkg writes /usr/bin via {which}"),
            false,
            which,
            Box::new(move |w| {
                let a = w.s.spawn(w.shell, Cmd::new("/usr/bin/apt-get", &["install", "jq"]).tty());
                let p = w.s.spawn(a, Cmd::new("/usr/bin/dpkg", &["--unpack", "jq.deb"]));
                w.s.open_with(which, p, 3, "/usr/bin/jq.dpkg-new", flags::CREATE);
            }),
        );
        add(
            &format!("editor writes notes via {which}"),
            false,
            which,
            Box::new(move |w| {
                let p = w.s.spawn(w.shell, Cmd::new("/usr/bin/vim", &["notes.txt"]).tty());
                w.s.open_with(which, p, 3, "/root/work/notes.txt", flags::CREATE);
            }),
        );
    }
    for which in ["execve", "execveat"] {
        add(
            &format!("login shell runs bash via {which}"),
            false,
            which,
            Box::new(move |w| {
                let c = if which == "execveat" {
                    Cmd::new("/bin/bash", &["-c", "ls"]).execveat()
                } else {
                    Cmd::new("/bin/bash", &["-c", "ls"])
                };
                w.s.spawn(w.shell, c);
            }),
        );
    }
    for which in ["connect", "sendto"] {
        add(
            &format!("nginx talks to its upstream via {which}"),
            false,
            which,
            Box::new(move |w| {
                w.s.connect(w.nginx, 20, [10, 0, 0, 20], 8080, which == "sendto");
            }),
        );
    }
    for which in ["rename", "renameat2"] {
        add(
            &format!("dpkg renames its new binary via {which}"),
            false,
            which,
            Box::new(move |w| {
                let p = w.s.spawn(w.shell, Cmd::new("/usr/bin/dpkg", &["--configure", "jq"]));
                let mut params = vec![
                    ("res", V::I(0)),
                    ("oldpath", s("/usr/bin/jq.dpkg-new")),
                    ("newpath", s("/usr/bin/jq")),
                ];
                if which == "renameat2" {
                    params.push(("olddirfd", V::I(-100)));
                    params.push(("newdirfd", V::I(-100)));
                    params.push(("flags", V::I(0)));
                }
                w.s.syscall(p, which, &params);
            }),
        );
    }
    out
}

/// The syscalls the scorer is trained on (the paper's classic names).
const TRAIN: &[&str] = &["execve", "open", "connect", "rename"];

#[derive(Default)]
struct Score {
    tp: u32,
    fn_: u32,
    fp: u32,
    tn: u32,
    events: u64,
    secs: f64,
}

impl Score {
    fn add(&mut self, attack: bool, hit: bool) {
        match (attack, hit) {
            (true, true) => self.tp += 1,
            (true, false) => self.fn_ += 1,
            (false, true) => self.fp += 1,
            (false, false) => self.tn += 1,
        }
    }
    fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    fn fpr(&self) -> f64 {
        self.fp as f64 / (self.fp + self.tn).max(1) as f64
    }
    fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
}

/// The observations that belong to the case's action (not the shared routine): those after the
/// routine's last one.
fn action(obs: &[Observation], routine_len: usize) -> &[Observation] {
    &obs[routine_len.min(obs.len())..]
}

#[test]
fn learned_detection_experiment() {
    let dir = tempfile::tempdir().unwrap();
    let all = cases(dir.path());
    let nofam = ruleset(false, dir.path());
    let fam = ruleset(true, dir.path());
    // The routine's observation count (the same in every case).
    let routine_cap = dir.path().join("routine.scap");
    let mut w = world();
    routine(&mut w, 0);
    w.s.write(&routine_cap);
    let routine_len = observe_capture(&routine_cap, fam.clone()).unwrap().0.len();
    assert!(routine_len > 5, "the routine is observed ({routine_len})");

    // Rules, per case: any alert.
    let mut rules_nofam = Score::default();
    let mut rules_fam = Score::default();
    let mut obs_by_case = Vec::new();
    for c in &all {
        for (rs, sc) in [(&nofam, &mut rules_nofam), (&fam, &mut rules_fam)] {
            let t = std::time::Instant::now();
            let (obs, alerts) = observe_capture(&c.cap, (*rs).clone()).unwrap();
            sc.secs += t.elapsed().as_secs_f64();
            sc.events += obs.len() as u64;
            sc.add(c.attack, alerts > 0);
        }
        // Labels for training come from the family-aware rules (what Harrier runs).
        obs_by_case.push(observe_capture(&c.cap, fam.clone()).unwrap().0);
    }
    assert_eq!(rules_fam.fn_, 0, "the family-aware rules catch every attack");
    assert!(rules_nofam.fn_ > 0, "rules on the classic names miss the neighbours");

    // Scorer: trained on the classic-name cases only (attack actions labelled by the rules,
    // benign cases whole), tested on every other case.
    let mut attack = Vec::new();
    let mut benign = Vec::new();
    for (c, obs) in all.iter().zip(&obs_by_case) {
        if !TRAIN.contains(&c.syscall) {
            continue;
        }
        if c.attack {
            attack.extend(action(obs, routine_len).iter().cloned());
            benign.extend(obs[..routine_len.min(obs.len())].iter().cloned());
        } else {
            benign.extend(obs.iter().cloned());
        }
    }
    let ex = examples(&attack, &benign);
    let t = std::time::Instant::now();
    let model = Model::train(&ex, 0.5);
    let train_secs = t.elapsed().as_secs_f64();
    let mut scorer = Score::default();
    let mut scorer_unrelated = Score::default();
    let mut combined = Score::default();
    let mut texts = 0u64;
    let t = std::time::Instant::now();
    let mut missed = Vec::new();
    for (c, obs) in all.iter().zip(&obs_by_case) {
        if TRAIN.contains(&c.syscall) {
            continue;
        }
        let act = action(obs, routine_len);
        let hit = act.iter().any(|o| {
            texts += 1;
            model.score(&o.text()) >= model.threshold
        });
        scorer.add(c.attack, hit);
        if matches!(c.syscall, "creat" | "sendto") {
            scorer_unrelated.add(c.attack, hit);
        }
        let rule_hit = observe_capture(&c.cap, nofam.clone()).unwrap().1 > 0;
        combined.add(c.attack, hit || rule_hit);
        if c.attack != hit {
            missed.push(format!("{} ({})", c.name, if c.attack { "missed" } else { "false alarm" }));
        }
    }
    scorer.secs = t.elapsed().as_secs_f64();
    scorer.events = texts;
    // Throughput of scoring alone (one core), on every observation of every case.
    let every: Vec<String> = obs_by_case.iter().flatten().map(|o| o.text()).collect();
    let t = std::time::Instant::now();
    let mut acc = 0f32;
    for _ in 0..2 {
        for s in &every {
            acc += model.score(s);
        }
    }
    let score_rate = (every.len() * 2) as f64 / t.elapsed().as_secs_f64();
    assert!(acc.is_finite());

    // Profiles: learned on the routine (several rounds), checked on each case's action.
    let mut base = ProfileSet::new(u64::MAX);
    for i in 0..3 {
        let cap = dir.path().join(format!("learn-{i}.scap"));
        let mut w = world();
        routine(&mut w, i);
        w.s.write(&cap);
        for o in observe_capture(&cap, fam.clone()).unwrap().0 {
            base.observe(&o);
        }
    }
    base.end_learning();
    let mut profiles = Score::default();
    let mut prof_missed = Vec::new();
    for (c, obs) in all.iter().zip(&obs_by_case) {
        let mut p = base.clone();
        let mut dev = Vec::new();
        for o in action(obs, routine_len) {
            dev.extend(p.observe(o).into_iter().filter(|d| d.kind != harrier_profile::Kind::Family));
        }
        profiles.add(c.attack, !dev.is_empty());
        if c.attack == dev.is_empty() {
            prof_missed.push(format!(
                "{} ({:?})",
                c.name,
                dev.iter().map(|d| (d.kind, &d.item)).collect::<Vec<_>>()
            ));
        }
    }

    let n_att = all.iter().filter(|c| c.attack).count();
    let n_ben = all.len() - n_att;
    println!(
        "\nLearned detection experiment: {} cases ({n_att} attacks, {n_ben} benign near-misses)",
        all.len()
    );
    println!("| detector | cases | recall | false-positive rate | precision |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, s: &Score| {
        println!(
            "| {name} | {} | {:.2} ({}/{}) | {:.2} ({}/{}) | {:.2} |",
            s.tp + s.fn_ + s.fp + s.tn,
            s.recall(),
            s.tp,
            s.tp + s.fn_,
            s.fpr(),
            s.fp,
            s.fp + s.tn,
            s.precision()
        )
    };
    row("rules, classic names only (all cases)", &rules_nofam);
    row("rules with syscall families (all cases)", &rules_fam);
    row("learned scorer (held-out syscalls)", &scorer);
    row("learned scorer (creat, sendto only)", &scorer_unrelated);
    row("classic rules + scorer (held-out syscalls)", &combined);
    row("workload profiles (all cases)", &profiles);
    println!(
        "\nscorer: trained on {} examples ({} positives) in {:.3} s; {} non-zero weights; scoring {:.0} events/s on one core",
        ex.len(),
        ex.iter().filter(|e| e.rule.is_some()).count(),
        train_secs,
        model.weights.len(),
        score_rate
    );
    println!(
        "rules replay (synthetic captures, tiny): {:.0} observed events/s without families, {:.0} with",
        rules_nofam.events as f64 / rules_nofam.secs.max(1e-9),
        rules_fam.events as f64 / rules_fam.secs.max(1e-9)
    );
    println!("scorer errors: {missed:?}");
    println!("profile errors: {prof_missed:?}");

    // What the experiment shows, asserted loosely (the figures are in the table).
    assert!(scorer.recall() > rules_nofam.recall() * 0.5, "the scorer finds held-out attacks");
    assert!(profiles.recall() > 0.5, "profiles notice most attacks as new behaviour");
    assert!(profiles.fp > 0 || profiles.tn > 0);
}
