//! The engine side of [`harrier_rules::ConditionChecker`]: the rule loader calls it to check
//! conditions and outputs against the fields of a source.

use harrier_condition::Expr;
use harrier_rules::ConditionChecker;

use crate::compile::{bind_field, compile_condition, Usage};
use crate::fields::Source;
use crate::output::OutputTemplate;

/// Checks conditions and outputs with the built-in field registry.
#[derive(Debug, Default, Clone, Copy)]
pub struct Checker;

impl ConditionChecker for Checker {
    fn knows_source(&self, source: &str) -> bool {
        Source::from_name(source).is_some()
    }

    fn check_condition(&self, source: &str, expr: &Expr) -> Result<Vec<String>, String> {
        let s = Source::from_name(source).ok_or_else(|| format!("unknown source '{source}'"))?;
        compile_condition(s, expr).map(|(_, w)| w).map_err(|e| e.to_string())
    }

    fn check_output(&self, source: &str, output: &str) -> Result<(), String> {
        let s = Source::from_name(source).ok_or_else(|| format!("unknown source '{source}'"))?;
        OutputTemplate::compile(s, output).map(|_| ())
    }

    fn restricts_event_types(&self, source: &str, expr: &Expr) -> bool {
        match Source::from_name(source) {
            Some(s) if s.has_event_types() => !crate::evttype::evttypes_of(expr).is_all(),
            _ => true,
        }
    }

    fn partial_families(&self, source: &str, expr: &Expr) -> Vec<String> {
        match Source::from_name(source) {
            Some(s) if s.has_event_types() => {
                crate::evttype::partial_families(&crate::evttype::evttypes_of(expr))
                    .into_iter()
                    .map(|(present, missing)| {
                        format!(
                            "the rule watches {} but not {} (same syscall family)",
                            present.join(", "),
                            missing.join(", ")
                        )
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    fn is_field_defined(&self, source: &str, field: &str) -> bool {
        let Some(s) = Source::from_name(source) else { return false };
        let (name, arg) = match field.find('[') {
            Some(o) if field.ends_with(']') => (&field[..o], Some(&field[o + 1..field.len() - 1])),
            _ => (field, None),
        };
        bind_field(s, name, arg, Default::default(), Usage::Filter).is_ok()
    }
}
