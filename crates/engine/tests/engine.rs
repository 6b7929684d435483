//! Engine behaviour from condition strings: every operator on every type, absent semantics,
//! modifiers, transformers, val(), list fields, compile errors, evttype index, rulesets, outputs.

use harrier_condition::{Compare, Expr, FieldRef, Op, Operand, Pos, Rhs};
use harrier_engine::compile::Scratch;
use harrier_engine::output::{format_time_iso8601, format_time_json};
use harrier_engine::testing::{MapAccessor, TestValue};
use harrier_engine::{
    compile_condition, event_codes_for_name, evttypes_of, Alert, Checker, OutputTemplate, RuleMatching,
    Ruleset, Source,
};
use harrier_rules::{ConditionChecker, Location, Priority, Rule};

/// `proc.name <op> <value>` built by hand (for operator/value pairs the grammar does not produce).
fn eval_ast(op: Op, value: &str, ev: &MapAccessor) -> bool {
    let p = Pos::default();
    let e = Expr::Compare(Box::new(Compare {
        left: Operand::Field(FieldRef { name: "proc.name".into(), arg: None, pos: p }),
        op,
        modifier: None,
        right: Rhs::Value(value.into(), p),
        pos: p,
    }));
    compile_condition(Source::Syscall, &e).unwrap().0.eval(ev, &mut Scratch::new())
}

fn filter(src: Source, cond: &str) -> harrier_engine::Filter {
    let e = harrier_condition::parse(cond).unwrap_or_else(|e| panic!("parse {cond}: {e}"));
    compile_condition(src, &e).unwrap_or_else(|e| panic!("compile {cond}: {e}")).0
}

fn eval_src(src: Source, cond: &str, ev: &MapAccessor) -> bool {
    filter(src, cond).eval(ev, &mut Scratch::new())
}

fn eval(cond: &str, ev: &MapAccessor) -> bool {
    eval_src(Source::Syscall, cond, ev)
}

fn compile_err_src(src: Source, cond: &str) -> String {
    let e = harrier_condition::parse(cond).unwrap_or_else(|e| panic!("parse {cond}: {e}"));
    match compile_condition(src, &e) {
        Ok(_) => panic!("expected a compile error for {cond}"),
        Err(e) => e.to_string(),
    }
}

fn compile_err(cond: &str) -> String {
    compile_err_src(Source::Syscall, cond)
}

fn warnings(cond: &str) -> Vec<String> {
    let e = harrier_condition::parse(cond).unwrap();
    compile_condition(Source::Syscall, &e).unwrap().1
}

fn ev() -> MapAccessor {
    let mut m = MapAccessor::syscall("openat");
    m.str("proc.name", "bash")
        .str("proc.pname", "sshd")
        .str("proc.cmdline", "bash -c ls")
        .str("proc.args", "-n -t value -xfile operand -z")
        .str("fd.name", "/etc/shadow")
        .str("fd.directory", "/etc")
        .int("proc.pid", 42)
        .int("evt.rawres", -2)
        .uint("user.uid", 0)
        .uint("proc.tty", 34816)
        .bool("container.privileged", true)
        .ip("fd.sip", "10.1.2.3")
        .ip("fd.net", "192.168.1.20")
        .uint("fd.sport", 443)
        .bytes("evt.buffer", b"\x7fELF\x02\x01")
        .str("thread.cap_permitted", "CAP_CHOWN CAP_SYS_ADMIN")
        .strs("proc.aname", &["bash", "sshd", "systemd"])
        .str("proc.aname[2]", "systemd")
        .str("evt.arg.flags", "O_RDONLY|O_CLOEXEC")
        .int("evt.rawarg.res", -2)
        .set("proc.fdusage", vec![TestValue::Double(0.5)]);
    m
}

