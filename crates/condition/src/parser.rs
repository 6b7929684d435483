//! Hand-written tokenizer and parser for the Falco condition language.
//!
//! The boolean layer (`or` / `and` / `not` / parentheses) is parsed with an explicit stack of open
//! groups, so arbitrarily deep parenthesis nesting never recurses on the call stack: the depth
//! guard is purely a limit, not a stack-overflow protection. Only transformers (`tolower(…)`,
//! transformer lists) recurse, and every level of them is counted against the same depth limit.

use crate::ast::*;
use crate::ParseError;

/// Transformer names accepted after `val(` in error messages.
const TRANSFORMER_LIST: &str =
    "'val', 'tolower', 'toupper', 'b64', 'basename', 'len', 'join', 'concat', 'getopt'";

const OPERATOR_LIST: &str = "'exists', '<=', '<', '>=', '>', '==', '=', '!=', 'glob', 'iglob', \
     'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex', \
     'intersects', 'in', 'pmatch'";

/// Numeric operators, tried in this order.
const NUM_OPS: [(&str, Op); 4] = [("<=", Op::Le), ("<", Op::Lt), (">=", Op::Ge), (">", Op::Gt)];
/// Symbolic string operators (no blank needed after them), tried in this order.
const STR_SYM_OPS: [(&str, Op); 3] = [("==", Op::Eq2), ("=", Op::Eq), ("!=", Op::Ne)];
/// Word string operators: they must be followed by at least one blank.
const STR_WORD_OPS: [(&str, Op); 9] = [
    ("glob", Op::Glob),
    ("iglob", Op::IGlob),
    ("contains", Op::Contains),
    ("icontains", Op::IContains),
    ("bcontains", Op::BContains),
    ("startswith", Op::StartsWith),
    ("bstartswith", Op::BStartsWith),
    ("endswith", Op::EndsWith),
    ("regex", Op::Regex),
];
/// List operators: no blank needed after them (`in()` is valid).
const LIST_OPS: [(&str, Op); 3] = [("intersects", Op::Intersects), ("in", Op::In), ("pmatch", Op::PMatch)];
const MODIFIERS: [(&str, Modifier); 3] =
    [("oneof", Modifier::OneOf), ("anyof", Modifier::AnyOf), ("allof", Modifier::AllOf)];

/// The blanks skipped between tokens.
#[inline]
pub(crate) fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | 0x08 | b'\r' | b'\n')
}

/// POSIX `[:space:]` (used by the token regexes of the reference grammar).
#[inline]
pub(crate) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[inline]
fn is_alpha(c: u8) -> bool {
    c.is_ascii_alphabetic()
}

#[inline]
fn is_ident_cont(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Can `c` appear in a bare string value (`[^()"'[:space:]=,]`)? NUL never can (it ends a C string).
#[inline]
pub(crate) fn is_bare_char(c: u8) -> bool {
    !(is_space(c) || matches!(c, b'(' | b')' | b'"' | b'\'' | b'=' | b',' | 0))
}

/// Can `c` appear in a bare field argument (`[^][\"'[:space:]]`)?
#[inline]
pub(crate) fn is_field_arg_bare_char(c: u8) -> bool {
    !(is_space(c) || matches!(c, b'[' | b']' | b'"' | b'\'' | 0))
}

/// Length of an identifier (`[a-zA-Z]+[a-zA-Z0-9_]*`) starting at `i`, 0 if none.
fn ident_len(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(&c) if is_alpha(c) => 1 + b[i + 1..].iter().take_while(|&&c| is_ident_cont(c)).count(),
        _ => 0,
    }
}

/// Length of a field name (identifier segments joined by at least one dot) at `i`, 0 if none.
fn field_name_len(b: &[u8], i: usize) -> usize {
    let mut j = i + ident_len(b, i);
    if j == i {
        return 0;
    }
    let mut dots = 0;
    while b.get(j) == Some(&b'.') {
        let seg = ident_len(b, j + 1);
        if seg == 0 {
            break;
        }
        j += 1 + seg;
        dots += 1;
    }
    if dots == 0 {
        0
    } else {
        j - i
    }
}

