//! Rebuilding a submitted command line from the keys a line editor read.

/// Longest line kept; longer input is cut and the line is marked truncated.
pub const MAX_LINE: usize = 64 * 1024;

/// What feeding input produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// Enter pressed: the line the shell receives (`truncated` if it exceeded [`MAX_LINE`]).
    Submitted { line: String, truncated: bool },
    /// Ctrl-C / Ctrl-G: the line was thrown away, nothing ran.
    Abandoned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    Started,
    Csi,
}

/// A minimal emacs-mode line editor (the default of bash, ash and zsh) driven by input bytes.
#[derive(Debug, Default)]
pub struct LineEditor {
    buf: Vec<char>,
    cursor: usize,
    truncated: bool,
    esc: EscState,
    utf8: Vec<u8>,
    in_paste: bool,
    /// Submitted lines, oldest first, for Up/Down recall (bounded by [`MAX_HISTORY`]).
    history: std::collections::VecDeque<String>,
    /// Position while browsing history (`history.len()` = the line being edited).
    hist_pos: usize,
    /// The line being edited when browsing started.
    hist_saved: Option<Vec<char>>,
    /// Cursor position of a Tab inserted just now, waiting for the shell's completion.
    tab_at: Option<usize>,
}

/// Lines kept for history recall.
pub const MAX_HISTORY: usize = 1000;

#[derive(Debug)]
struct EscState {
    state: Esc,
    params: String,
}

impl Default for EscState {
    fn default() -> Self {
        EscState { state: Esc::None, params: String::new() }
    }
}

