//! A map-backed [`EventAccessor`] for tests and benchmarks (also usable by other crates' tests).

use std::net::IpAddr;

use crate::fields::{self, Source};
use crate::values::{BoundField, EventAccessor, FieldArg, One, Value, Values};

/// One value of a [`MapAccessor`] entry.
#[derive(Debug, Clone, PartialEq)]
pub enum TestValue {
    Str(String),
    Bytes(Vec<u8>),
    Int(i64),
    Uint(u64),
    Bool(bool),
    Ip(IpAddr),
    Double(f64),
}

/// An event given as (field, argument) → values. Lookup is a linear scan, which is fast for
/// the handful of fields a test event carries.
#[derive(Debug, Clone, Default)]
pub struct MapAccessor {
    pub event_type: Option<u16>,
    entries: Vec<(fields::FieldId, FieldArg, Vec<TestValue>)>,
    /// Entry index per field id, for entries without an argument (O(1) lookup).
    by_id: Vec<u32>,
}

impl MapAccessor {
    pub fn new() -> MapAccessor {
        MapAccessor::default()
    }
    /// A syscall event of the named type (its first code).
    pub fn syscall(evt_type: &str) -> MapAccessor {
        let mut m = MapAccessor {
            event_type: fields::event_codes_for_name(evt_type).first().copied(),
            ..MapAccessor::default()
        };
        m.set("evt.type", vec![TestValue::Str(evt_type.to_string())]);
        m
    }
    /// Set a field (written as in rules: `proc.name`, `proc.aname[2]`, `evt.arg.flags`).
    /// Panics on unknown field names (test helper).
    pub fn set(&mut self, field: &str, values: Vec<TestValue>) -> &mut Self {
        let (name, arg) = match field.find('[') {
            Some(o) if field.ends_with(']') => (&field[..o], Some(&field[o + 1..field.len() - 1])),
            _ => (field, None),
        };
        let source = Source::ALL
            .into_iter()
            .find(|s| fields::resolve(*s, name).is_ok())
            .unwrap_or_else(|| panic!("unknown field {field}"));
        let (bf, _) =
            crate::compile::bind_field(source, name, arg, Default::default(), crate::compile::Usage::Filter)
                .or_else(|_| {
                    crate::compile::bind_field(
                        source,
                        name,
                        arg,
                        Default::default(),
                        crate::compile::Usage::Output,
                    )
                })
                .unwrap_or_else(|e| panic!("bad field {field}: {e}"));
        self.entries.retain(|(id, a, _)| !(*id == bf.id && *a == bf.arg));
        self.entries.push((bf.id, bf.arg, values));
        self.by_id = vec![u32::MAX; fields::FIELDS.len()];
        for (i, (id, arg, _)) in self.entries.iter().enumerate() {
            if *arg == FieldArg::None {
                self.by_id[*id as usize] = i as u32;
            }
        }
        self
    }
    pub fn str(&mut self, field: &str, v: &str) -> &mut Self {
        self.set(field, vec![TestValue::Str(v.to_string())])
    }
    pub fn strs(&mut self, field: &str, v: &[&str]) -> &mut Self {
        self.set(field, v.iter().map(|s| TestValue::Str(s.to_string())).collect())
    }
    pub fn int(&mut self, field: &str, v: i64) -> &mut Self {
        self.set(field, vec![TestValue::Int(v)])
    }
    pub fn uint(&mut self, field: &str, v: u64) -> &mut Self {
        self.set(field, vec![TestValue::Uint(v)])
    }
    pub fn bool(&mut self, field: &str, v: bool) -> &mut Self {
        self.set(field, vec![TestValue::Bool(v)])
    }
    pub fn ip(&mut self, field: &str, v: &str) -> &mut Self {
        let ip: IpAddr = v.parse().unwrap_or_else(|_| panic!("bad ip {v}"));
        self.set(field, vec![TestValue::Ip(ip)])
    }
    pub fn bytes(&mut self, field: &str, v: &[u8]) -> &mut Self {
        self.set(field, vec![TestValue::Bytes(v.to_vec())])
    }
}

impl MapAccessor {
    #[inline(always)]
    fn find(&self, field: &BoundField) -> Option<&Vec<TestValue>> {
        let e = if field.arg == FieldArg::None {
            self.by_id.get(field.id as usize).and_then(|&i| self.entries.get(i as usize))
        } else {
            self.entries.iter().find(|(id, arg, _)| *id == field.id && *arg == field.arg)
        };
        e.map(|(_, _, v)| v)
    }
}

impl EventAccessor for MapAccessor {
    fn event_type(&self) -> Option<u16> {
        self.event_type
    }
    #[inline(always)]
    fn extract_one(&self, field: &BoundField) -> One<'_> {
        match self.find(field).map(Vec::as_slice) {
            None => One::Absent,
            Some([v]) => One::Value(match v {
                TestValue::Str(s) => Value::Str(s.as_bytes()),
                TestValue::Bytes(b) => Value::Bytes(b),
                TestValue::Int(i) => Value::Int(*i),
                TestValue::Uint(u) => Value::Uint(*u),
                TestValue::Bool(b) => Value::Bool(*b),
                TestValue::Ip(ip) => Value::Ip(*ip),
                TestValue::Double(d) => Value::Double(*d),
            }),
            Some(_) => One::Fallback,
        }
    }
    fn extract(&self, field: &BoundField, out: &mut Values) -> bool {
        {
            if let Some(vals) = self.find(field) {
                for v in vals {
                    match v {
                        TestValue::Str(s) => out.push_str(s),
                        TestValue::Bytes(b) => out.push_bytes(b),
                        TestValue::Int(i) => out.push_int(*i),
                        TestValue::Uint(u) => out.push_uint(*u),
                        TestValue::Bool(b) => out.push_bool(*b),
                        TestValue::Ip(ip) => out.push_ip(*ip),
                        TestValue::Double(d) => out.push_double(*d),
                    }
                }
                return true;
            }
        }
        false
    }
}
