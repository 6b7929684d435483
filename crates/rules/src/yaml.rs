//! A small YAML node tree with source positions, built from `yaml-rust2` parser events.
//!
//! Falco reads rule files with yaml-cpp and reports positions as yaml-cpp marks (0-based line and
//! column, byte offset). This module keeps the same convention in [`Mark`]; conversion to the
//! 1-based [`crate::Location`] happens at the API boundary.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in a rules file: byte offset, 0-based line and column (yaml-cpp convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Mark {
    pub offset: u32,
    pub line: u32,
    pub column: u32,
}

/// How a scalar was written; needed to map offsets inside a condition back to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// `~`, `null`, or an absent value.
    Null,
    Scalar(String, Style),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub mark: Mark,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }
    pub fn is_map(&self) -> bool {
        matches!(self.kind, Kind::Map(_))
    }
    pub fn is_seq(&self) -> bool {
        matches!(self.kind, Kind::Seq(_))
    }
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(v) => Some(v),
            _ => None,
        }
    }
    /// The value for `key` in a map (first occurrence, like yaml-cpp).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.as_scalar() == Some(key)).map(|(_, v)| v)
    }
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// A YAML syntax error.
#[derive(Debug, Clone)]
pub(crate) struct YamlError {
    pub message: String,
    pub mark: Mark,
}

/// Maximum nesting of collections; deeper input is rejected (protects the recursive walkers).
const MAX_DEPTH: usize = 256;
/// Maximum number of nodes per file, counting alias expansions (protects against "billion laughs").
const MAX_NODES: usize = 4_000_000;

/// Converts yaml-rust2 markers (character index, 1-based line, 0-based column) to [`Mark`].
struct MarkConv {
    /// byte offset of each char, only when the text is not pure ASCII.
    byte_of_char: Option<Vec<u32>>,
    len: u32,
}

impl MarkConv {
    fn new(text: &str) -> Self {
        let byte_of_char = if text.is_ascii() {
            None
        } else {
            let mut v: Vec<u32> = text.char_indices().map(|(b, _)| b as u32).collect();
            v.push(text.len() as u32);
            Some(v)
        };
        MarkConv { byte_of_char, len: text.len() as u32 }
    }
    fn conv(&self, m: &Marker) -> Mark {
        let offset = match &self.byte_of_char {
            None => (m.index() as u32).min(self.len),
            Some(v) => v.get(m.index()).copied().unwrap_or(self.len),
        };
        Mark { offset, line: (m.line() as u32).saturating_sub(1), column: m.col() as u32 }
    }
}

enum Frame {
    Seq(Vec<Node>, Mark, usize),
    /// entries, pending key, mark, anchor
    Map(Vec<(Node, Node)>, Option<Node>, Mark, usize),
}

impl Frame {
    fn mark(&self) -> Mark {
        match self {
            Frame::Seq(_, m, _) | Frame::Map(_, _, m, _) => *m,
        }
    }
}

struct Builder<'a> {
    conv: &'a MarkConv,
    text: &'a str,
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    error: Option<YamlError>,
}

fn node_count(n: &Node) -> usize {
    let mut count = 0;
    let mut todo = vec![n];
    while let Some(n) = todo.pop() {
        count += 1;
        match &n.kind {
            Kind::Seq(v) => todo.extend(v.iter()),
            Kind::Map(v) => {
                for (k, val) in v {
                    todo.push(k);
                    todo.push(val);
                }
            }
            _ => {}
        }
    }
    count
}

impl Builder<'_> {
    /// Whether the innermost open collection is a flow collection (`[` or `{`).
    fn in_flow(&self) -> bool {
        self.stack.last().is_some_and(|f| {
            let at = f.mark().offset as usize;
            matches!(self.text.as_bytes().get(at), Some(b'[' | b'{'))
        })
    }

    fn fail(&mut self, message: &str, mark: Mark) {
        if self.error.is_none() {
            self.error = Some(YamlError { message: message.to_string(), mark });
        }
    }

    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, _, _)) => items.push(node),
            Some(Frame::Map(entries, pending, _, _)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        if self.error.is_some() {
            return;
        }
        let mark = self.conv.conv(&marker);
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.fail("YAML content too large", mark);
            return;
        }
        match ev {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::DocumentStart => {}
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(node) => {
                    self.nodes += node_count(&node);
                    if self.nodes > MAX_NODES {
                        self.fail("YAML content too large after alias expansion", mark);
                        return;
                    }
                    self.push_node(Node { kind: node.kind, mark }, 0);
                }
                None => self.fail("unknown anchor", mark),
            },
            Event::Scalar(value, style, anchor, tag) => {
                let style = match style {
                    TScalarStyle::SingleQuoted => Style::SingleQuoted,
                    TScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    TScalarStyle::Literal => Style::Literal,
                    TScalarStyle::Folded => Style::Folded,
                    _ => Style::Plain,
                };
                let is_null = style == Style::Plain
                    && tag.is_none()
                    && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL");
                let kind = if is_null { Kind::Null } else { Kind::Scalar(value, style) };
                self.push_node(Node { kind, mark }, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail("YAML nesting too deep", mark);
                    return;
                }
                self.stack.push(Frame::Seq(Vec::new(), mark, anchor));
            }
            Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    self.fail("YAML nesting too deep", mark);
                    return;
                }
                self.stack.push(Frame::Map(Vec::new(), None, mark, anchor));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, mut m, anchor)) = self.stack.pop() {
                    if let Some(first) = items.first() {
                        if first.mark.offset < m.offset {
                            m = first.mark;
                        }
                    }
                    self.push_node(Node { kind: Kind::Seq(items), mark: m }, anchor);
                } else {
                    self.fail("unbalanced sequence end", mark);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(mut entries, pending, mut m, anchor)) = self.stack.pop() {
                    if let Some(key) = pending {
                        entries.push((key, Node { kind: Kind::Null, mark }));
                    }
                    // yaml-rust2 places a block mapping's mark after its first key; yaml-cpp (and
                    // Falco) use the position of the first key.
                    if let Some((k, _)) = entries.first() {
                        if k.mark.offset < m.offset {
                            m = k.mark;
                        }
                    }
                    self.push_node(Node { kind: Kind::Map(entries), mark: m }, anchor);
                } else {
                    self.fail("unbalanced mapping end", mark);
                }
            }
        }
    }
}