#[test]
fn string_operators() {
    let e = ev();
    assert!(eval("proc.name = bash", &e));
    assert!(eval("proc.name == bash", &e));
    assert!(!eval("proc.name = Bash", &e));
    assert!(eval("proc.name != zsh", &e));
    assert!(!eval("proc.name != bash", &e));
    // Lexical ordering: the grammar only accepts numbers after `<`, so build the AST by hand.
    assert!(eval_ast(Op::Lt, "bat", &e));
    assert!(eval_ast(Op::Le, "bash", &e));
    assert!(eval_ast(Op::Gt, "bas", &e));
    assert!(eval_ast(Op::Ge, "bash", &e));
    assert!(!eval_ast(Op::Gt, "bat", &e));
    assert!(eval("proc.name < val(proc.pname)", &e));
    assert!(eval("proc.cmdline contains \"-c l\"", &e));
    assert!(!eval("proc.cmdline contains BASH", &e));
    assert!(eval("proc.cmdline icontains BASH", &e));
    assert!(eval("fd.name startswith /etc/", &e));
    assert!(eval("fd.name endswith shadow", &e));
    assert!(!eval("fd.name endswith passwd", &e));
    assert!(eval("fd.name glob /etc/*", &e));
    assert!(eval("fd.name glob \"/etc/sha[a-z]ow\"", &e));
    assert!(eval("fd.name glob /etc/?hadow", &e));
    assert!(!eval("fd.name glob /etc/[!s]hadow", &e));
    assert!(!eval("fd.name glob /ETC/*", &e));
    assert!(eval("fd.name iglob /ETC/*", &e));
    assert!(eval("fd.name regex \"/etc/(shadow|passwd)\"", &e));
    assert!(!eval("fd.name regex \"/etc\"", &e), "regex is a full match");
    assert!(eval("proc.name in (zsh, bash)", &e));
    assert!(!eval("proc.name in (zsh, sh)", &e));
    assert!(!eval("proc.name in ()", &e), "empty list is always false");
    assert!(eval("proc.name intersects (bash)", &e));
    assert!(eval("fd.name pmatch (/etc, /var/run)", &e));
    assert!(eval("fd.name pmatch (/etc/shadow)", &e));
    assert!(!eval("fd.name pmatch (/et, /var)", &e));
    assert!(eval("thread.cap_permitted contains CAP_SYS_ADMIN", &e));
}

#[test]
fn large_in_lists_use_a_set() {
    let e = ev();
    let mut items: Vec<String> = (0..500).map(|i| format!("bin{i}")).collect();
    items.push("bash".into());
    let cond = format!("proc.name in ({})", items.join(", "));
    assert!(eval(&cond, &e));
    let cond = format!("proc.name in ({})", items[..500].join(", "));
    assert!(!eval(&cond, &e));
    let nums: Vec<String> = (100..200).map(|i| i.to_string()).collect();
    assert!(!eval(&format!("proc.pid in ({})", nums.join(",")), &e));
    assert!(eval(&format!("proc.pid in (42, {})", nums.join(",")), &e));
}

#[test]
fn modifiers() {
    let e = ev();
    assert!(eval("proc.cmdline contains anyof (zzz, \"-c\")", &e));
    assert!(!eval("proc.cmdline contains anyof (zzz, yyy)", &e));
    assert!(eval("proc.cmdline contains allof (bash, ls)", &e));
    assert!(!eval("proc.cmdline contains allof (bash, zzz)", &e));
    assert!(!eval("proc.cmdline contains allof ()", &e));
    assert!(eval("proc.cmdline contains oneof (bash, zzz)", &e));
    assert!(!eval("proc.cmdline contains oneof (bash, ls)", &e));
    assert!(eval("fd.name startswith anyof (/usr, /etc)", &e));
    assert!(eval("fd.name glob anyof (\"/usr/*\", \"/etc/*\")", &e));
    assert!(eval("proc.name = oneof (bash, zsh)", &e));
    assert!(eval("proc.name != allof (zsh, fish)", &e));
    // `in anyof` and `<` with a modifier are rejected by the parser; the compiler checks too.
    let p = Pos::default();
    for op in [Op::In, Op::Lt] {
        let e = Expr::Compare(Box::new(Compare {
            left: Operand::Field(FieldRef { name: "proc.name".into(), arg: None, pos: p }),
            op,
            modifier: Some(harrier_condition::Modifier::AnyOf),
            right: Rhs::List(vec!["a".into()], p),
            pos: p,
        }));
        assert!(compile_condition(Source::Syscall, &e).unwrap_err().message.contains("modifier"));
    }
}

#[test]
fn absent_fields() {
    let e = MapAccessor::syscall("open");
    assert!(!eval("fd.name = /etc/shadow", &e));
    assert!(!eval("fd.name != /etc/shadow", &e), "!= is false on absent values");
    assert!(eval("not fd.name = /etc/shadow", &e));
    assert!(!eval("fd.name exists", &e));
    assert!(eval("not fd.name exists", &e));
    assert!(!eval("fd.name in (a, b)", &e));
    assert!(!eval("proc.pid < 10", &e));
    assert!(!eval("tolower(fd.name) = x", &e));
    let e2 = ev();
    assert!(eval("fd.name exists and proc.pid exists", &e2));
}

