//! Entry points for the fuzz targets (`crates/session/fuzz`): terminal input as a shell reads it,
//! through the line rebuilder and the redactor, with the invariants the audit log relies on checked.
//! Not a stable API.

use crate::{LineEditor, LineEvent, Redactor, MAX_LINE};

/// Feed arbitrary keys in arbitrary chunks; every submitted line is bounded and redaction is total.
pub fn terminal_input(data: &[u8]) {
    let mut ed = LineEditor::new();
    let redactor = Redactor::with_defaults();
    let split = data.first().map_or(1, |&b| b as usize % 17 + 1);
    for chunk in data.chunks(split) {
        for ev in ed.feed(chunk) {
            if let LineEvent::Submitted { line, truncated } = ev {
                assert!(line.chars().count() <= MAX_LINE);
                let _ = truncated;
                let _ = redactor.redact(&line);
            }
        }
    }
    assert!(ed.current().chars().count() <= MAX_LINE);
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_hold_the_invariants() {
        for seed in [&b"echo hi\r"[..], b"\x1b[200~a\nb\x1b[201~\r", b"\x1b[\x1b\xff\xfe\x03\x17\x15\r", b""]
        {
            super::terminal_input(seed);
        }
    }
}