impl LineEditor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ctrl-C reached the shell as a signal (ISIG on): the line is thrown away.
    pub fn interrupt(&mut self) -> LineEvent {
        self.reset();
        self.utf8.clear();
        self.esc = EscState::default();
        LineEvent::Abandoned
    }

    /// Input of the line being edited was lost: it will be submitted marked truncated.
    /// The lost bytes may have ended a paste or an escape sequence: both states are reset, so the
    /// next Enter submits the line instead of being taken as pasted text.
    pub fn mark_incomplete(&mut self) {
        self.truncated = true;
        self.in_paste = false;
        self.esc = EscState::default();
        self.utf8.clear();
    }

    /// The line as it stands now (not submitted).
    pub fn current(&self) -> String {
        self.buf.iter().collect()
    }

    /// Forget the recalled history (the shell ran `history -c`).
    pub fn clear_history(&mut self) {
        self.history.clear();
        self.hist_pos = 0;
        self.hist_saved = None;
    }

    /// The shell wrote `echoed` right after reading a Tab: a unique completion is echoed as the plain
    /// text it inserts, which replaces the Tab. Anything else (a bell, a list of candidates, a
    /// redraw) leaves the line as it was without the Tab. Returns true when text was inserted.
    pub fn completion(&mut self, echoed: &[u8]) -> bool {
        let Some(at) = self.tab_at.take() else { return false };
        if at < self.buf.len() && self.buf[at] == '\t' {
            self.buf.remove(at);
            if self.cursor > at {
                self.cursor -= 1;
            }
        }
        let Ok(text) = std::str::from_utf8(echoed) else { return false };
        if text.is_empty() || text.chars().any(|c| c.is_control()) {
            return false;
        }
        for c in text.chars() {
            self.insert(c);
        }
        true
    }

    /// Feed input bytes; returns the lines submitted or abandoned, in order.
    pub fn feed(&mut self, input: &[u8]) -> Vec<LineEvent> {
        let mut out = Vec::new();
        for &b in input {
            self.byte(b, &mut out);
        }
        out
    }

    fn byte(&mut self, b: u8, out: &mut Vec<LineEvent>) {
        match self.esc.state {
            Esc::Started => {
                self.esc.state = if b == b'[' || b == b'O' { Esc::Csi } else { Esc::None };
                self.esc.params.clear();
                if b == 0x7f || b == 0x08 {
                    self.kill_word_back(); // Alt-Backspace
                }
                return;
            }
            Esc::Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.esc.state = Esc::None;
                    let params = std::mem::take(&mut self.esc.params);
                    self.csi(&params, b);
                } else if self.esc.params.len() < 16 {
                    self.esc.params.push(b as char);
                }
                return;
            }
            Esc::None => {}
        }
        if !self.utf8.is_empty() && b & 0xc0 != 0x80 {
            // An incomplete UTF-8 sequence cut by a new character: keep a marker, then handle the byte.
            self.utf8.clear();
            self.insert(char::REPLACEMENT_CHARACTER);
        }
        if !self.utf8.is_empty() || b >= 0x80 {
            self.utf8.push(b);
            match std::str::from_utf8(&self.utf8) {
                Ok(s) => {
                    let s = s.to_owned();
                    self.utf8.clear();
                    for c in s.chars() {
                        self.insert(c);
                    }
                }
                Err(e) if e.error_len().is_some() || self.utf8.len() >= 4 => {
                    self.utf8.clear();
                    self.insert(char::REPLACEMENT_CHARACTER);
                }
                Err(_) => {}
            }
            return;
        }
        match b {
            b'\r' | b'\n' => {
                if self.in_paste {
                    // A pasted newline still submits the line in bash/ash without bracketed paste
                    // semantics; with them the shell keeps it in the buffer.
                    self.insert('\n');
                } else {
                    let line: String = std::mem::take(&mut self.buf).into_iter().collect();
                    if !line.trim().is_empty() {
                        if self.history.len() >= MAX_HISTORY {
                            self.history.pop_front();
                        }
                        self.history.push_back(line.clone());
                    }
                    self.hist_pos = self.history.len();
                    self.hist_saved = None;
                    self.tab_at = None;
                    out.push(LineEvent::Submitted { line, truncated: std::mem::take(&mut self.truncated) });
                    self.cursor = 0;
                }
            }
            0x03 | 0x07 => {
                self.reset();
                out.push(LineEvent::Abandoned);
            }
            0x7f | 0x08 => self.backspace(),
            0x01 => self.cursor = 0,
            0x05 => self.cursor = self.buf.len(),
            0x02 => self.cursor = self.cursor.saturating_sub(1),
            0x06 => self.cursor = (self.cursor + 1).min(self.buf.len()),
            0x04 => self.delete(),
            0x0b => self.buf.truncate(self.cursor),
            0x15 => {
                self.buf.drain(..self.cursor);
                self.cursor = 0;
            }
            0x17 => self.kill_word_back(),
            0x1b => self.esc.state = Esc::Started,
            b'\t' => {
                self.tab_at = Some(self.cursor);
                self.insert('\t');
            }
            0x10 => self.recall(true),
            0x0e => self.recall(false),
            0x20..=0x7e => self.insert(b as char),
            _ => {}
        }
    }

    fn csi(&mut self, params: &str, fin: u8) {
        match (params, fin) {
            ("", b'A') => self.recall(true),
            ("", b'B') => self.recall(false),
            ("", b'D') => self.cursor = self.cursor.saturating_sub(1),
            ("", b'C') => self.cursor = (self.cursor + 1).min(self.buf.len()),
            ("", b'H') | ("1", b'~') => self.cursor = 0,
            ("", b'F') | ("4", b'~') => self.cursor = self.buf.len(),
            ("3", b'~') => self.delete(),
            ("200", b'~') => self.in_paste = true,
            ("201", b'~') => self.in_paste = false,
            _ => {}
        }
    }

    /// Up (`older`) / Down through the submitted lines, as readline, ZLE and ash's editor do.
    fn recall(&mut self, older: bool) {
        if older {
            if self.hist_pos == 0 {
                return;
            }
            if self.hist_pos == self.history.len() {
                self.hist_saved = Some(self.buf.clone());
            }
            self.hist_pos -= 1;
            self.buf = self.history[self.hist_pos].chars().collect();
        } else {
            if self.hist_pos >= self.history.len() {
                return;
            }
            self.hist_pos += 1;
            self.buf = if self.hist_pos == self.history.len() {
                self.hist_saved.take().unwrap_or_default()
            } else {
                self.history[self.hist_pos].chars().collect()
            };
        }
        self.cursor = self.buf.len();
    }

    fn insert(&mut self, c: char) {
        if self.buf.len() >= MAX_LINE {
            self.truncated = true;
            return;
        }
        self.buf.insert(self.cursor, c);
        self.cursor += 1;
    }

    fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.buf.remove(self.cursor);
        }
    }

    fn delete(&mut self) {
        if self.cursor < self.buf.len() {
            self.buf.remove(self.cursor);
        }
    }

    fn kill_word_back(&mut self) {
        let mut i = self.cursor;
        while i > 0 && self.buf[i - 1].is_whitespace() {
            i -= 1;
        }
        while i > 0 && !self.buf[i - 1].is_whitespace() {
            i -= 1;
        }
        self.buf.drain(i..self.cursor);
        self.cursor = i;
    }

    fn reset(&mut self) {
        self.hist_pos = self.history.len();
        self.hist_saved = None;
        self.tab_at = None;
        self.buf.clear();
        self.cursor = 0;
        self.truncated = false;
        self.in_paste = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<String> {
        LineEditor::new()
            .feed(input)
            .into_iter()
            .filter_map(|e| match e {
                LineEvent::Submitted { line, .. } => Some(line),
                LineEvent::Abandoned => None,
            })
            .collect()
    }

    #[test]
    fn plain_lines() {
        assert_eq!(lines(b"cd /tmp\rexport X=1\recho hi > f\r"), ["cd /tmp", "export X=1", "echo hi > f"]);
    }

    #[test]
    fn backspace_and_arrows() {
        // "echo hxi" -> backspace twice -> "echo h", type "i"; then go left 4, fix "echo" typo
        assert_eq!(lines(b"ecoh hi\x1b[D\x1b[D\x1b[D\x7f\x7fho\r"), ["echo hi"]);
        assert_eq!(lines(b"ls -l\x1b[D\x1b[D\x1b[D\x08\x1b[3~\x1bOF x\r"), ["l-l x"]);
    }

    #[test]
    fn ctrl_u_w_k_a_e() {
        assert_eq!(lines(b"rm -rf /\x15ls\r"), ["ls"]);
        assert_eq!(lines(b"echo one two\x17three\r"), ["echo one three"]);
        assert_eq!(lines(b"echo abc\x01\x06\x06\x06\x06\x0bprintf x\x05!\r"), ["echoprintf x!"]);
    }

    #[test]
    fn ctrl_c_abandons() {
        let ev = LineEditor::new().feed(b"rm important\x03ls\r");
        assert_eq!(ev[0], LineEvent::Abandoned);
        assert_eq!(ev[1], LineEvent::Submitted { line: "ls".into(), truncated: false });
    }

    #[test]
    fn pasted_multiline_block() {
        assert_eq!(lines(b"echo a\recho b\r"), ["echo a", "echo b"]);
        assert_eq!(
            lines(b"\x1b[200~for i in 1 2\ndo echo $i; done\x1b[201~\r"),
            ["for i in 1 2\ndo echo $i; done"]
        );
    }

    #[test]
    fn history_recall_and_completion() {
        assert_eq!(lines(b"echo one\recho two\r\x1b[A\x1b[A\r"), ["echo one", "echo two", "echo one"]);
        assert_eq!(lines(b"a\rb\r\x1b[A\x1b[A\x1b[Bx\r"), ["a", "b", "bx"]);
        assert_eq!(lines(b"typed\x1b[A\x1b[B!\r"), ["typed!"], "Up with no history keeps the line");
        let mut ed = LineEditor::new();
        ed.feed(b"ls /us\t");
        assert!(ed.completion(b"r/"));
        assert_eq!(ed.feed(b"\r"), [LineEvent::Submitted { line: "ls /usr/".into(), truncated: false }]);
        ed.feed(b"ls /x\t");
        assert!(!ed.completion(b"\x07"), "a bell completes nothing");
        assert_eq!(ed.current(), "ls /x");
        ed.feed(b"\x1b[A");
        assert_eq!(ed.current(), "ls /usr/");
        ed.clear_history();
        ed.interrupt();
        ed.feed(b"\x1b[A");
        assert_eq!(ed.current(), "");
    }

    #[test]
    fn lost_input_ends_a_paste() {
        let mut ed = LineEditor::new();
        ed.feed(b"\x1b[200~: aaaa");
        // the end of the paste was dropped by the rate limit; the next record says so
        ed.mark_incomplete();
        assert_eq!(ed.feed(b"\r"), [LineEvent::Submitted { line: ": aaaa".into(), truncated: true }]);
        assert_eq!(
            ed.feed(b"echo next\r"),
            [LineEvent::Submitted { line: "echo next".into(), truncated: false }]
        );
    }

    #[test]
    fn long_line_is_cut_and_marked() {
        let mut input = vec![b'a'; MAX_LINE + 1000];
        input.push(b'\r');
        let ev = LineEditor::new().feed(&input);
        match &ev[0] {
            LineEvent::Submitted { line, truncated } => {
                assert_eq!(line.len(), MAX_LINE);
                assert!(truncated);
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn binary_garbage_does_not_panic_and_stays_bounded() {
        let mut ed = LineEditor::new();
        let junk: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        ed.feed(&junk);
        assert!(ed.current().chars().count() <= MAX_LINE);
        assert_eq!(lines("héllo wörld\r".as_bytes()), ["héllo wörld"]);
        assert_eq!(lines(b"a\xc3\rb\r"), ["a\u{fffd}", "b"], "a cut UTF-8 sequence does not eat Enter");
    }
}
