//! Loud configuration: where each key of a YAML file is (line, column), which keys Harrier does
//! not know (with the nearest valid key), and YAML/type errors as `FILE:LINE:COLUMN: key.path: …`.
//!
//! The values are read with serde (`serde_yaml_ng`, whose errors carry the key path, position and
//! expected type); key positions come from `yaml-rust2`'s marked parser events (serde's data model
//! has no positions). Valid keys are found by serializing the parsed configuration back (every
//! field with its default): a key of the file that is not in that tree is unknown, and the keys
//! that are there are the candidates for "did you mean".

use serde_yaml::Value;
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Positions (1-based line and column) of every mapping key, by dotted path (`nats.hostport`,
/// `sinks[2].type`).
#[derive(Debug, Default, Clone)]
pub struct Positions(HashMap<String, (usize, usize)>);

enum Frame {
    Map { path: String, key: Option<String>, expect_key: bool },
    Seq { path: String, index: usize },
}

struct Recv {
    stack: Vec<Frame>,
    out: HashMap<String, (usize, usize)>,
}

impl Recv {
    /// Path of the value that starts now (and advance the parent's state).
    fn child_path(&mut self) -> Option<String> {
        match self.stack.last_mut()? {
            Frame::Map { path, key, expect_key } => {
                *expect_key = true;
                let k = key.take()?;
                Some(if path.is_empty() { k } else { format!("{path}.{k}") })
            }
            Frame::Seq { path, index } => {
                let p = format!("{path}[{index}]");
                *index += 1;
                Some(p)
            }
        }
    }
}

impl MarkedEventReceiver for Recv {
    fn on_event(&mut self, ev: Event, m: Marker) {
        // A key scalar of a mapping: record where it is.
        if let Event::Scalar(v, ..) = &ev {
            if let Some(Frame::Map { path, key, expect_key }) = self.stack.last_mut() {
                if *expect_key {
                    *expect_key = false;
                    let full = if path.is_empty() { v.clone() } else { format!("{path}.{v}") };
                    self.out.entry(full).or_insert((m.line(), m.col() + 1));
                    *key = Some(v.clone());
                    return;
                }
            }
        }
        match ev {
            Event::MappingStart(..) => {
                let path = if self.stack.is_empty() { Some(String::new()) } else { self.child_path() };
                self.stack.push(Frame::Map { path: path.unwrap_or_default(), key: None, expect_key: true });
            }
            Event::SequenceStart(..) => {
                let path = if self.stack.is_empty() { Some(String::new()) } else { self.child_path() };
                self.stack.push(Frame::Seq { path: path.unwrap_or_default(), index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                // The finished collection was the value of its parent's key.
            }
            Event::Scalar(..) | Event::Alias(..) => {
                let _ = self.child_path();
            }
            _ => {}
        }
    }
}

impl Positions {
    /// Key positions of `text` (empty when it is not valid YAML: serde reports that).
    pub fn parse(text: &str) -> Positions {
        let mut r = Recv { stack: Vec::new(), out: HashMap::new() };
        let mut p = Parser::new_from_str(text);
        let _ = p.load(&mut r, false);
        Positions(r.out)
    }

    pub fn get(&self, path: &str) -> Option<(usize, usize)> {
        self.0.get(path).copied()
    }

    /// `FILE:LINE:COLUMN` of `path` (or of its closest enclosing key), else `FILE`.
    pub fn at(&self, file: &str, path: &str) -> String {
        let mut p = path;
        loop {
            if let Some((l, c)) = self.get(p) {
                return format!("{file}:{l}:{c}");
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return file.to_string(),
            }
        }
    }
}

/// A serde/YAML error as `FILE:LINE:COLUMN: message` (serde_yaml_ng puts the key path first in
/// the message and the position last).
pub fn yaml_error(file: &str, e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    match e.location() {
        Some(l) => {
            let tail = format!(" at line {} column {}", l.line(), l.column());
            let msg = msg.strip_suffix(&tail).unwrap_or(&msg);
            format!("{file}:{}:{}: {msg}", l.line(), l.column())
        }
        None => format!("{file}: {msg}"),
    }
}

/// The valid key nearest to `key` among `candidates`, if one is close enough to be a likely typo.
pub fn nearest<'a>(key: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let k = key.to_ascii_lowercase();
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        let cl = c.to_ascii_lowercase();
        // Same letters without separators (`spool_dir` for `spooldir`) count as a match.
        let strip = |s: &str| s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>();
        let score = if strip(&k) == strip(&cl) { 1.0 } else { strsim::jaro_winkler(&k, &cl) };
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.filter(|(_, s)| *s >= 0.8).map(|(c, _)| c)
}

/// One key the schema does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// Dotted path of the key.
    pub path: String,
    /// The valid key nearest to it at the same place, if any.
    pub nearest: Option<String>,
    /// When the key is valid elsewhere (e.g. `spooldir` under an output): where.
    pub belongs_at: Option<String>,
}

impl UnknownKey {
    /// `FILE:L:C: unknown key 'a.b' (did you mean 'a.c'?)`.
    pub fn message(&self, file: &str, pos: &Positions) -> String {
        let mut m = format!("{}: unknown key '{}'", pos.at(file, &self.path), self.path);
        if let Some(b) = &self.belongs_at {
            m.push_str(&format!(
                " ('{}' is a top-level key: here it has no effect; move it to the top level)",
                b
            ));
        } else if let Some(n) = &self.nearest {
            let at = match self.path.rfind('.') {
                Some(i) => format!("{}.{n}", &self.path[..i]),
                None => n.clone(),
            };
            m.push_str(&format!(" (did you mean '{at}'?)"));
        } else {
            m.push_str(" (ignored)");
        }
        m
    }
}

fn key_str(k: &Value) -> Option<String> {
    match k {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Keys of mapping `doc` (recursively) that `schema` does not have. `open` lists paths whose
/// contents are free-form (maps of user keys, such as `customfields`), not checked. `top` are
/// the top-level keys (a nested unknown key equal to one of them gets `belongs_at`).
pub fn unknown_keys(doc: &Value, schema: &Value, open: &[&str], top: &[&str]) -> Vec<UnknownKey> {
    let mut out = Vec::new();
    walk(doc, schema, "", open, top, &mut out);
    out
}

fn walk(doc: &Value, schema: &Value, path: &str, open: &[&str], top: &[&str], out: &mut Vec<UnknownKey>) {
    let (Value::Mapping(d), Value::Mapping(s)) = (doc, schema) else { return };
    let valid: Vec<String> = s.keys().filter_map(key_str).collect();
    for (k, v) in d {
        let Some(k) = key_str(k) else { continue };
        let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
        match s.get(k.as_str()) {
            Some(sv) => {
                if !open.contains(&p.as_str()) {
                    walk(v, sv, &p, open, top, out);
                }
            }
            None => out.push(UnknownKey {
                belongs_at: (!path.is_empty() && top.contains(&k.as_str())).then(|| k.clone()),
                nearest: nearest(&k, valid.iter().map(|s| s.as_str())).map(str::to_string),
                path: p,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_nested_and_listed_keys() {
        let p = Positions::parse(
            "a: 1\nnats:\n  hostport: x\n  spooldir: /s\nsinks:\n  - type: slack\n    name: n\n",
        );
        assert_eq!(p.get("a"), Some((1, 1)));
        assert_eq!(p.get("nats.spooldir"), Some((4, 3)));
        assert_eq!(p.get("sinks[0].name"), Some((7, 5)));
        assert_eq!(p.at("f.yaml", "nats.spooldir.x"), "f.yaml:4:3");
    }

    #[test]
    fn nearest_keys() {
        let c = ["hostport", "subjecttemplate", "minimumpriority"];
        assert_eq!(nearest("hostprot", c), Some("hostport"));
        assert_eq!(nearest("minimum_priority", c), Some("minimumpriority"));
        assert_eq!(nearest("zzz", c), None);
    }
}