#[test]
fn numeric_operators() {
    let e = ev();
    assert!(eval("proc.pid = 42", &e));
    assert!(eval("proc.pid = 0x2a", &e));
    assert!(eval("proc.pid != 41", &e));
    assert!(eval("proc.pid > 41 and proc.pid < 43 and proc.pid >= 42 and proc.pid <= 42", &e));
    assert!(eval("evt.rawres < 0", &e));
    assert!(eval("evt.rawres = -2", &e));
    assert!(eval("evt.rawres in (-1, -2)", &e));
    assert!(eval("user.uid = 0", &e));
    assert!(eval("proc.tty != 0", &e));
    assert!(eval("fd.sport = 443", &e));
    assert!(eval("fd.sport in (80, 443)", &e));
    assert!(!eval("fd.sport in (80, 8080)", &e));
    assert!(eval("proc.fdusage < 1", &e));
    assert!(eval("evt.rawarg.res < 0", &e), "rawarg takes the parameter type (errno → int64)");
    assert!(compile_err("proc.pid = abc").contains("expected a number"));
    assert!(compile_err("proc.pid = 1.5").contains("expected a number"));
    assert!(compile_err("user.uid = -1").contains("out of range"));
    assert!(compile_err("fd.sport = 70000").contains("out of range"));
    assert!(compile_err("proc.fdusage = 1.0").contains("expected a number"));
    assert!(compile_err("proc.pid contains 4").contains("not supported"));
    assert!(compile_err("proc.pid glob 4*").contains("not supported"));
    assert!(compile_err("evt.rawarg.res = abc").contains("expected a number"));
}

#[test]
fn bool_operators() {
    let e = ev();
    assert!(eval("container.privileged = true", &e));
    assert!(!eval("container.privileged = false", &e));
    assert!(eval("container.privileged != false", &e));
    assert!(eval("container.privileged in (true)", &e));
    assert!(compile_err("container.privileged = yes").contains("true or false"));
    assert!(compile_err("container.privileged < 1").contains("not supported"));
    assert!(compile_err("container.privileged contains t").contains("not supported"));
}

#[test]
fn ip_operators() {
    let e = ev();
    assert!(eval("fd.sip = 10.1.2.3", &e));
    assert!(!eval("fd.sip = 10.1.2.4", &e));
    assert!(eval("fd.sip = 10.0.0.0/8", &e));
    assert!(eval("fd.sip in (192.168.0.0/16, 10.1.2.3)", &e));
    assert!(eval("fd.net = 192.168.0.0/16", &e));
    assert!(eval("fd.net != 10.0.0.0/8", &e));
    assert!(eval("fd.net in (10.0.0.0/8, 192.168.0.0/16)", &e));
    assert!(!eval("fd.net in (10.0.0.0/8, 172.16.0.0/12)", &e));
    let mut e6 = MapAccessor::syscall("connect");
    e6.ip("fd.sip", "2001:db8::1");
    assert!(eval("fd.sip = \"2001:db8::1\"", &e6));
    assert!(eval("fd.sip = \"2001:db8::/32\"", &e6));
    assert!(compile_err("fd.sip = 10.0.0.300").contains("IP address"));
    assert!(compile_err("fd.net = 10.0.0.0/33").contains("prefix"));
    assert!(compile_err("fd.sip contains 10").contains("not supported"));
}

#[test]
fn bytebuf_operators() {
    let e = ev();
    assert!(eval("evt.buffer bcontains 454c46", &e));
    assert!(eval("evt.buffer bstartswith 7f454c46", &e));
    assert!(!eval("evt.buffer bstartswith 454c46", &e));
    assert!(eval("evt.buffer contains ELF", &e));
    assert!(compile_err("evt.buffer bcontains 7f4").contains("hexadecimal"));
    assert!(compile_err("evt.buffer bcontains zz").contains("hexadecimal"));
    assert!(compile_err("proc.name bcontains 41").contains("not supported"));
    assert!(compile_err("evt.buffer glob x*").contains("not supported"));
}

#[test]
fn list_fields() {
    let mut e = MapAccessor::new();
    e.strs("ka.req.pod.containers.image", &["nginx", "busybox"]);
    let k = Source::K8sAudit;
    assert!(eval_src(k, "ka.req.pod.containers.image in (nginx, busybox, redis)", &e));
    assert!(!eval_src(k, "ka.req.pod.containers.image in (nginx, redis)", &e), "in: every value");
    assert!(
        eval_src(k, "ka.req.pod.containers.image intersects (nginx, redis)", &e),
        "intersects: any value"
    );
    assert!(!eval_src(k, "ka.req.pod.containers.image intersects (redis)", &e));
    assert!(eval_src(k, "ka.req.pod.containers.image exists", &e));
    assert!(eval_src(k, "len(ka.req.pod.containers.image) = 2", &e));
    assert!(compile_err_src(k, "ka.req.pod.containers.image = nginx").contains("list field"));
    assert!(compile_err_src(k, "ka.req.pod.containers.image contains x").contains("list field"));
    assert!(!eval_src(k, "ka.req.pod.volumes.hostpath intersects (/proc)", &e));
}

