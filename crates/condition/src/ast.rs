//! The condition AST. Every node carries the position where it starts in the source text.
//!
//! This is the contract between the parser (this crate), the rule loader (`harrier-rules`, which
//! resolves macros on it) and the compiler (`harrier-engine`, which turns it into typed predicates).

/// A position in the condition text: byte offset (0-based), line and column (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pos {
    pub idx: u32,
    pub line: u32,
    pub col: u32,
}

/// A boolean expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// `a and b and c` (at least two children).
    And(Vec<Expr>, Pos),
    /// `a or b or c` (at least two children).
    Or(Vec<Expr>, Pos),
    /// `not x`.
    Not(Box<Expr>, Pos),
    /// A bare identifier: a macro reference, resolved by the rule loader.
    Identifier(String, Pos),
    /// `left exists`.
    Exists(Operand, Pos),
    /// `left op right`.
    Compare(Box<Compare>),
}

/// A binary check `left op [modifier] right`.
#[derive(Debug, Clone)]
pub struct Compare {
    pub left: Operand,
    pub op: Op,
    /// `oneof` / `anyof` / `allof`, only with string operators.
    pub modifier: Option<Modifier>,
    pub right: Rhs,
    pub pos: Pos,
}

/// The left side of a check: a field or a transformer over fields.
#[derive(Debug, Clone)]
pub enum Operand {
    Field(FieldRef),
    Transformer(Transformer),
}

/// `name` or `name[arg]`.
#[derive(Debug, Clone)]
pub struct FieldRef {
    pub name: String,
    /// `None` when no brackets were written; `Some("")` for `f[""]`.
    pub arg: Option<String>,
    pub pos: Pos,
}

/// `kind(arg, arg…)` optionally followed by `[arg]` (only `getopt` accepts one).
#[derive(Debug, Clone)]
pub struct Transformer {
    pub kind: TransformerKind,
    pub args: Vec<TArg>,
    pub arg: Option<String>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransformerKind {
    ToLower,
    ToUpper,
    B64,
    Basename,
    Len,
    Join,
    Concat,
    Getopt,
}

impl TransformerKind {
    pub const ALL: [TransformerKind; 8] = [
        Self::ToLower,
        Self::ToUpper,
        Self::B64,
        Self::Basename,
        Self::Len,
        Self::Join,
        Self::Concat,
        Self::Getopt,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Self::ToLower => "tolower",
            Self::ToUpper => "toupper",
            Self::B64 => "b64",
            Self::Basename => "basename",
            Self::Len => "len",
            Self::Join => "join",
            Self::Concat => "concat",
            Self::Getopt => "getopt",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// An argument of a transformer.
#[derive(Debug, Clone)]
pub enum TArg {
    Field(FieldRef),
    Transformer(Transformer),
    /// A quoted string literal (unescaped content).
    Str(String, Pos),
    /// A number literal, as written.
    Num(String, Pos),
    /// `(a, b, …)`: fields, transformers, strings, numbers.
    List(Vec<TArg>, Pos),
}

/// The right side of a check.
#[derive(Debug, Clone)]
pub enum Rhs {
    /// A single value (quoted or bare string, or number), unescaped.
    Value(String, Pos),
    /// `(v1, v2, …)` — possibly empty.
    List(Vec<String>, Pos),
    /// A bare identifier in list position (`x in some_list`) that was not substituted.
    ListRef(String, Pos),
    /// `val(field)` / `val(field)[arg]` is represented as the field it names.
    Val(FieldRef),
    /// A transformer on the right side.
    Transformer(Transformer),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,  // "=" and "==" (printed as written: see `Op::Eq2`)
    Eq2, // "=="
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    IContains,
    BContains,
    StartsWith,
    BStartsWith,
    EndsWith,
    Glob,
    IGlob,
    Regex,
    In,
    Intersects,
    PMatch,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Eq2 => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::BContains => "bcontains",
            Op::StartsWith => "startswith",
            Op::BStartsWith => "bstartswith",
            Op::EndsWith => "endswith",
            Op::Glob => "glob",
            Op::IGlob => "iglob",
            Op::Regex => "regex",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::PMatch => "pmatch",
        }
    }
    /// Operators whose right side is a list (`in`, `intersects`, `pmatch`).
    pub fn is_list_op(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::PMatch)
    }
    /// Ordering operators (`< <= > >=`).
    pub fn is_numeric_op(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modifier {
    OneOf,
    AnyOf,
    AllOf,
}

impl Modifier {
    pub fn as_str(self) -> &'static str {
        match self {
            Modifier::OneOf => "oneof",
            Modifier::AnyOf => "anyof",
            Modifier::AllOf => "allof",
        }
    }
}

impl Expr {
    pub fn pos(&self) -> Pos {
        match self {
            Expr::And(_, p)
            | Expr::Or(_, p)
            | Expr::Not(_, p)
            | Expr::Identifier(_, p)
            | Expr::Exists(_, p) => *p,
            Expr::Compare(c) => c.pos,
        }
    }
}
