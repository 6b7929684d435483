//! A small YAML tree with line numbers, built from `yaml-rust2`'s parser events, so that
//! every error in a response rules file can name its line.

use std::collections::HashMap;

use serde_json::Value as Json;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Null,
    /// Text and whether it was written plain (unquoted: may be a bool or a number).
    Scalar(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    /// 1-based line.
    pub line: u32,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// The node as JSON: plain scalars become booleans and numbers where YAML 1.2 reads them so.
    pub fn to_json(&self) -> Json {
        match &self.kind {
            Kind::Null => Json::Null,
            Kind::Scalar(s, plain) => {
                if *plain {
                    match s.as_str() {
                        "true" | "True" | "TRUE" => return Json::Bool(true),
                        "false" | "False" | "FALSE" => return Json::Bool(false),
                        _ => {}
                    }
                    if let Ok(i) = s.parse::<i64>() {
                        return Json::from(i);
                    }
                    if let Ok(f) = s.parse::<f64>() {
                        if f.is_finite() {
                            return Json::from(f);
                        }
                    }
                }
                Json::String(s.clone())
            }
            Kind::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().map(str::to_string).unwrap_or_else(|| k.to_json().to_string()),
                            v.to_json(),
                        )
                    })
                    .collect(),
            ),
        }
    }
}

/// A YAML syntax error with its 1-based line.
#[derive(Debug, Clone)]
pub(crate) struct YamlError {
    pub message: String,
    pub line: u32,
}

const MAX_DEPTH: usize = 128;
const MAX_NODES: usize = 1_000_000;

enum Frame {
    Seq(Vec<Node>, u32, usize),
    Map(Vec<(Node, Node)>, Option<Node>, u32, usize),
}

struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    error: Option<YamlError>,
}

fn count(n: &Node) -> usize {
    match &n.kind {
        Kind::Seq(v) => 1 + v.iter().map(count).sum::<usize>(),
        Kind::Map(v) => 1 + v.iter().map(|(k, v)| count(k) + count(v)).sum::<usize>(),
        _ => 1,
    }
}

impl Builder {
    fn fail(&mut self, message: &str, line: u32) {
        if self.error.is_none() {
            self.error = Some(YamlError { message: message.into(), line });
        }
    }
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(entries, pending, ..)) => match pending.take() {
                None => *pending = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = marker.line() as u32;
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return self.fail("YAML content too large", line);
        }
        match ev {
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(n) => {
                    self.nodes += count(&n);
                    if self.nodes > MAX_NODES {
                        return self.fail("YAML content too large after alias expansion", line);
                    }
                    self.push(Node { kind: n.kind, line }, 0);
                }
                None => self.fail("unknown anchor", line),
            },
            Event::Scalar(v, style, anchor, tag) => {
                let plain = matches!(style, TScalarStyle::Plain) && tag.is_none();
                let kind = if plain && matches!(v.as_str(), "" | "~" | "null" | "Null" | "NULL") {
                    Kind::Null
                } else {
                    Kind::Scalar(v, plain)
                };
                self.push(Node { kind, line }, anchor);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _)
                if self.stack.len() >= MAX_DEPTH =>
            {
                let _ = anchor;
                self.fail("YAML nesting too deep", line)
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(Vec::new(), line, anchor)),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map(Vec::new(), None, line, anchor)),
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq(items, l, anchor)) => {
                    let l = items.first().map_or(l, |f| f.line.min(l).max(1));
                    self.push(Node { kind: Kind::Seq(items), line: l }, anchor)
                }
                _ => self.fail("unbalanced sequence", line),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map(entries, _, l, anchor)) => {
                    let l = entries.first().map_or(l, |(k, _)| k.line);
                    self.push(Node { kind: Kind::Map(entries), line: l }, anchor)
                }
                _ => self.fail("unbalanced mapping", line),
            },
            _ => {}
        }
    }
}

/// Parse the first document of `text` (an empty file gives `Null`).
pub(crate) fn parse(text: &str) -> Result<Node, YamlError> {
    let mut b =
        Builder { stack: Vec::new(), docs: Vec::new(), anchors: HashMap::new(), nodes: 0, error: None };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, false) {
        return Err(YamlError { message: e.info().to_string(), line: e.marker().line() as u32 });
    }
    if let Some(e) = b.error {
        return Err(e);
    }
    Ok(b.docs.into_iter().next().unwrap_or(Node { kind: Kind::Null, line: 1 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_values() {
        let n = parse("- a: 1\n  b: 'x'\n- c: [true, \"false\"]\n").unwrap();
        let Kind::Seq(items) = &n.kind else { panic!("not a seq") };
        assert_eq!(items[0].line, 1);
        assert_eq!(items[1].line, 3);
        assert_eq!(items[0].get("b").unwrap().line, 2);
        assert_eq!(items[1].to_json(), serde_json::json!({"c": [true, "false"]}));
        assert_eq!(items[0].to_json(), serde_json::json!({"a": 1, "b": "x"}));
    }

    #[test]
    fn errors_have_lines() {
        let e = parse("- a: 1\n- b: [\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        assert!(parse(bomb).unwrap_err().message.contains("too large"));
    }
}
