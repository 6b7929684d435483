//! The seam between event state and the engine: [`EventAccessor`], [`BoundField`] and the reusable
//! [`Values`] buffer.

use std::net::IpAddr;

use crate::fields::{FieldId, FieldInfo, FieldType};

/// A field argument after parsing (`proc.aname[2]`, `evt.arg.flags`, `json.value[/a/b]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldArg {
    None,
    Index(i64),
    Key(Box<str>),
}

impl FieldArg {
    pub fn index(&self) -> Option<i64> {
        match self {
            FieldArg::Index(i) => Some(*i),
            _ => None,
        }
    }
    pub fn key(&self) -> Option<&str> {
        match self {
            FieldArg::Key(k) => Some(k),
            _ => None,
        }
    }
}

/// A field as used by a compiled rule: registry handle, parsed argument and effective type
/// (`evt.rawarg.*` takes its parameter's type). Built once at compile time.
/// Fields a hosted plugin declares share one id ([`FieldId::PluginDynamic`]); their description
/// (name, type) is the `info` they were bound with.
#[derive(Debug, Clone)]
pub struct BoundField {
    pub id: FieldId,
    pub arg: FieldArg,
    pub ty: FieldType,
    info: &'static FieldInfo,
}

impl PartialEq for BoundField {
    fn eq(&self, o: &BoundField) -> bool {
        self.id == o.id && self.arg == o.arg && self.ty == o.ty && std::ptr::eq(self.info, o.info)
    }
}
impl Eq for BoundField {}
impl std::hash::Hash for BoundField {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.id.hash(h);
        self.arg.hash(h);
        self.ty.hash(h);
        self.info.name.hash(h);
    }
}

impl BoundField {
    pub fn new(id: FieldId) -> BoundField {
        BoundField { id, arg: FieldArg::None, ty: id.info().ty, info: id.info() }
    }
    pub fn with_arg(id: FieldId, arg: FieldArg) -> BoundField {
        BoundField { id, arg, ty: id.info().ty, info: id.info() }
    }
    /// A field bound from its description (a hosted plugin's field, or any registered one).
    pub fn from_info(info: &'static FieldInfo, arg: FieldArg, ty: FieldType) -> BoundField {
        BoundField { id: info.id, arg, ty, info }
    }
    pub fn info(&self) -> &'static FieldInfo {
        self.info
    }
    /// The field as written in rules: `proc.aname[2]`, `evt.arg.flags`, `json.value[/a]`.
    pub fn display_name(&self) -> String {
        let info = self.info();
        match &self.arg {
            FieldArg::None => info.name.to_string(),
            FieldArg::Index(i) => format!("{}[{}]", info.name, i),
            FieldArg::Key(k) if info.has(crate::fields::flags::DOTTED_ARG) => format!("{}.{}", info.name, k),
            FieldArg::Key(k) => format!("{}[{}]", info.name, k),
        }
    }
}

