//! `harrier rules …`, `-V`, `-L`, `-l`, `--list`.

use crate::{config, rules_files, Common};
use clap::Subcommand;
use harrier_engine::{compile_condition, fields::fields_for, Source};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum RulesCmd {
    /// Load rule files in order and report errors and warnings (exit 1 on errors).
    Validate {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Falco's -V JSON report.
        #[arg(long)]
        json: bool,
    },
    /// List the rules of rule files (default: Harrier's default rules).
    List {
        #[arg(short = 'r', value_name = "FILE|DIR")]
        rules: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Show one rule: description, condition as compiled, output, priority, tags.
    Describe {
        name: String,
        #[arg(short = 'r', value_name = "FILE|DIR")]
        rules: Vec<PathBuf>,
    },
    /// Parse a condition and print its canonical form. With --source, also check fields,
    /// operators and values against that source.
    CheckCondition {
        #[arg(long)]
        source: Option<String>,
        /// Print the condition exactly as libsinsp prints it (ast::as_string): values quoted only
        /// when libsinsp quotes them, so the text may not parse back. Default: a canonical form
        /// of the same shape that always parses back.
        #[arg(long)]
        canonical: bool,
        expr: String,
    },
    /// Explain alerts: which parts of the rule's condition each alert's fields make true, false or
    /// undecidable (through macros, lists and exceptions), and the exception that would silence it.
    Explain {
        /// File of Falco JSON alerts (one per line, or one JSON document); `-` reads stdin.
        #[arg(value_name = "ALERTS")]
        alerts: PathBuf,
        /// The rule files the alerts came from (default: Harrier's default rules).
        #[arg(short = 'r', value_name = "FILE|DIR")]
        rules: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(c: RulesCmd) -> u8 {
    match c {
        RulesCmd::Validate { files, json } => validate(&files, json),
        RulesCmd::List { rules, json } => list_rules(&rules, json),
        RulesCmd::Describe { name, rules } => describe(&name, &rules),
        RulesCmd::CheckCondition { source, canonical, expr } => {
            check_condition(source.as_deref(), &expr, canonical)
        }
        RulesCmd::Explain { alerts, rules, json } => match explain(&alerts, &rules, json) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("harrier rules explain: {e}");
                1
            }
        },
    }
}

fn explain(alerts: &std::path::Path, rules: &[PathBuf], json: bool) -> Result<u8, String> {
    let text = if alerts.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| format!("stdin: {e}"))?;
        s
    } else {
        std::fs::read_to_string(alerts).map_err(|e| format!("cannot read {}: {e}", alerts.display()))?
    };
    let items: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(text.trim()) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(one @ serde_json::Value::Object(_)) => vec![one],
        _ => {
            let (a, skipped) = harrier_tune::read_alerts(&text);
            if skipped > 0 {
                eprintln!("harrier rules explain: {skipped} line(s) are not alerts and were skipped");
            }
            a
        }
    };
    if items.is_empty() {
        return Err("no alert to explain (expected Falco JSON alerts)".into());
    }
    let loaded = rules_files::load(&rules_or_default(rules)?);
    if loaded.has_errors() {
        return Err(format!("the rules do not load:\n{}", loaded.to_text()));
    }
    let mut failed = false;
    for a in &items {
        match harrier_explain::explain(&loaded, a) {
            Ok(e) if json => println!("{}", harrier_explain::to_json(&e)),
            Ok(e) => println!("{}", harrier_explain::render(&e)),
            Err(err) => {
                eprintln!("harrier rules explain: {err}");
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

fn rules_or_default(rules: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    if rules.is_empty() {
        rules_files::expand(&[rules_files::default_rules_dir()])
    } else {
        rules_files::expand(rules)
    }
}

fn validate(files: &[PathBuf], json: bool) -> u8 {
    let files = match rules_files::expand(files) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    let rs = rules_files::load(&files);
    if json {
        println!("{}", rs.to_json());
    } else {
        print!("{}", rs.to_text());
    }
    u8::from(rs.has_errors())
}

pub fn validate_falco(files: &[PathBuf], common: &Common) -> u8 {
    let json = match config::from_common(common) {
        // As Falco's -V: the configured plugins are loaded, so rules on their sources and
        // fields validate.
        Ok((raw, s)) => match crate::plugins::prepare(&raw) {
            Ok(_) => s.json_output,
            Err(e) => {
                eprintln!("harrier: {e}");
                return 1;
            }
        },
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    validate(files, json)
}

fn load_ok(files: &[PathBuf]) -> Option<harrier_rules::Ruleset> {
    let files = match rules_or_default(files) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("harrier: {e}");
            return None;
        }
    };
    let rs = rules_files::load(&files);
    if rs.has_errors() {
        eprint!("{}", rs.to_text());
        return None;
    }
    Some(rs)
}

fn list_rules(files: &[PathBuf], json: bool) -> u8 {
    let Some(rs) = load_ok(files) else { return 1 };
    if json {
        let v: Vec<_> = rs
            .rules
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name, "desc": r.desc, "priority": r.priority.as_str(),
                    "source": r.source, "tags": r.tags, "enabled": r.enabled,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return 0;
    }
    let w = rs.rules.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    println!("{:<w$}  {:<13}  {:<8}  {:<8}  TAGS", "RULE", "PRIORITY", "SOURCE", "ENABLED");
    for r in &rs.rules {
        println!(
            "{:<w$}  {:<13}  {:<8}  {:<8}  {}",
            r.name,
            r.priority.as_str(),
            r.source,
            if r.enabled { "yes" } else { "no" },
            r.tags.join(",")
        );
    }
    0
}

pub fn list_rules_falco(common: &Common) -> u8 {
    let json = config::from_common(common).map(|(_, s)| s.json_output).unwrap_or(false);
    list_rules(&common.rules, json)
}

fn describe(name: &str, files: &[PathBuf]) -> u8 {
    let Some(rs) = load_ok(files) else { return 1 };
    let Some(r) = rs.rule(name) else {
        eprintln!("harrier: no rule named '{name}' (harrier rules list shows them)");
        return 1;
    };
    println!("Rule: {}", r.name);
    println!("Description: {}", r.desc.trim());
    println!("Priority: {}", r.priority.as_str());
    println!("Source: {}", r.source);
    println!("Tags: {}", r.tags.join(", "));
    println!("Enabled: {}", r.enabled);
    println!("Condition: {}", harrier_condition::canonical(&r.condition));
    println!("Output: {}", r.output.trim());
    println!("Defined at: {}:{}:{}", r.location.file, r.location.line, r.location.column);
    0
}

pub fn describe_falco(name: &str, common: &Common) -> u8 {
    describe(name, &common.rules)
}

fn check_condition(source: Option<&str>, expr: &str, libsinsp: bool) -> u8 {
    let ast = match harrier_condition::parse(expr) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {} (line {}, column {})", e.message, e.pos.line, e.pos.col);
            eprintln!("  {}", expr.lines().nth(e.pos.line.saturating_sub(1) as usize).unwrap_or(""));
            eprintln!("  {}^", " ".repeat(e.pos.col.saturating_sub(1) as usize));
            return 1;
        }
    };
    if let Some(src) = source {
        let Some(s) = Source::from_name(src) else {
            eprintln!(
                "error: unknown source '{src}' (known: {})",
                Source::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
            );
            return 1;
        };
        match compile_condition(s, &ast) {
            Ok((_, warnings)) => {
                for w in warnings {
                    eprintln!("warning: {w}");
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    }
    if libsinsp {
        println!("{}", harrier_condition::libsinsp_form(&ast));
    } else {
        println!("{}", harrier_condition::canonical(&ast));
    }
    0
}

pub fn list_fields(source: &str) -> u8 {
    let sources: Vec<Source> = if source.is_empty() {
        Source::ALL.to_vec()
    } else {
        match Source::from_name(source) {
            Some(s) => vec![s],
            None => {
                eprintln!(
                    "harrier: unknown source '{source}' (known: {})",
                    Source::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
                );
                return 1;
            }
        }
    };
    for s in sources {
        println!("Source: {}", s.name());
        println!("{}", "-".repeat(60));
        for f in fields_for(s) {
            let arg = match f.arg {
                harrier_engine::fields::ArgKind::None => "",
                harrier_engine::fields::ArgKind::IndexRequired => "[N]",
                harrier_engine::fields::ArgKind::IndexAllowed => "[N]?",
                harrier_engine::fields::ArgKind::KeyRequired => "[KEY]",
                harrier_engine::fields::ArgKind::KeyAllowed => "[KEY]?",
                harrier_engine::fields::ArgKind::IndexOrKeyRequired => "[N|KEY]",
            };
            let list = if f.is_list() { " (list)" } else { "" };
            println!("{:<44} {:<8}{} {}", format!("{}{}", f.name, arg), f.ty.name(), list, f.desc);
        }
        println!();
    }
    0
}