/// How many times a line inside a flow collection may be re-indented before giving up.
const MAX_REINDENT: usize = 512;

/// Parse every document of `text`. An empty document is returned as a `Null` node.
///
/// yaml-rust2 follows the YAML spec strictly and rejects a line inside a flow collection that is
/// not indented more than the enclosing block key, e.g. a closing `]` under `items:`. yaml-cpp
/// (Falco) and libyaml accept it, and the official rule files rely on it. Indentation carries no
/// meaning inside a flow collection, so such a line is shifted right by one space and the text
/// parsed again; positions are mapped back to the original text.
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut work = std::borrow::Cow::Borrowed(text);
    // line (0-based) -> spaces inserted at its start
    let mut inserted: std::collections::BTreeMap<u32, u32> = std::collections::BTreeMap::new();
    loop {
        let conv = MarkConv::new(&work);
        let mut builder = Builder {
            conv: &conv,
            text: &work,
            stack: Vec::new(),
            docs: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            error: None,
        };
        let mut parser = Parser::new_from_str(&work);
        let res = parser.load(&mut builder, true);
        let err = match res {
            Err(e) => {
                let mark = conv.conv(e.marker());
                let retry = e.info().starts_with("invalid indentation")
                    && builder.in_flow()
                    && inserted.values().sum::<u32>() < MAX_REINDENT as u32
                    && line_start_of(&work, mark.offset as usize)
                        .is_some_and(|ls| work[ls..mark.offset as usize].bytes().all(|b| b == b' '));
                if retry {
                    if let Some(ls) = line_start_of(&work, mark.offset as usize) {
                        let mut s = work.into_owned();
                        s.insert(ls, ' ');
                        work = std::borrow::Cow::Owned(s);
                        *inserted.entry(mark.line).or_insert(0) += 1;
                        continue;
                    }
                }
                YamlError { message: e.info().to_string(), mark }
            }
            Ok(()) => match builder.error.take() {
                Some(e) => e,
                None => {
                    let mut docs = builder.docs;
                    if !inserted.is_empty() {
                        for d in &mut docs {
                            unshift_node(d, &inserted);
                        }
                    }
                    return Ok(docs);
                }
            },
        };
        return Err(YamlError { mark: unshift(err.mark, &inserted), ..err });
    }
}

fn line_start_of(text: &str, offset: usize) -> Option<usize> {
    let offset = offset.min(text.len());
    Some(text.as_bytes()[..offset].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1))
}

fn unshift(m: Mark, inserted: &std::collections::BTreeMap<u32, u32>) -> Mark {
    if inserted.is_empty() {
        return m;
    }
    let before: u32 = inserted.range(..m.line).map(|(_, c)| *c).sum();
    let here = inserted.get(&m.line).copied().unwrap_or(0).min(m.column);
    Mark { offset: m.offset - before - here, line: m.line, column: m.column - here }
}

fn unshift_node(n: &mut Node, inserted: &std::collections::BTreeMap<u32, u32>) {
    let mut todo: Vec<&mut Node> = vec![n];
    while let Some(n) = todo.pop() {
        n.mark = unshift(n.mark, inserted);
        match &mut n.kind {
            Kind::Seq(v) => todo.extend(v.iter_mut()),
            Kind::Map(v) => {
                for (k, val) in v.iter_mut() {
                    todo.push(k);
                    todo.push(val);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_zero_based() {
        let docs = parse_documents("- rule: a\n  condition: x\n").unwrap();
        let seq = docs[0].as_seq().unwrap();
        let item = &seq[0];
        assert_eq!(item.mark, Mark { offset: 2, line: 0, column: 2 });
        let cond = item.get("condition").unwrap();
        assert_eq!(cond.mark, Mark { offset: 23, line: 1, column: 13 });
        assert_eq!(cond.as_scalar(), Some("x"));
    }

    #[test]
    fn nulls_and_multi_docs() {
        let docs = parse_documents("- a:\n---\n- b: ~\n---\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert!(docs[0].as_seq().unwrap()[0].get("a").unwrap().is_null());
        assert!(docs[2].is_null());
    }

    #[test]
    fn errors_have_marks() {
        let e = parse_documents("- a: [b\n").unwrap_err();
        assert_eq!(e.mark.line, 1);
    }

    #[test]
    fn flow_closing_bracket_at_key_indentation() {
        let text = "- list: a\n  items: [\n    x,\n  y\n  ]\n- list: b\n  items: [z]\n";
        let docs = parse_documents(text).unwrap();
        let seq = docs[0].as_seq().unwrap();
        let items = seq[0].get("items").unwrap().as_seq().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].mark, Mark { offset: 30, line: 3, column: 2 });
        assert_eq!(seq[1].mark, Mark { offset: 38, line: 5, column: 2 });
        // block indentation errors are not "repaired"
        assert!(parse_documents("- a: 1\n b: 2\n").is_err());
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let text = "[".repeat(10_000);
        assert!(parse_documents(&text).is_err());
    }

    #[test]
    fn alias_bombs_are_rejected() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            text.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        assert!(parse_documents(&text).is_err());
    }
}
