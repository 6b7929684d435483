//! Session audit, userspace half: what a person typed becomes commands, secrets never.
//!
//! * [`is_secret_input`]: the terminal-mode rule deciding which input is a secret (ICANON on, ECHO off:
//!   password prompts, `read -s`). Such input is dropped before anything else sees it.
//! * [`LineEditor`]: rebuilds the submitted line from the keys a shell read (printable text, backspace,
//!   Ctrl-U/W/A/E/K, left/right arrows, Delete, Ctrl-C abandons, bracketed paste, multi-line paste).
//! * [`Redactor`]: configurable patterns applied to every command before it is emitted.
//! * [`AuditRecord`]: one JSON Lines object per command / session start / session end.
//!
//! * [`Capture`]: the kernel side (`bpf/session.bpf.c`): terminal reads of shells, secrets withheld in
//!   the kernel, Tab completions, Ctrl-C, exits.
//! * [`Tracker`]: kernel records to audit records (sessions, per-session limits).
//! * [`audit::run`]: the whole loop behind `harrier session` and `session_audit:`.

pub mod audit;
pub mod capture;
#[doc(hidden)]
pub mod fuzzing;
mod line;
pub mod pods;
mod record;
mod redact;
pub mod rules;
mod tracker;

pub use capture::{Capture, CaptureConfig, CaptureStats, TermEvent, TermKind};
pub use line::{LineEditor, LineEvent, MAX_HISTORY, MAX_LINE};
pub use record::AuditRecord;
pub use redact::{RedactError, Redactor, DEFAULT_PATTERNS};
pub use rules::{RecordAccessor, SessionRules};
pub use tracker::{HostProcs, Limits, ProcInfo, ProcSource, Procfs, Tracker, TrackerStats};

/// `c_lflag` bits of `struct ktermios` (asm-generic/termbits.h).
pub const ICANON: u32 = 0x2;
/// Echo input characters.
pub const ECHO: u32 = 0x8;

/// True when input read under this terminal mode is a secret and must never be recorded.
///
/// Line editors (bash readline, busybox ash, zsh) run with ICANON and ECHO both off and echo keys
/// themselves, so "ECHO off" alone would discard every command; a reader that lets the kernel assemble
/// the line (ICANON on) but turned echo off is asking for a password. This is the rule Linux's own
/// TTY auditing applies.
pub fn is_secret_input(c_lflag: u32) -> bool {
    c_lflag & ICANON != 0 && c_lflag & ECHO == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_rule_matches_measured_terminal_modes() {
        assert!(!is_secret_input(0), "bash/ash prompt: both off");
        assert!(!is_secret_input(ICANON | ECHO), "dash prompt: both on");
        assert!(is_secret_input(ICANON), "read -s / sudo: canonical, no echo");
        assert!(is_secret_input(ICANON | 0x1 | 0x10), "other bits do not matter");
    }
}