fn digits(b: &[u8], i: usize) -> usize {
    b.get(i..).map_or(0, |s| s.iter().take_while(|c| c.is_ascii_digit()).count())
}

/// Length of `0[xX][0-9a-fA-F]+` at `i`, 0 if none.
fn hex_len(b: &[u8], i: usize) -> usize {
    if b.get(i) == Some(&b'0') && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        let n = b.get(i + 2..).map_or(0, |s| s.iter().take_while(|c| c.is_ascii_hexdigit()).count());
        if n > 0 {
            return 2 + n;
        }
    }
    0
}

/// Length of `[+\-]?[0-9]+[\.]?[0-9]*([eE][+\-][0-9]+)?` at `i`, 0 if none.
fn num_len(b: &[u8], i: usize) -> usize {
    let mut j = i;
    if matches!(b.get(j), Some(b'+' | b'-')) {
        j += 1;
    }
    let d = digits(b, j);
    if d == 0 {
        return 0;
    }
    j += d;
    if b.get(j) == Some(&b'.') {
        j += 1;
    }
    j += digits(b, j);
    if matches!(b.get(j), Some(b'e' | b'E')) && matches!(b.get(j + 1), Some(b'+' | b'-')) {
        let e = digits(b, j + 2);
        if e > 0 {
            j += 2 + e;
        }
    }
    j - i
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn to_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// How an open parenthesis group was entered, i.e. where its value goes once it is closed.
#[derive(Clone, Copy)]
enum Open {
    /// The whole input.
    Top,
    /// `(…)` or `not(…)` in operand position: becomes an operand of the enclosing `and` chain,
    /// negated if an odd number of `not` preceded it.
    Operand { negate: bool, start: Pos },
    /// `and(…)`: becomes the next operand of the enclosing `and` chain.
    AndTail,
    /// `or(…)`: becomes the next child of the enclosing `or` chain directly (it is *not* the
    /// start of an `and` chain: `a or(b) and c` is an error, as upstream).
    OrTail,
}

struct Group {
    open: Open,
    /// Position of the '(' (for error messages).
    open_pos: Pos,
    ors: Vec<Expr>,
    ands: Vec<Expr>,
    or_pos: Pos,
    and_pos: Pos,
}

impl Group {
    fn new(open: Open, open_pos: Pos) -> Self {
        Group { open, open_pos, ors: Vec::new(), ands: Vec::new(), or_pos: open_pos, and_pos: open_pos }
    }

    fn finish_ands(&mut self) {
        let mut ands = std::mem::take(&mut self.ands);
        let e =
            if ands.len() == 1 { ands.pop().expect("one element") } else { Expr::And(ands, self.and_pos) };
        self.ors.push(e);
    }

    fn finish_ors(mut self) -> Expr {
        if self.ors.len() == 1 {
            self.ors.pop().expect("one element")
        } else {
            Expr::Or(self.ors, self.or_pos)
        }
    }
}

enum Next {
    /// Expecting the start of a `NotExpr`.
    Operand,
    /// An operand was parsed: add it to the current `and` chain.
    After(Expr, Pos),
    /// An `or` child is complete: look for `or` or the end of the group.
    AfterOr,
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    idx: usize,
    line: u32,
    col: u32,
    depth: usize,
    max_depth: usize,
    /// Byte span of the last token consumed (for "unexpected token after …").
    last: (usize, usize),
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str, max_depth: usize) -> Self {
        Parser { src, b: src.as_bytes(), idx: 0, line: 1, col: 1, depth: 0, max_depth, last: (0, 0) }
    }

    // ----- cursor -------------------------------------------------------------------------------

    #[inline]
    fn pos(&self) -> Pos {
        Pos { idx: to_u32(self.idx), line: self.line, col: self.col }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.idx).copied()
    }

    #[inline]
    fn starts_with(&self, s: &str) -> bool {
        self.b.get(self.idx..).is_some_and(|r| r.starts_with(s.as_bytes()))
    }

    /// Advance `n` bytes, keeping line and column up to date ('\r' and '\n' both start a line).
    fn advance(&mut self, n: usize) {
        let end = (self.idx + n).min(self.b.len());
        for &c in &self.b[self.idx..end] {
            if c == b'\r' || c == b'\n' {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
        }
        self.idx = end;
    }

    /// Consume a token of `n` bytes, remembering it as the last token.
    fn take(&mut self, n: usize) -> &'a str {
        let start = self.idx;
        self.advance(n);
        self.last = (start, self.idx);
        self.src.get(start..self.idx).unwrap_or("")
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.starts_with(s) {
            self.take(s.len());
            true
        } else {
            false
        }
    }

    fn skip_blanks(&mut self) -> bool {
        let start = self.idx;
        while self.peek().is_some_and(is_blank) {
            self.advance(1);
        }
        self.idx != start
    }

    /// Position of byte `idx` (>= the cursor).
    fn pos_at(&self, idx: usize) -> Pos {
        let mut line = self.line;
        let mut col = self.col;
        for &c in &self.b[self.idx..idx.min(self.b.len())] {
            if c == b'\r' || c == b'\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        Pos { idx: to_u32(idx), line, col }
    }

    fn error<T>(&self, pos: Pos, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError { pos, message: message.into() })
    }

    /// A short description of what is at the cursor, for error messages.
    fn found(&self) -> String {
        let rest = self.src.get(self.idx..).unwrap_or("");
        if rest.is_empty() {
            return "end of input".to_string();
        }
        let mut s: String = rest.chars().take_while(|c| !c.is_whitespace()).take(24).collect();
        if s.is_empty() {
            s = rest.chars().take(1).collect();
        }
        format!("'{}'", s.escape_debug())
    }

    fn last_token(&self) -> &'a str {
        self.src.get(self.last.0..self.last.1).unwrap_or("")
    }

    /// Open one nesting level (a parenthesis group, transformer or transformer list starting
    /// at `at`).
    fn enter(&mut self, at: Pos) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return self.error(at, format!("exceeded max depth limit of {}", self.max_depth));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ----- boolean layer --------------------------------------------------------------------------

    pub(crate) fn parse(mut self) -> Result<Expr, ParseError> {
        if self.b.is_empty() {
            return self.error(self.pos(), "filter input string is empty");
        }
        let mut stack: Vec<Group> = vec![Group::new(Open::Top, self.pos())];
        let mut next = Next::Operand;
        loop {
            next = match next {
                Next::Operand => {
                    self.skip_blanks();
                    let start = self.pos();
                    let mut negate = false;
                    while self.lex_not_blank() {
                        negate = !negate;
                    }
                    if self.starts_with("not(") {
                        let open_pos = self.pos_at(self.idx + 3);
                        self.enter(start)?;
                        self.take(4);
                        stack.push(Group::new(Open::Operand { negate: !negate, start }, open_pos));
                        Next::Operand
                    } else {
                        self.skip_blanks();
                        if self.peek() == Some(b'(') {
                            let open_pos = self.pos();
                            self.enter(open_pos)?;
                            self.take(1);
                            stack.push(Group::new(Open::Operand { negate, start }, open_pos));
                            Next::Operand
                        } else {
                            let check_pos = self.pos();
                            let e = self.parse_check(check_pos)?;
                            let e = if negate { Expr::Not(Box::new(e), start) } else { e };
                            Next::After(e, start)
                        }
                    }
                }
                Next::After(e, start) => {
                    let g = stack.last_mut().expect("group stack is never empty");
                    if g.ands.is_empty() {
                        g.and_pos = start;
                        if g.ors.is_empty() {
                            g.or_pos = start;
                        }
                    }
                    g.ands.push(e);
                    self.skip_blanks();
                    if self.eat("and") {
                        if self.skip_blanks() {
                            Next::Operand
                        } else if self.peek() == Some(b'(') {
                            let open_pos = self.pos();
                            self.enter(open_pos)?;
                            self.take(1);
                            stack.push(Group::new(Open::AndTail, open_pos));
                            Next::Operand
                        } else {
                            return self.error(
                                self.pos(),
                                format!("expected a blank or '(' after 'and', found {}", self.found()),
                            );
                        }
                    } else {
                        g.finish_ands();
                        Next::AfterOr
                    }
                }
                Next::AfterOr => {
                    self.skip_blanks();
                    if self.eat("or") {
                        if self.skip_blanks() {
                            Next::Operand
                        } else if self.peek() == Some(b'(') {
                            let open_pos = self.pos();
                            self.enter(open_pos)?;
                            self.take(1);
                            stack.push(Group::new(Open::OrTail, open_pos));
                            Next::Operand
                        } else {
                            return self.error(
                                self.pos(),
                                format!("expected a blank or '(' after 'or', found {}", self.found()),
                            );
                        }
                    } else {
                        let g = stack.pop().expect("group stack is never empty");
                        let open = g.open;
                        let open_pos = g.open_pos;
                        let e = g.finish_ors();
                        if let Open::Top = open {
                            if self.idx != self.b.len() {
                                return self.error(
                                    self.pos(),
                                    format!(
                                        "unexpected token after '{}', expecting 'or', 'and'",
                                        self.last_token()
                                    ),
                                );
                            }
                            return Ok(e);
                        }
                        if !self.eat(")") {
                            return self.error(
                                self.pos(),
                                format!(
                                    "expected ')' to close the '(' at line {} column {}, or 'and'/'or', found {}",
                                    open_pos.line,
                                    open_pos.col,
                                    self.found()
                                ),
                            );
                        }
                        self.leave();
                        match open {
                            Open::Operand { negate, start } => {
                                let e = if negate { Expr::Not(Box::new(e), start) } else { e };
                                Next::After(e, start)
                            }
                            Open::AndTail => Next::After(e, open_pos),
                            Open::OrTail => {
                                stack.last_mut().expect("group stack is never empty").ors.push(e);
                                Next::AfterOr
                            }
                            Open::Top => unreachable!("handled above"),
                        }
                    }
                }
            };
        }
    }

    /// `not` followed by at least one POSIX space (all consumed).
    fn lex_not_blank(&mut self) -> bool {
        if self.starts_with("not") && self.b.get(self.idx + 3).is_some_and(|&c| is_space(c)) {
            let n = 3 + self.b[self.idx + 3..].iter().take_while(|&&c| is_space(c)).count();
            self.take(n);
            true
        } else {
            false
        }
    }

    // ----- checks ---------------------------------------------------------------------------------

    fn transformer_prefix(&self) -> Option<TransformerKind> {
        let rest = self.b.get(self.idx..)?;
        TransformerKind::ALL.into_iter().find(|k| {
            let n = k.name().as_bytes();
            rest.len() > n.len() && rest.starts_with(n) && rest[n.len()] == b'('
        })
    }

    /// `Field Condition | FieldTransformer Condition | Identifier`, at a non-blank cursor.
    fn parse_check(&mut self, start: Pos) -> Result<Expr, ParseError> {
        let n = field_name_len(self.b, self.idx);
        if n > 0 {
            let field = self.parse_field(n)?;
            return self.parse_condition(Operand::Field(field), start);
        }
        if let Some(kind) = self.transformer_prefix() {
            self.take(kind.name().len() + 1);
            let t = self.parse_transformer_rest(kind, start)?;
            return self.parse_condition(Operand::Transformer(t), start);
        }
        let n = ident_len(self.b, self.idx);
        if n > 0 {
            let name = self.take(n).to_string();
            return Ok(Expr::Identifier(name, start));
        }
        self.error(start, format!("expected '(', 'not', a field or identifier, found {}", self.found()))
    }

    /// A field name of `n` bytes at the cursor, with its optional `[arg]`.
    fn parse_field(&mut self, n: usize) -> Result<FieldRef, ParseError> {
        let pos = self.pos();
        let name = self.take(n).to_string();
        let arg = if self.peek() == Some(b'[') { Some(self.parse_field_arg()?) } else { None };
        Ok(FieldRef { name, arg, pos })
    }

    /// `'[' (QuotedStr | FieldArgBareStr) ']'` at the cursor (which is on '[').
    fn parse_field_arg(&mut self) -> Result<String, ParseError> {
        self.take(1);
        let arg = if let Some(s) = self.lex_quoted()? {
            s
        } else {
            let n = self.b[self.idx..].iter().take_while(|&&c| is_field_arg_bare_char(c)).count();
            if n == 0 {
                return self.error(
                    self.pos(),
                    format!(
                        "expected a field argument (a quoted string or a bare string), found {}",
                        self.found()
                    ),
                );
            }
            self.take(n).to_string()
        };
        if !self.eat("]") {
            return self.error(
                self.pos(),
                format!("expected ']' closing the field argument, found {}", self.found()),
            );
        }
        Ok(arg)
    }

    fn parse_condition(&mut self, left: Operand, start: Pos) -> Result<Expr, ParseError> {
        self.skip_blanks();
        if self.eat("exists") {
            return Ok(Expr::Exists(left, start));
        }
        for (s, op) in NUM_OPS {
            if self.eat(s) {
                let right = self.parse_num_rhs()?;
                return Ok(compare(left, op, None, right, start));
            }
        }
        let mut str_op = None;
        for (s, op) in STR_SYM_OPS {
            if self.eat(s) {
                str_op = Some(op);
                break;
            }
        }
        if str_op.is_none() {
            for (s, op) in STR_WORD_OPS {
                if self.starts_with(s) {
                    self.take(s.len());
                    if !self.skip_blanks() {
                        return self.error(
                            self.pos(),
                            format!("expected a blank after operator '{s}', found {}", self.found()),
                        );
                    }
                    str_op = Some(op);
                    break;
                }
            }
        }
        if let Some(op) = str_op {
            self.skip_blanks();
            if let Some(m) = self.lex_modifier() {
                let right = self.parse_list_value()?;
                return Ok(compare(left, op, Some(m), right, start));
            }
            let right = self.parse_str_rhs()?;
            return Ok(compare(left, op, None, right, start));
        }
        for (s, op) in LIST_OPS {
            if self.eat(s) {
                let right = self.parse_list_rhs()?;
                return Ok(compare(left, op, None, right, start));
            }
        }
        self.error(
            self.pos(),
            format!("expected a valid check operator: one of {OPERATOR_LIST}, found {}", self.found()),
        )
    }

    /// `oneof|anyof|allof` + blanks, when followed by '(' or an identifier other than
    /// `and`/`or`/`not`. Otherwise nothing is consumed (the word is then a plain string value).
    fn lex_modifier(&mut self) -> Option<Modifier> {
        for (s, m) in MODIFIERS {
            if !self.starts_with(s) {
                continue;
            }
            let after = self.idx + s.len();
            let k = after + self.b[after..].iter().take_while(|&&c| is_blank(c)).count();
            if k == after {
                return None;
            }
            let ok = match self.b.get(k) {
                Some(b'(') => true,
                _ => {
                    let n = ident_len(self.b, k);
                    n > 0 && !matches!(&self.b[k..k + n], b"and" | b"or" | b"not")
                }
            };
            if ok {
                self.take(s.len());
                self.skip_blanks();
                return Some(m);
            }
            return None;
        }
        None
    }

    fn parse_num_rhs(&mut self) -> Result<Rhs, ParseError> {
        self.skip_blanks();
        let pos = self.pos();
        if let Some(r) = self.try_transformer_or_val()? {
            return Ok(r);
        }
        let n = hex_len(self.b, self.idx);
        let n = if n > 0 { n } else { num_len(self.b, self.idx) };
        if n > 0 {
            return Ok(Rhs::Value(self.take(n).to_string(), pos));
        }
        self.error(
            pos,
            format!(
                "expected a number value or a field with a valid transformer: {TRANSFORMER_LIST}, found {}",
                self.found()
            ),
        )
    }

    fn parse_str_rhs(&mut self) -> Result<Rhs, ParseError> {
        self.skip_blanks();
        let pos = self.pos();
        if let Some(r) = self.try_transformer_or_val()? {
            return Ok(r);
        }
        if let Some(v) = self.lex_str_value()? {
            return Ok(Rhs::Value(v, pos));
        }
        self.error(
            pos,
            format!(
                "expected a string value or a field with a valid transformer: {TRANSFORMER_LIST}, found {}",
                self.found()
            ),
        )
    }

    fn parse_list_rhs(&mut self) -> Result<Rhs, ParseError> {
        self.skip_blanks();
        let pos = self.pos();
        if self.peek() == Some(b'(') {
            return self.parse_value_list();
        }
        if let Some(r) = self.try_transformer_or_val()? {
            return Ok(r);
        }
        let n = ident_len(self.b, self.idx);
        if n > 0 {
            return Ok(Rhs::ListRef(self.take(n).to_string(), pos));
        }
        self.error(
            pos,
            format!(
                "expected a list, an identifier, or a field with a valid transformer: {TRANSFORMER_LIST}, found {}",
                self.found()
            ),
        )
    }

    /// `ListValue ::= '(' … ')' | Identifier` (after a modifier).
    fn parse_list_value(&mut self) -> Result<Rhs, ParseError> {
        if self.peek() == Some(b'(') {
            return self.parse_value_list();
        }
        let pos = self.pos();
        let n = ident_len(self.b, self.idx);
        if n > 0 {
            return Ok(Rhs::ListRef(self.take(n).to_string(), pos));
        }
        self.error(pos, format!("expected a list or an identifier, found {}", self.found()))
    }

    /// `'(' ( StrValue ( ',' StrValue )* )? ')'` with the cursor on '('.
    fn parse_value_list(&mut self) -> Result<Rhs, ParseError> {
        let pos = self.pos();
        self.take(1);
        self.skip_blanks();
        let mut values = Vec::new();
        if let Some(v) = self.lex_str_value()? {
            values.push(v);
            self.skip_blanks();
            while self.eat(",") {
                self.skip_blanks();
                match self.lex_str_value()? {
                    Some(v) => values.push(v),
                    None => {
                        return self
                            .error(self.pos(), format!("expected a string value, found {}", self.found()));
                    }
                }
                self.skip_blanks();
            }
        }
        if !self.eat(")") {
            return self
                .error(self.pos(), format!("expected ')' or ',' in value list, found {}", self.found()));
        }
        Ok(Rhs::List(values, pos))
    }

    /// A quoted or bare string value at the cursor, or `None` if neither starts here.
    fn lex_str_value(&mut self) -> Result<Option<String>, ParseError> {
        if let Some(s) = self.lex_quoted()? {
            return Ok(Some(s));
        }
        let n = self.b[self.idx..].iter().take_while(|&&c| is_bare_char(c)).count();
        if n > 0 {
            return Ok(Some(self.take(n).to_string()));
        }
        Ok(None)
    }

    /// `val(field)` or a transformer on the right-hand side; `None` if neither starts here.
    fn try_transformer_or_val(&mut self) -> Result<Option<Rhs>, ParseError> {
        let pos = self.pos();
        if self.starts_with("val(") {
            self.take(4);
            self.skip_blanks();
            let n = field_name_len(self.b, self.idx);
            if n == 0 {
                return self.error(
                    self.pos(),
                    format!("expected a field within 'val' transformer, found {}", self.found()),
                );
            }
            let field = self.parse_field(n)?;
            self.skip_blanks();
            if !self.eat(")") {
                return self.error(
                    self.pos(),
                    format!("expected ')' closing the 'val' transformer, found {}", self.found()),
                );
            }
            if self.peek() == Some(b'[') {
                return self.error(self.pos(), "transformer 'val' does not support field arguments");
            }
            return Ok(Some(Rhs::Val(field)));
        }
        if let Some(kind) = self.transformer_prefix() {
            self.take(kind.name().len() + 1);
            return Ok(Some(Rhs::Transformer(self.parse_transformer_rest(kind, pos)?)));
        }
        Ok(None)
    }

    // ----- transformers ---------------------------------------------------------------------------

    /// After `name(`: `Blank? TArg ( ',' TArg )* ')' ( '[' FieldArg ']' )?`, where
    /// `TArg ::= NumValue | QuotedStr | '(' TList ')' | FieldTransformer | Field` and list elements
    /// are fields, transformers, quoted strings or numbers.
    ///
    /// Nested transformers and lists are handled with an explicit stack (no recursion).
    fn parse_transformer_rest(&mut self, kind: TransformerKind, pos: Pos) -> Result<Transformer, ParseError> {
        enum Frame {
            Call { kind: TransformerKind, pos: Pos, args: Vec<TArg> },
            List { pos: Pos, items: Vec<TArg> },
        }
        self.enter(pos)?;
        let mut stack = vec![Frame::Call { kind, pos, args: Vec::new() }];
        let mut got: Option<TArg> = None;
        loop {
            let top = stack.last_mut().expect("transformer stack is never empty");
            let Some(arg) = got.take() else {
                // Expecting an argument (or a list element).
                self.skip_blanks();
                let p = self.pos();
                let in_list = matches!(top, Frame::List { .. });
                if let Some(a) = self.lex_targ_scalar(p)? {
                    got = Some(a);
                } else if let Some(kind) = self.transformer_prefix() {
                    self.enter(p)?;
                    self.take(kind.name().len() + 1);
                    stack.push(Frame::Call { kind, pos: p, args: Vec::new() });
                } else if !in_list && self.peek() == Some(b'(') {
                    self.enter(p)?;
                    self.take(1);
                    self.skip_blanks();
                    if self.eat(")") {
                        self.leave();
                        got = Some(TArg::List(Vec::new(), p));
                    } else {
                        stack.push(Frame::List { pos: p, items: Vec::new() });
                    }
                } else if in_list {
                    return self.error(
                        p,
                        format!(
                            "expected a transformer list element: a field, a transformer, a quoted string, \
                             or a number, found {}",
                            self.found()
                        ),
                    );
                } else {
                    return self.error(
                        p,
                        format!(
                            "expected a transformer argument: a field, a transformer, a quoted string, a number, \
                             or a list, found {}",
                            self.found()
                        ),
                    );
                }
                continue;
            };
            match top {
                Frame::Call { args, .. } => args.push(arg),
                Frame::List { items, .. } => items.push(arg),
            }
            self.skip_blanks();
            if self.eat(",") {
                continue;
            }
            match stack.pop().expect("transformer stack is never empty") {
                Frame::List { pos, items } => {
                    if !self.eat(")") {
                        return self.error(
                            self.pos(),
                            format!("expected ')' or ',' in transformer list, found {}", self.found()),
                        );
                    }
                    self.leave();
                    got = Some(TArg::List(items, pos));
                }
                Frame::Call { kind, pos, args } => {
                    if !self.eat(")") {
                        return self.error(
                            self.pos(),
                            format!(
                                "expected ')' closing the '{}' transformer (or ','), found {}",
                                kind.name(),
                                self.found()
                            ),
                        );
                    }
                    let mut arg = None;
                    if self.peek() == Some(b'[') {
                        let at = self.pos();
                        let a = self.parse_field_arg()?;
                        if kind != TransformerKind::Getopt {
                            return self.error(
                                at,
                                format!("transformer '{}' does not support field arguments", kind.name()),
                            );
                        }
                        arg = Some(a);
                    }
                    self.leave();
                    let t = Transformer { kind, args, arg, pos };
                    if stack.is_empty() {
                        return Ok(t);
                    }
                    got = Some(TArg::Transformer(t));
                }
            }
        }
    }

    /// A number, quoted string or field (with its argument) at the cursor; `None` otherwise.
    fn lex_targ_scalar(&mut self, pos: Pos) -> Result<Option<TArg>, ParseError> {
        let n = hex_len(self.b, self.idx);
        let n = if n > 0 { n } else { num_len(self.b, self.idx) };
        if n > 0 {
            return Ok(Some(TArg::Num(self.take(n).to_string(), pos)));
        }
        if let Some(s) = self.lex_quoted()? {
            return Ok(Some(TArg::Str(s, pos)));
        }
        let n = field_name_len(self.b, self.idx);
        if n > 0 {
            return Ok(Some(TArg::Field(self.parse_field(n)?)));
        }
        Ok(None)
    }

    // ----- strings --------------------------------------------------------------------------------

    /// A `"…"` or `'…'` string at the cursor, unescaped; `None` if the cursor is not on a quote.
    fn lex_quoted(&mut self) -> Result<Option<String>, ParseError> {
        let q = match self.peek() {
            Some(c @ (b'"' | b'\'')) => c,
            _ => return Ok(None),
        };
        let b = self.b;
        let mut out: Vec<u8> = Vec::new();
        let mut i = self.idx + 1;
        let mut hex_escape = false;
        loop {
            let Some(&c) = b.get(i) else {
                return self.error(self.pos(), "missing closing quote");
            };
            match c {
                0 => return self.error(self.pos(), "missing closing quote"),
                _ if c == q => break,
                b'\\' => {
                    let Some(&e) = b.get(i + 1) else {
                        return self.error(self.pos(), "missing closing quote");
                    };
                    match e {
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        // `\<space>` yields a backslash: a legacy quirk kept for old rules.
                        b'\\' | b' ' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'"' | b'\'' if e == q => out.push(e),
                        b'"' => return self.error(self.pos_at(i), "invalid \\\" escape in '-quoted string"),
                        b'\'' => return self.error(self.pos_at(i), "invalid \\' escape in \"-quoted string"),
                        b'x' => {
                            match (
                                b.get(i + 2).copied().and_then(hex_val),
                                b.get(i + 3).copied().and_then(hex_val),
                            ) {
                                (Some(h), Some(l)) => out.push(h * 16 + l),
                                _ => {
                                    return self.error(
                                        self.pos_at(i),
                                        "unsupported string escape sequence: \\x must be followed by exactly two \
                                         hex digits",
                                    );
                                }
                            }
                            hex_escape = true;
                            i += 2;
                        }
                        _ => {
                            let shown: String =
                                self.src.get(i + 1..).and_then(|s| s.chars().next()).into_iter().collect();
                            return self.error(
                                self.pos_at(i),
                                format!("unsupported string escape sequence: \\{}", shown.escape_debug()),
                            );
                        }
                    }
                    i += 2;
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        if out.contains(&0) {
            return self.error(self.pos(), "string literals cannot contain NUL characters (\\x00)");
        }
        let s = if hex_escape {
            match String::from_utf8(out) {
                Ok(s) => s,
                Err(_) => return self.error(self.pos(), "string escapes produce invalid UTF-8"),
            }
        } else {
            // Only whole characters of valid UTF-8 input and ASCII escapes were copied.
            String::from_utf8(out).unwrap_or_default()
        };
        self.take(i + 1 - self.idx);
        Ok(Some(s))
    }
}

fn compare(left: Operand, op: Op, modifier: Option<Modifier>, right: Rhs, pos: Pos) -> Expr {
    Expr::Compare(Box::new(Compare { left, op, modifier, right, pos }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lengths() {
        assert_eq!(ident_len(b"abc_1.x", 0), 5);
        assert_eq!(ident_len(b"_a", 0), 0);
        assert_eq!(ident_len(b"1a", 0), 0);
        assert_eq!(field_name_len(b"proc.name=", 0), 9);
        assert_eq!(field_name_len(b"a.b.c", 0), 5);
        assert_eq!(field_name_len(b"a.b.", 0), 3);
        assert_eq!(field_name_len(b"a.1", 0), 0);
        assert_eq!(field_name_len(b"abc", 0), 0);
        assert_eq!(hex_len(b"0x1fZ", 0), 4);
        assert_eq!(hex_len(b"0x", 0), 0);
        assert_eq!(hex_len(b"0XaF", 0), 4);
        assert_eq!(num_len(b"-12.5e+3x", 0), 8);
        assert_eq!(num_len(b"1e5", 0), 1);
        assert_eq!(num_len(b"1.", 0), 2);
        assert_eq!(num_len(b"+", 0), 0);
        assert_eq!(num_len(b".5", 0), 0);
        assert_eq!(num_len(b"3.14E-2", 0), 7);
    }

    #[test]
    fn char_classes() {
        for c in [b'(', b')', b'"', b'\'', b'=', b',', b' ', b'\t', b'\n', b'\r', 0x0b, 0x0c, 0] {
            assert!(!is_bare_char(c), "{c:#x}");
        }
        for c in [b'!', b'[', b']', b'*', b'/', b':', 0x08, b'\\', 0xc3] {
            assert!(is_bare_char(c), "{c:#x}");
        }
        for c in [b'[', b']', b'"', b'\'', b' ', 0x0b, 0] {
            assert!(!is_field_arg_bare_char(c), "{c:#x}");
        }
        for c in [b'(', b')', b',', b'=', b'/'] {
            assert!(is_field_arg_bare_char(c), "{c:#x}");
        }
    }
}