#[test]
fn ancestor_fields_match_any_value() {
    let e = ev();
    assert!(eval("proc.aname = systemd", &e));
    assert!(eval("proc.aname in (init, sshd)", &e));
    assert!(!eval("proc.aname = init", &e));
    assert!(eval("proc.aname[2] = systemd", &e));
    assert!(!eval("proc.aname[3] = systemd", &e), "absent index");
    assert!(compile_err("proc.aname[x] = a").contains("numeric index"));
}

#[test]
fn transformers() {
    let mut e = ev();
    e.str("proc.exe", "/usr/bin/BASH").str("proc.env", "aGVsbG8=");
    assert!(eval("tolower(proc.exe) = /usr/bin/bash", &e));
    assert!(eval("toupper(proc.name) = BASH", &e));
    assert!(eval("toupper(tolower(proc.exe)) = /USR/BIN/BASH", &e));
    assert!(eval("b64(proc.env) = hello", &e));
    assert!(eval("basename(proc.exe) = BASH", &e));
    assert!(eval("basename(fd.name) = shadow", &e));
    assert!(eval("len(proc.name) = 4", &e));
    assert!(eval("len(proc.name) > 3", &e));
    assert!(eval("join(\",\", (proc.name, proc.pname)) = \"bash,sshd\"", &e));
    assert!(eval("join(\"-\", (proc.name, \"x\", 42)) = bash-x-42", &e));
    assert!(eval("concat(proc.name, \"@\", proc.pname) = bash@sshd", &e));
    assert!(eval("getopt(proc.args, \"nt:x:\")[t] = value", &e));
    assert!(eval("getopt(proc.args, \"nt:x:\")[x] = file", &e));
    assert!(eval("getopt(proc.args, \"nt:x:\")[n] exists", &e));
    assert!(!eval("getopt(proc.args, \"nt:x:z\")[z] exists", &e));
    assert!(eval("tolower(proc.name) in (bash, zsh)", &e));
    assert!(eval("proc.name = tolower(proc.name)", &e), "transformer on the right side");
    assert!(compile_err("tolower(proc.pid) = 1").contains("needs a string"));
    assert!(compile_err("toupper(evt.rawres) = 1").contains("needs a string"));
    assert!(compile_err("tolower(proc.aname) = x").contains("does not support transformers"));
    assert!(compile_err("tolower(evt.rawarg.res) = x").contains("does not support transformers"));
    let p = Pos::default();
    let e = Expr::Exists(
        Operand::Transformer(harrier_condition::Transformer {
            kind: harrier_condition::TransformerKind::ToLower,
            args: vec![harrier_condition::TArg::Field(FieldRef {
                name: "proc.name".into(),
                arg: None,
                pos: p,
            })],
            arg: Some("x".into()),
            pos: p,
        }),
        p,
    );
    assert!(compile_condition(Source::Syscall, &e)
        .unwrap_err()
        .message
        .contains("does not support field arguments"));
    assert!(compile_err("len(proc.name) = abc").contains("expected a number"));
}

#[test]
fn val_references() {
    let mut e = ev();
    e.str("proc.exe", "bash");
    assert!(eval("proc.name = val(proc.exe)", &e));
    assert!(!eval("proc.name = val(proc.pname)", &e));
    assert!(eval("proc.name != val(proc.pname)", &e));
    assert!(eval("proc.pid > val(evt.rawres)", &e));
    assert!(eval("proc.name in val(proc.exe)", &e));
    assert!(!eval("proc.name = val(proc.cwd)", &e), "absent right side");
    assert!(compile_err("syscall.type = val(evt.is_wait)").contains("cannot compare"));
    assert!(compile_err("proc.name regex val(proc.exe)").contains("literal"));
    assert!(compile_err("proc.name = val(proc.aname)").contains("right-hand"));
}

#[test]
fn compile_errors_name_field_and_position() {
    let m = compile_err("proc.name = a and proc.nme = b");
    assert!(m.contains("filter_check called with nonexistent field proc.nme"), "{m}");
    assert!(m.contains("column 19"), "{m}");
    assert!(compile_err("ka.verb = get").contains("nonexistent field ka.verb"), "field of another source");
    assert!(compile_err("evt.arg.nosuchparam = 1").contains("unknown event argument nosuchparam"));
    assert!(compile_err("proc.name[1] = a").contains("does not take an argument"));
    assert!(compile_err("json.value = a").contains("nonexistent"));
    assert!(compile_err_src(Source::AwsCloudtrail, "json.value = a").contains("requires an argument"));
    assert!(compile_err("some_macro").contains("Undefined macro 'some_macro'"));
    assert!(compile_err("fd.name regex \"(\"").contains("invalid regular expression"));
    assert!(compile_err("proc.pid pmatch (/a)").contains("pmatch"));
    assert!(compile_err("thread.nametid = x").contains("only be used in outputs"));
}

