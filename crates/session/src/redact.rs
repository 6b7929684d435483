//! Redaction of secrets that people type on the command line itself.

use regex::Regex;

/// Patterns applied when the configuration gives none: `--password=…`, `-p…` style values, AWS secrets,
/// bearer tokens, and `KEY=value` for names containing SECRET, TOKEN, PASSWORD or PASSWD.
pub const DEFAULT_PATTERNS: &[&str] = &[
    r"(?i)(--?(?:password|passwd|pass|token|secret|api-key)[= ])\S+",
    r"(?i)(\b[A-Z0-9_]*(?:SECRET|TOKEN|PASSWORD|PASSWD)[A-Z0-9_]*=)\S+",
    r"(?i)(authorization:\s*(?:bearer|basic)\s+)\S+",
    r"()\bAKIA[0-9A-Z]{16}\b",
];

/// A bad redaction pattern in the configuration.
#[derive(Debug)]
pub struct RedactError {
    pub pattern: String,
    pub error: regex::Error,
}

impl std::fmt::Display for RedactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session_audit.redact pattern {:?}: {}", self.pattern, self.error)
    }
}

impl std::error::Error for RedactError {}

/// Replaces what each pattern matches with `***`; a first capture group, if any, is kept (the
/// `--password=` part), so the record still says what was hidden.
pub struct Redactor {
    patterns: Vec<Regex>,
}

impl Redactor {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, RedactError> {
        let patterns = patterns
            .iter()
            .map(|p| {
                Regex::new(p.as_ref()).map_err(|error| RedactError { pattern: p.as_ref().to_owned(), error })
            })
            .collect::<Result<_, _>>()?;
        Ok(Redactor { patterns })
    }

    pub fn with_defaults() -> Self {
        Self::new(DEFAULT_PATTERNS).expect("default patterns compile")
    }

    pub fn redact(&self, text: &str) -> String {
        let mut s = text.to_owned();
        for re in &self.patterns {
            if re.captures_len() > 1 {
                s = re.replace_all(&s, "${1}***").into_owned();
            } else {
                s = re.replace_all(&s, "***").into_owned();
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_hide_values_keep_names() {
        let r = Redactor::with_defaults();
        assert_eq!(r.redact("mysql --password=hunter2 db"), "mysql --password=*** db");
        assert_eq!(r.redact("export AWS_SECRET_ACCESS_KEY=abc/def"), "export AWS_SECRET_ACCESS_KEY=***");
        assert_eq!(
            r.redact("curl -H 'Authorization: Bearer eyJabc' x"),
            "curl -H 'Authorization: Bearer *** x"
        );
        assert_eq!(r.redact("aws AKIAABCDEFGHIJKLMNOP"), "aws ***");
        assert_eq!(r.redact("ls -la /tmp"), "ls -la /tmp");
    }

    #[test]
    fn bad_pattern_is_a_clear_error() {
        let e = Redactor::new(&["(unclosed"]).err().unwrap();
        assert!(e.to_string().contains("(unclosed"));
    }
}
