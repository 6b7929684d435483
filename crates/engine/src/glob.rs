//! fnmatch(3)-style glob matching (no flags, or case folding for `iglob`): `*` matches any
//! sequence (including `/`), `?` any single byte, `[...]` a class with ranges and `!`/`^`
//! negation, `\x` the literal `x`.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(u8),
    Any,
    Star,
    Class { negated: bool, ranges: Vec<(u8, u8)> },
}

/// A compiled glob pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    toks: Vec<Tok>,
    casefold: bool,
}

impl Glob {
    pub fn new(pattern: &[u8], casefold: bool) -> Glob {
        let fold = |b: u8| if casefold { b.to_ascii_lowercase() } else { b };
        let mut toks = Vec::new();
        let mut i = 0;
        while i < pattern.len() {
            let c = pattern[i];
            match c {
                b'*' => {
                    if toks.last() != Some(&Tok::Star) {
                        toks.push(Tok::Star);
                    }
                    i += 1;
                }
                b'?' => {
                    toks.push(Tok::Any);
                    i += 1;
                }
                b'[' => match parse_class(pattern, i + 1, casefold) {
                    Some((tok, next)) => {
                        toks.push(tok);
                        i = next;
                    }
                    None => {
                        // No closing bracket: a literal '['.
                        toks.push(Tok::Lit(b'['));
                        i += 1;
                    }
                },
                b'\\' if i + 1 < pattern.len() => {
                    toks.push(Tok::Lit(fold(pattern[i + 1])));
                    i += 2;
                }
                _ => {
                    toks.push(Tok::Lit(fold(c)));
                    i += 1;
                }
            }
        }
        Glob { toks, casefold }
    }

    /// The literal bytes every match starts with (before the first wildcard or class); `None`
    /// for a case-folding pattern.
    pub fn literal_head(&self) -> Option<Vec<u8>> {
        if self.casefold {
            return None;
        }
        Some(
            self.toks
                .iter()
                .map_while(|t| match t {
                    Tok::Lit(b) => Some(*b),
                    _ => None,
                })
                .collect(),
        )
    }

    pub fn matches(&self, s: &[u8]) -> bool {
        let fold = |b: u8| if self.casefold { b.to_ascii_lowercase() } else { b };
        let toks = &self.toks;
        let (mut t, mut i) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        loop {
            if t < toks.len() {
                match &toks[t] {
                    Tok::Star => {
                        star = Some((t, i));
                        t += 1;
                        continue;
                    }
                    tok if i < s.len() && tok_matches(tok, fold(s[i]), s[i], self.casefold) => {
                        t += 1;
                        i += 1;
                        continue;
                    }
                    _ => {}
                }
            } else if i == s.len() {
                return true;
            }
            // Mismatch: backtrack to the last star, letting it eat one more byte.
            match star {
                Some((st, si)) if si < s.len() => {
                    star = Some((st, si + 1));
                    t = st + 1;
                    i = si + 1;
                }
                _ => return false,
            }
        }
    }
}

fn tok_matches(tok: &Tok, folded: u8, raw: u8, casefold: bool) -> bool {
    match tok {
        Tok::Lit(l) => *l == folded,
        Tok::Any => true,
        Tok::Star => false,
        Tok::Class { negated, ranges } => {
            let hit = ranges.iter().any(|&(a, b)| {
                (a..=b).contains(&folded) || (casefold && ((a..=b).contains(&raw.to_ascii_uppercase())))
            });
            hit != *negated
        }
    }
}

/// Parse a bracket class starting after '['; return the token and the index after ']'.
fn parse_class(p: &[u8], mut i: usize, casefold: bool) -> Option<(Tok, usize)> {
    let mut negated = false;
    if i < p.len() && (p[i] == b'!' || p[i] == b'^') {
        negated = true;
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    while i < p.len() {
        let mut c = p[i];
        if c == b']' && !first {
            return Some((Tok::Class { negated, ranges }, i + 1));
        }
        first = false;
        if c == b'\\' && i + 1 < p.len() {
            i += 1;
            c = p[i];
        }
        let lo = c;
        let mut hi = c;
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            hi = p[i + 2];
            if hi == b'\\' && i + 3 < p.len() {
                hi = p[i + 3];
                i += 1;
            }
            i += 3;
        } else {
            i += 1;
        }
        if casefold {
            ranges.push((lo.to_ascii_lowercase(), hi.to_ascii_lowercase()));
        }
        ranges.push((lo, hi));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p.as_bytes(), false).matches(s.as_bytes())
    }

    #[test]
    fn basics() {
        assert!(m("*", ""));
        assert!(m("*", "/a/b"));
        assert!(m("/etc/*", "/etc/passwd"));
        assert!(m("/etc/*", "/etc/a/b"));
        assert!(!m("/etc/*", "/etcx"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("[abc]x", "bx"));
        assert!(!m("[!abc]x", "bx"));
        assert!(m("[^abc]x", "dx"));
        assert!(m("[a-z]1", "q1"));
        assert!(!m("[a-z]1", "Q1"));
        assert!(m("[]]", "]"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("*.sh", "run.sh"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("[", "["));
        assert!(Glob::new(b"*.SH", true).matches(b"run.sh"));
        assert!(Glob::new(b"[A-C]x", true).matches(b"bX"));
    }
}