#[test]
fn field_arguments_and_dotted_forms() {
    let mut e = MapAccessor::syscall("openat");
    e.str("evt.arg.flags", "O_RDONLY")
        .str("evt.arg[0]", "3")
        .str("container.mount.dest[/var/run/docker.sock]", "/var/run/docker.sock");
    assert!(eval("evt.arg.flags contains O_RDONLY", &e));
    assert!(eval("evt.arg[flags] contains O_RDONLY", &e));
    assert!(eval("evt.arg[0] = 3", &e));
    assert!(eval("container.mount.dest[/var/run/docker.sock] = /var/run/docker.sock", &e));
    assert!(!eval("container.mount.dest[/proc*] exists", &e));
    let mut c = MapAccessor::new();
    c.str("json.value[/a/b]", "x").set("okta.mfa.failure.countlast[300]", vec![TestValue::Uint(5)]);
    assert!(eval_src(Source::AwsCloudtrail, "json.value[/a/b] = x", &c));
    assert!(eval_src(Source::Okta, "okta.mfa.failure.countlast[300] >= 5", &c));
    assert!(compile_err_src(Source::Okta, "okta.mfa.failure.countlast = 1").contains("requires an argument"));
    assert!(compile_err_src(Source::Okta, "okta.mfa.failure.countlast[abc] = 1").contains("numeric index"));
}

#[test]
fn field_warning_for_field_like_strings() {
    let w = warnings("proc.name = proc.pname");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("val(proc.pname)"));
    assert!(warnings("proc.name = bash").is_empty());
}

#[test]
fn checker_interface() {
    let c = Checker;
    assert!(c.knows_source("syscall"));
    assert!(c.knows_source("k8s_audit"));
    assert!(!c.knows_source("nope"));
    let e = harrier_condition::parse("proc.nme = x").unwrap();
    assert!(c.check_condition("syscall", &e).unwrap_err().contains("nonexistent field proc.nme"));
    assert!(c.check_output("syscall", "%proc.name %fd.name").is_ok());
    assert!(c.check_output("syscall", "%proc.nme").unwrap_err().contains("nonexistent field proc.nme"));
    assert!(c.check_output("syscall", "%fd.net").unwrap_err().contains("only be used in conditions"));
    assert!(c.is_field_defined("syscall", "proc.aname[2]"));
    assert!(c.is_field_defined("k8s_audit", "ka.user.name"));
    assert!(!c.is_field_defined("k8s_audit", "proc.name"));
}

#[test]
fn loader_reports_engine_errors() {
    let mut loader = harrier_rules::Loader::new(Default::default());
    loader.load_str(
        "t.yaml",
        "- rule: r\n  desc: d\n  condition: evt.type = open and proc.nme = x\n  output: o\n  priority: WARNING\n",
    );
    let rs = loader.finish(Some(&Checker));
    assert!(rs.has_errors());
    assert!(rs.to_text().contains("nonexistent field proc.nme"), "{}", rs.to_text());
}

#[test]
fn evttype_sets() {
    let set = |c: &str| evttypes_of(&harrier_condition::parse(c).unwrap());
    let open = event_codes_for_name("open");
    let openat = event_codes_for_name("openat");
    let s = set("evt.type = open and proc.name = bash");
    assert!(open.iter().all(|c| s.contains(*c)));
    assert!(!s.contains(openat[0]));
    let s = set("evt.type in (open, openat) or (evt.type = execve and proc.name = x)");
    assert!(s.contains(openat[0]) && s.contains(event_codes_for_name("execve")[0]));
    assert!(!s.contains(event_codes_for_name("connect")[0]));
    assert!(set("proc.name = bash").is_all());
    assert!(set("evt.type = open or proc.name = bash").is_all());
    let s = set("evt.type != open");
    assert!(!s.contains(open[0]) && s.contains(openat[0]));
    let s = set("not evt.type in (open, openat)");
    assert!(!s.contains(open[0]) && !s.contains(openat[0]) && s.contains(event_codes_for_name("execve")[0]));
    let s = set("not (evt.type = open and proc.name = x)");
    assert!(s.is_all());
    let s = set("evt.type = open and evt.type = openat");
    assert!(s.is_empty());
    assert_eq!(event_codes_for_name("open"), &[2, 3]);
    assert_eq!(event_codes_for_name("no_such_syscall"), &[0, 1]);
}

