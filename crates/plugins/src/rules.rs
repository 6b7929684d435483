//! Rules over a hosted plugin's own event source (cloudtrail, okta, github, gcpaudit, or any
//! other): the plugin's source and fields registered in the engine before the rules load, and the
//! detector that evaluates each event on the source's thread, extracting fields through the
//! plugin (`extract_fields`) as Falco does.

use crate::host::{event_ts, HostedPlugin, PluginField, PluginValue};
use harrier_engine::fields::{register_plugin_source, ArgKind, FieldClass, FieldId, PluginFieldDecl};
use harrier_engine::gen::GenFields;
use harrier_engine::{Alert, BoundField, EventAccessor, FieldArg, FieldType, Ruleset, Source, Values};
use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;

/// The engine's description of a plugin field.
pub fn field_decl(f: &PluginField) -> PluginFieldDecl {
    let ty = match f.ftype.as_str() {
        "uint64" => FieldType::Uint64,
        "bool" => FieldType::Bool,
        "reltime" => FieldType::RelTime,
        "abstime" => FieldType::AbsTime,
        "ipaddr" => FieldType::Ip,
        "ipnet" => FieldType::IpNet,
        _ => FieldType::String,
    };
    let arg = match (f.arg_index, f.arg_key, f.arg_required) {
        (true, true, true) => ArgKind::IndexOrKeyRequired,
        (true, false, true) => ArgKind::IndexRequired,
        (false, true, true) => ArgKind::KeyRequired,
        (true, false, false) => ArgKind::IndexAllowed,
        (_, true, false) => ArgKind::KeyAllowed,
        _ => ArgKind::None,
    };
    PluginFieldDecl { name: f.name.clone(), ty, arg, list: f.is_list, desc: f.desc.clone() }
}

/// Register the source of a sourcing plugin (other than the built-in ones) and its fields; the
/// engine source, or `None` for a plugin that sources nothing or a built-in source.
pub fn register(p: &HostedPlugin) -> Result<Option<Source>, String> {
    let Some((_, name)) = &p.source else { return Ok(None) };
    // Built-in sources have their fields already (k8s_audit's events are read natively).
    if let Some(s) = Source::ALL.into_iter().find(|s| s.name() == name) {
        return Ok(Some(s).filter(|s| *s != Source::K8sAudit));
    }
    let decls: Vec<PluginFieldDecl> = p.fields.iter().map(field_decl).collect();
    register_plugin_source(name, &decls).map(Some).map_err(|e| format!("plugin {}: {e}", p.name))
}

/// One plugin event as the engine sees it: generic fields from the header, the plugin's own
/// fields extracted by the plugin.
struct PluginAccessor<'a> {
    plugin: RefCell<&'a mut HostedPlugin>,
    raw: &'a [u8],
    gen: GenFields<'a>,
    errors: &'a RefCell<u64>,
}

impl EventAccessor for PluginAccessor<'_> {
    fn event_type(&self) -> Option<u16> {
        None
    }

    fn extract(&self, field: &BoundField, out: &mut Values) -> bool {
        if let Some(found) = self.gen.extract(field, out) {
            return found;
        }
        // The plugin's own fields: registered at run time, or built-in names it declares
        // (`ct.*` of a hosted cloudtrail plugin).
        if field.id != FieldId::PluginDynamic && field.info().class == FieldClass::Gen {
            return false;
        }
        let info = field.info();
        let (key, index) = match &field.arg {
            FieldArg::None => (None, None),
            FieldArg::Index(i) => (None, u64::try_from(*i).ok()),
            FieldArg::Key(k) => match (info.arg, k.parse::<u64>()) {
                (ArgKind::IndexOrKeyRequired, Ok(n)) => (None, Some(n)),
                _ => (Some(&**k), None),
            },
        };
        let got = self.plugin.borrow_mut().extract(self.raw, self.gen.num, info.name, key, index);
        match got {
            Ok(Some(values)) => {
                for v in values {
                    push(field.ty, v, out);
                }
                true
            }
            Ok(None) => false,
            Err(e) => {
                let mut n = self.errors.borrow_mut();
                *n += 1;
                if n.is_power_of_two() {
                    tracing::warn!("{e} ({n} extraction errors so far)");
                }
                false
            }
        }
    }
}

fn push(ty: FieldType, v: PluginValue, out: &mut Values) {
    match v {
        PluginValue::Str(s) => out.push_str(&s),
        PluginValue::U64(n) => out.push_uint(n),
        PluginValue::Bool(b) => out.push_bool(b),
        PluginValue::Bytes(b) if matches!(ty, FieldType::Ip | FieldType::IpNet) => {
            let ip = match b.len() {
                4 => Some(IpAddr::from(<[u8; 4]>::try_from(&b[..]).unwrap_or_default())),
                16 => Some(IpAddr::from(<[u8; 16]>::try_from(&b[..]).unwrap_or_default())),
                _ => None,
            };
            if let Some(ip) = ip {
                out.push_ip(ip);
            }
        }
        PluginValue::Bytes(b) => out.push_bytes(&b),
    }
}

/// Rules over one hosted plugin source: numbering, evaluation, alerts.
pub struct PluginDetector {
    rules: Arc<Ruleset>,
    source: Source,
    hostname: String,
    /// Events evaluated.
    pub events: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Field extractions the plugin failed.
    pub extract_errors: u64,
    first_ts: Option<u64>,
}

impl PluginDetector {
    pub fn new(rules: Arc<Ruleset>, source: Source, hostname: String) -> PluginDetector {
        PluginDetector { rules, source, hostname, events: 0, alerts: 0, extract_errors: 0, first_ts: None }
    }

    /// Evaluate one event of the plugin's source.
    pub fn process(&mut self, p: &mut HostedPlugin, raw: &[u8], on_alert: &mut dyn FnMut(Alert)) {
        self.events += 1;
        let ts = event_ts(raw);
        let first_ts = *self.first_ts.get_or_insert(ts);
        let errors = RefCell::new(0);
        let plugin = p.name.clone();
        let source = self.source.name();
        let acc = PluginAccessor {
            plugin: RefCell::new(p),
            raw,
            gen: GenFields {
                ts,
                num: self.events,
                first_ts,
                hostname: &self.hostname,
                source,
                plugin: &plugin,
            },
            errors: &errors,
        };
        let mut n = 0;
        self.rules.clone().evaluate_source(self.source, &acc, |r| {
            n += 1;
            on_alert(r.alert(&acc, ts, &self.hostname));
        });
        self.alerts += n;
        self.extract_errors += errors.into_inner();
    }
}
