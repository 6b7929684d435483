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

/// Ring buffer records of any content and length, decoded and fed to a tracker (with a /proc
/// stand-in): no panic, and every command it emits is bounded.
pub fn kernel_records(data: &[u8]) {
    struct NoProc;
    impl crate::ProcSource for NoProc {
        fn info(&self, pid: u32) -> crate::ProcInfo {
            crate::ProcInfo { sid: pid % 3, ..Default::default() }
        }
        fn user(&self, _pid: u32, uid: u32) -> String {
            uid.to_string()
        }
    }
    let mut t = crate::Tracker::new(NoProc, crate::Limits { max_session_bytes: 1 << 16, max_shells: 8 });
    let rec = 320;
    for chunk in data.chunks(rec) {
        let mut r = chunk.to_vec();
        r.resize(rec.max(chunk.len()), 0);
        if let Some(ev) = crate::capture::decode(&r) {
            for a in t.handle(&ev) {
                if let Some(c) = &a.command {
                    assert!(c.chars().count() <= MAX_LINE);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_hold_the_invariants() {
        for seed in [&b"echo hi\r"[..], b"\x1b[200~a\nb\x1b[201~\r", b"\x1b[\x1b\xff\xfe\x03\x17\x15\r", b""]
        {
            super::terminal_input(seed);
        }
        let mut rec = vec![0u8; 640];
        rec[40] = 1; // input
        rec[42] = 3;
        rec[64..67].copy_from_slice(b"ls\r");
        rec[320 + 40] = 5; // exit
        super::kernel_records(&rec);
        super::kernel_records(&[0xff; 1000]);
    }
}