fn rule(name: &str, cond: &str, prio: Priority, tags: &[&str]) -> Rule {
    Rule {
        name: name.into(),
        desc: String::new(),
        condition_text: cond.into(),
        condition: harrier_condition::parse(cond).unwrap(),
        output: format!("{name} %proc.name"),
        priority: prio,
        source: "syscall".into(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        enabled: true,
        location: Location::default(),
        warn_evttypes: true,
        skip_if_unknown_filter: false,
        capture: false,
        capture_duration: 0,
        exception_fields: Vec::new(),
    }
}

fn matches(rs: &Ruleset, ev: &MapAccessor) -> Vec<String> {
    let mut v = Vec::new();
    rs.evaluate("syscall", ev, |r| v.push(r.name.clone()));
    v
}

#[test]
fn ruleset_matching_priority_and_enablement() {
    let rules = vec![
        rule("open bash", "evt.type in (open, openat) and proc.name = bash", Priority::Warning, &["fs", "a"]),
        rule("any bash", "proc.name = bash", Priority::Notice, &["proc"]),
        rule("exec", "evt.type = execve", Priority::Critical, &["proc"]),
        rule("open etc", "evt.type = openat and fd.name startswith /etc", Priority::Debug, &["fs"]),
    ];
    let (mut rs, errors) = Ruleset::compile(&rules);
    assert!(errors.is_empty());
    let e = ev(); // openat by bash on /etc/shadow
    assert_eq!(matches(&rs, &e), vec!["open bash"], "first match only by default");
    rs.set_rule_matching(RuleMatching::All);
    assert_eq!(matches(&rs, &e), vec!["open bash", "any bash", "open etc"]);
    assert_eq!(rs.candidates(Source::Syscall, e.event_type), 3);
    let exec = MapAccessor::syscall("execve");
    assert_eq!(matches(&rs, &exec), vec!["exec"]);
    assert_eq!(
        rs.rules_without_evttype().iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        vec!["any bash"]
    );
    // unknown event code → only unrestricted rules
    let mut odd = ev();
    odd.event_type = Some(60000);
    assert_eq!(matches(&rs, &odd), vec!["any bash"]);

    rs.set_min_priority(Priority::Notice);
    assert_eq!(matches(&rs, &e), vec!["open bash", "any bash"]);
    rs.set_min_priority(Priority::Debug);

    assert_eq!(rs.set_enabled_by_name("open *", false), 2);
    assert_eq!(matches(&rs, &e), vec!["any bash"]);
    rs.set_enabled_by_name("*", true);
    assert_eq!(rs.set_enabled_by_tag("fs", false), 2);
    assert_eq!(matches(&rs, &e), vec!["any bash"]);
    rs.enable_only_tags(&["fs"]);
    assert_eq!(matches(&rs, &e), vec!["open bash", "open etc"]);
    rs.set_enabled_by_name("*", true);
    rs.disable_tags(&["proc"]);
    assert_eq!(matches(&rs, &e), vec!["open bash", "open etc"]);

    let mut disabled = rule("off", "proc.name = bash", Priority::Error, &[]);
    disabled.enabled = false;
    let (rs2, _) = Ruleset::compile(&[disabled]);
    assert!(matches(&rs2, &e).is_empty());
}

#[test]
fn ruleset_reports_bad_rules() {
    let mut bad_out = rule("bad output", "proc.name = x", Priority::Error, &[]);
    bad_out.output = "%proc.nope".into();
    let mut bad_src = rule("bad source", "proc.name = x", Priority::Error, &[]);
    bad_src.source = "nope".into();
    let (rs, errors) =
        Ruleset::compile(&[bad_out, bad_src, rule("ok", "proc.name = x", Priority::Error, &[])]);
    assert_eq!(rs.rules().len(), 1);
    assert_eq!(errors.len(), 2);
    assert!(errors[0].message.contains("nonexistent field proc.nope"));
}

#[test]
fn output_templates() {
    let e = ev();
    let t = OutputTemplate::compile(
        Source::Syscall,
        "Shell %proc.name (parent=%proc.pname file=%fd.name pid=%proc.pid uid=%user.uid ip=%fd.sip priv=%container.privileged \
         a2=%proc.aname[2] cwd=%proc.cwd 100%% %(proc.name)x flags=%evt.arg.flags anc=%proc.aname buf=%evt.buffer)",
    )
    .unwrap();
    assert_eq!(
        t.render(&e),
        "Shell bash (parent=sshd file=/etc/shadow pid=42 uid=0 ip=10.1.2.3 priv=true a2=systemd cwd=<NA> 100% bashx \
         flags=O_RDONLY|O_CLOEXEC anc=(bash,sshd,systemd) buf=.ELF..)"
    );
    let f = t.render_fields(&e, 5);
    assert_eq!(f["proc.name"], serde_json::json!("bash"));
    assert_eq!(f["proc.pid"], serde_json::json!(42));
    assert_eq!(f["user.uid"], serde_json::json!(0));
    assert_eq!(f["proc.cwd"], serde_json::Value::Null);
    assert_eq!(f["container.privileged"], serde_json::json!(true));
    assert_eq!(f["proc.aname[2]"], serde_json::json!("systemd"));
    assert_eq!(f["evt.arg.flags"], serde_json::json!("O_RDONLY|O_CLOEXEC"));
    assert_eq!(f["fd.sip"], serde_json::json!("10.1.2.3"));
    assert_eq!(t.field_names().count(), 12);

    let mut k = MapAccessor::new();
    k.strs("ka.req.pod.containers.image", &["a", "b"]);
    let t =
        OutputTemplate::compile(Source::K8sAudit, "images=%ka.req.pod.containers.image user=%ka.user.name.")
            .unwrap();
    assert_eq!(t.render(&k), "images=(a,b) user=<NA>.");
    assert_eq!(t.render_fields(&k, 0)["ka.req.pod.containers.image"], serde_json::json!(["a", "b"]));

    let t = OutputTemplate::compile(Source::Syscall, "at %evt.time").unwrap();
    let mut te = MapAccessor::new();
    te.str("evt.time", "16:17:57.881781397");
    assert_eq!(
        t.render_fields(&te, 1470327477881781397)["evt.time"],
        serde_json::json!(1470327477881781397u64)
    );

    let t = OutputTemplate::compile(Source::Syscall, "*[%6proc.name|%2proc.pname|%4proc.cwd]").unwrap();
    assert_eq!(t.render(&e), "[bash  |ss|<NA>]");
    for bad in ["%", "x %proc.nope", "%(proc.name", "% x", "%proc.aname[2", "%12"] {
        assert!(OutputTemplate::compile(Source::Syscall, bad).is_err(), "{bad}");
    }
}

#[test]
fn alerts_json_and_text() {
    let a = Alert {
        time_ns: 1470327477881781397,
        rule: "Test".into(),
        priority: Priority::Warning,
        source: "syscall".into(),
        tags: vec!["b".into(), "a".into()],
        output: "hello".into(),
        output_fields: [
            ("proc.name".to_string(), serde_json::json!("bash")),
            ("fd.name".to_string(), serde_json::Value::Null),
        ]
        .into_iter()
        .collect(),
        hostname: "host1".into(),
    };
    assert_eq!(
        a.to_json(),
        r#"{"hostname":"host1","output":"hello","output_fields":{"fd.name":null,"proc.name":"bash"},"priority":"Warning","rule":"Test","source":"syscall","tags":["a","b"],"time":"2016-08-04T16:17:57.881781397Z"}"#
    );
    let v = a.to_json_value(false, false);
    assert!(v.get("output").is_none() && v.get("tags").is_none());
    assert_eq!(a.text_line_with_offset(false, 0), "16:17:57.881781397: Warning hello");
    assert_eq!(a.text_line_with_offset(true, 0), "2016-08-04T16:17:57.881781397+0000: Warning hello");
    assert_eq!(format_time_iso8601(1470327477881781397, -5 * 3600), "2016-08-04T11:17:57.881781397-0500");
    assert_eq!(format_time_json(0), "1970-01-01T00:00:00.000000000Z");
    assert!(a.text_line(false).ends_with(": Warning hello"));

    let (rs, _) = Ruleset::compile(&[rule("R", "proc.name = bash", Priority::Error, &["t"])]);
    let r = rs.rule("R").unwrap();
    let al = r.alert(&ev(), 1, "h");
    assert_eq!(al.output, "R bash");
    assert_eq!(al.source, "syscall");
    assert_eq!(al.tags, vec!["t"]);
}

#[test]
fn registry_covers_inventory_fields() {
    // A sample of fields from every class and source must resolve with its type.
    use harrier_engine::fields::{resolve, FieldType};
    let cases = [
        (Source::Syscall, "proc.exepath", FieldType::String),
        (Source::Syscall, "proc.is_exe_from_memfd", FieldType::Bool),
        (Source::Syscall, "proc.exe_ino.ctime", FieldType::AbsTime),
        (Source::Syscall, "fd.types", FieldType::String),
        (Source::Syscall, "container.start_ts", FieldType::AbsTime),
        (Source::Syscall, "k8s.pod.uid", FieldType::String),
        (Source::Syscall, "fs.path.name", FieldType::String),
        (Source::Syscall, "fdlist.names", FieldType::String),
        (Source::Syscall, "util.cnt", FieldType::Uint64),
        (Source::Syscall, "evt.num", FieldType::Uint64),
        (Source::K8sAudit, "jevt.value", FieldType::String),
        (Source::K8sAudit, "ka.req.pod.containers.image", FieldType::String),
        (Source::AwsCloudtrail, "s3.bytes", FieldType::Uint64),
        (Source::GcpAuditlog, "gcp.methodName", FieldType::String),
        (Source::Github, "github.repo.public", FieldType::String),
        (Source::Okta, "okta.mfa.deny.countlast", FieldType::Uint64),
    ];
    for (s, n, t) in cases {
        let r = resolve(s, n).unwrap_or_else(|e| panic!("{n}: {e}"));
        assert_eq!(r.info.ty, t, "{n}");
    }
    assert!(resolve(Source::K8sAudit, "ka.req.pod.containers.image").unwrap().info.is_list());
    assert!(resolve(Source::Syscall, "ka.verb").is_err());
    // ids are stable handles into the table
    for (i, f) in harrier_engine::FIELDS.iter().enumerate() {
        assert_eq!(f.id as usize, i);
        assert!(!f.desc.is_empty());
    }
    let mut names: Vec<&str> = harrier_engine::FIELDS.iter().map(|f| f.name).collect();
    names.sort();
    let n = names.len();
    names.dedup();
    assert_eq!(n, names.len(), "duplicate field names");
}

#[test]
fn no_panics_on_odd_input() {
    let e = ev();
    for cond in [
        "proc.name = \"\"",
        "fd.name glob \"[\"",
        "fd.name glob \"[!\"",
        "fd.name glob \"\\\\\"",
        "fd.name pmatch (\"\")",
        "fd.name pmatch (/)",
        "proc.name in (\"\")",
        "getopt(proc.args, \"a:\")[a] = x",
        "b64(proc.name) = x",
        "proc.pid = -0",
        "proc.pid = 0x",
    ] {
        let p = harrier_condition::parse(cond).unwrap();
        if let Ok((f, _)) = compile_condition(Source::Syscall, &p) {
            let _ = f.eval(&e, &mut Scratch::new());
        }
    }
}

/// An accessor without the borrowed fast path: every value goes through `extract`.
struct CopyOnly<'a>(&'a MapAccessor);