/// One extracted value, borrowed from a [`Values`] buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// Text (not necessarily UTF-8).
    Str(&'a [u8]),
    /// Binary data.
    Bytes(&'a [u8]),
    Int(i64),
    Uint(u64),
    Bool(bool),
    Ip(IpAddr),
    /// A network (address and prefix length).
    Net(IpAddr, u8),
    Double(f64),
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Str(u32, u32),
    Bytes(u32, u32),
    Int(i64),
    Uint(u64),
    Bool(bool),
    Ip(IpAddr),
    Net(IpAddr, u8),
    Double(f64),
}

/// A reusable buffer of extracted values. Text and bytes are appended into one byte vector and
/// values are small enum slots, so a warmed-up buffer extracts without allocating. A field yields
/// one value, or several for list fields (and for "any ancestor" fields such as `proc.aname`).
#[derive(Debug, Default, Clone)]
pub struct Values {
    buf: Vec<u8>,
    slots: Vec<Slot>,
}

impl Values {
    pub fn new() -> Values {
        Values { buf: Vec::with_capacity(256), slots: Vec::with_capacity(8) }
    }
    #[inline]
    pub fn clear(&mut self) {
        self.buf.clear();
        self.slots.clear();
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    #[inline]
    pub fn push_str(&mut self, s: &str) {
        self.push_str_bytes(s.as_bytes());
    }
    #[inline]
    pub fn push_str_bytes(&mut self, s: &[u8]) {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(s);
        self.slots.push(Slot::Str(start, s.len() as u32));
    }
    #[inline]
    pub fn push_bytes(&mut self, b: &[u8]) {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(b);
        self.slots.push(Slot::Bytes(start, b.len() as u32));
    }
    /// Append a text value written in place by `f` (no temporary string).
    pub fn push_str_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        f(&mut self.buf);
        let len = self.buf.len() - start;
        self.slots.push(Slot::Str(start as u32, len as u32));
    }
    /// Append a binary value written in place by `f`.
    pub fn push_bytes_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        f(&mut self.buf);
        let len = self.buf.len() - start;
        self.slots.push(Slot::Bytes(start as u32, len as u32));
    }
    #[inline]
    pub fn push_int(&mut self, v: i64) {
        self.slots.push(Slot::Int(v));
    }
    #[inline]
    pub fn push_uint(&mut self, v: u64) {
        self.slots.push(Slot::Uint(v));
    }
    #[inline]
    pub fn push_bool(&mut self, v: bool) {
        self.slots.push(Slot::Bool(v));
    }
    #[inline]
    pub fn push_ip(&mut self, v: IpAddr) {
        self.slots.push(Slot::Ip(v));
    }
    pub fn push_net(&mut self, v: IpAddr, prefix: u8) {
        self.slots.push(Slot::Net(v, prefix));
    }
    pub fn push_double(&mut self, v: f64) {
        self.slots.push(Slot::Double(v));
    }
    pub fn push(&mut self, v: Value<'_>) {
        match v {
            Value::Str(s) => self.push_str_bytes(s),
            Value::Bytes(b) => self.push_bytes(b),
            Value::Int(i) => self.push_int(i),
            Value::Uint(u) => self.push_uint(u),
            Value::Bool(b) => self.push_bool(b),
            Value::Ip(ip) => self.push_ip(ip),
            Value::Net(ip, p) => self.push_net(ip, p),
            Value::Double(d) => self.push_double(d),
        }
    }
    /// Remove the last value (and its bytes).
    pub fn pop(&mut self) {
        if let Some(Slot::Str(st, _) | Slot::Bytes(st, _)) = self.slots.pop() {
            self.buf.truncate(st as usize);
        }
    }
    /// The value when there is exactly one.
    #[inline]
    pub fn only(&self) -> Option<Value<'_>> {
        match self.slots.as_slice() {
            [s] => Some(self.resolve(s)),
            _ => None,
        }
    }
    #[inline]
    pub fn get(&self, i: usize) -> Option<Value<'_>> {
        self.slots.get(i).map(|s| self.resolve(s))
    }
    #[inline]
    fn resolve(&self, s: &Slot) -> Value<'_> {
        let range = |st: u32, l: u32| self.buf.get(st as usize..(st as usize + l as usize)).unwrap_or(&[]);
        match *s {
            Slot::Str(st, l) => Value::Str(range(st, l)),
            Slot::Bytes(st, l) => Value::Bytes(range(st, l)),
            Slot::Int(i) => Value::Int(i),
            Slot::Uint(u) => Value::Uint(u),
            Slot::Bool(b) => Value::Bool(b),
            Slot::Ip(ip) => Value::Ip(ip),
            Slot::Net(ip, p) => Value::Net(ip, p),
            Slot::Double(d) => Value::Double(d),
        }
    }
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = Value<'_>> + '_ {
        self.slots.iter().map(move |s| self.resolve(s))
    }
}

/// What the engine needs from an event: its type code and field extraction.
///
/// Implemented by the state crate over (event, thread table, fd table, container info…) and by
/// [`crate::testing::MapAccessor`] in tests.
pub trait EventAccessor {
    /// PPM event code of a syscall event (used by the evt.type index); `None` for sources without
    /// event types.
    fn event_type(&self) -> Option<u16>;
    /// For a generic syscall event (`PPME_GENERIC_E`/`_X`, whose `evt.type` is the name of the
    /// syscall code in its first parameter): that code (PPM_SC), `u16::MAX` when the event has
    /// none. `None` (the default): not known here, `evt.type` checks extract the name instead.
    #[inline]
    fn generic_syscall(&self) -> Option<u16> {
        None
    }
    /// Append the values of `field` into `out` (cleared by the caller). Return `false` when the
    /// field is absent for this event: every check on it is then false, except `exists`.
    ///
    /// Value kinds by [`FieldType`]: strings/paths → `push_str*`; bytebuf → `push_bytes*`;
    /// signed ints → `push_int`; unsigned ints, ports, times → `push_uint`; bool → `push_bool`;
    /// ip and ipnet fields → `push_ip` (the event's address: ipnet checks test membership);
    /// double → `push_double`. List fields push one value per element. Fields that match "any
    /// ancestor" without an index (`proc.aname`) push one value per ancestor.
    fn extract(&self, field: &BoundField, out: &mut Values) -> bool;

    /// Optional fast path for fields with exactly one value: borrow it instead of copying it
    /// into a buffer. Return [`One::Fallback`] (the default) to use [`EventAccessor::extract`].
    #[inline]
    fn extract_one(&self, _field: &BoundField) -> One<'_> {
        One::Fallback
    }
}

/// Result of [`EventAccessor::extract_one`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum One<'a> {
    /// Not supported for this field: call `extract`.
    Fallback,
    /// The field is absent for this event.
    Absent,
    /// The single value.
    Value(Value<'a>),
}