impl harrier_engine::EventAccessor for CopyOnly<'_> {
    fn event_type(&self) -> Option<u16> {
        self.0.event_type
    }
    fn extract(&self, field: &harrier_engine::BoundField, out: &mut harrier_engine::Values) -> bool {
        self.0.extract(field, out)
    }
}

#[test]
fn fast_path_and_copy_path_agree() {
    use harrier_engine::EventAccessor as _;
    let e = ev();
    let absent = MapAccessor::syscall("open");
    for cond in [
        "proc.name = bash",
        "proc.name != bash",
        "proc.name in (a, bash)",
        "fd.name startswith /etc",
        "fd.name exists",
        "proc.pid > 1",
        "evt.rawres < 0",
        "container.privileged = true",
        "fd.sip = 10.0.0.0/8",
        "evt.buffer bcontains 454c46",
        "proc.aname = sshd",
        "proc.cmdline contains anyof (x, ls)",
        "not proc.cwd = /",
        "proc.name = val(proc.pname)",
    ] {
        let f = filter(Source::Syscall, cond);
        for ev in [&e, &absent] {
            let fast = f.eval(ev, &mut Scratch::new());
            let slow = f.eval(&CopyOnly(ev), &mut Scratch::new());
            assert_eq!(fast, slow, "{cond}");
        }
    }
    let mut v = harrier_engine::Values::new();
    assert!(e.extract(&harrier_engine::BoundField::new(harrier_engine::FieldId::ProcName), &mut v));
    assert_eq!(v.get(0), Some(harrier_engine::Value::Str(b"bash")));
}

#[test]
fn indexed_evaluation_skips_only_implied_checks() {
    // `kcmp` has no event of its own (generic syscall codes 0/1): its check must not be elided.
    assert_eq!(event_codes_for_name("kcmp"), &[0, 1]);
    let (rs, _) =
        Ruleset::compile(&[rule("uffd", "evt.type = kcmp and proc.name = bash", Priority::Error, &[])]);
    let mut e = ev();
    e.event_type = Some(1);
    e.str("evt.type", "some_other_syscall");
    assert!(matches(&rs, &e).is_empty());
    e.str("evt.type", "kcmp");
    assert_eq!(matches(&rs, &e), vec!["uffd"]);
}

#[test]
fn deep_nesting_does_not_overflow() {
    let mut cond = String::from("proc.name = x");
    for i in 0..400 {
        cond = if i % 2 == 0 {
            format!("proc.pid = 1 and ({cond})")
        } else {
            format!("proc.pid = 2 or ({cond})")
        };
        cond = format!("not ({cond})");
    }
    let e = ev();
    let p = harrier_condition::parse(&cond).unwrap();
    let (f, _) = compile_condition(Source::Syscall, &p).unwrap();
    let _ = f.eval(&e, &mut Scratch::new());
    let _ = evttypes_of(&p);
}
