//! Prometheus Alertmanager: alerts POSTed as a JSON array to `{hostport}{endpoint}` (default
//! `/api/v2/alerts`; falcosidekick's default `/api/v1/alerts` is gone from Alertmanager 0.27 on,
//! set `endpoint` to use it with an older server). Each alert carries falcosidekick's labels
//! (`source: falco`, `rule`, `eventsource`, `hostname`, `tags`, `priority`, `severity` and every
//! string or number output field under a safe label name) and annotations (`info`,
//! `description`, `summary`), `startsAt` (the event time) and, with `expiresafter`, `endsAt`.
//! Falco's syscall-drop alerts (`n_drops*` fields) are re-prioritised by
//! `dropeventthresholds` / `dropeventdefaultpriority` and their counts bucketed (`>100`) so
//! they do not make a new alert per count. Several alerts go in one request (the API takes a
//! list).

use crate::alert::severity;
use crate::common::{CommonConfig, KvMap};
use crate::sink::{BoxFut, HttpTarget, Sink, SinkError, TlsKeys};
use harrier_engine::Alert;
use harrier_rules::Priority;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// falcosidekick's `alertmanager:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct AlertmanagerConfig {
    pub hostport: String,
    pub endpoint: String,
    /// Seconds after the event when the alert resolves (0: Alertmanager's `resolve_timeout`).
    pub expiresafter: u64,
    /// `name:value,…` or a map.
    pub extralabels: KvMap,
    pub extraannotations: KvMap,
    /// `priority:severity,…` or a map.
    pub customseveritymap: KvMap,
    pub dropeventdefaultpriority: String,
    pub dropeventthresholds: String,
    pub customheaders: KvMap,
    pub mutualtls: bool,
    pub checkcert: Option<bool>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

const DEFAULT_THRESHOLDS: &str = "10000:critical, 1000:critical, 100:critical, 10:warning, 1:warning";

/// Everything the payload needs, parsed and checked once.
#[derive(Debug, Clone)]
pub struct Shape {
    pub expires_after: u64,
    pub extra_labels: Vec<(String, String)>,
    pub extra_annotations: Vec<(String, String)>,
    pub severity: BTreeMap<Priority, String>,
    pub drop_default: Priority,
    /// Largest first.
    pub thresholds: Vec<(i64, Priority)>,
}

fn prio(key: &str, s: &str) -> Result<Priority, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "alertmanager.{key}: unknown priority '{}' (expected one of emergency, alert, critical, error, warning, notice, informational, debug)",
            s.trim()
        )
    })
}

impl Shape {
    pub fn new(c: &AlertmanagerConfig) -> Result<Shape, String> {
        let mut severity = BTreeMap::new();
        for (p, sev) in [
            (Priority::Emergency, "critical"),
            (Priority::Alert, "critical"),
            (Priority::Critical, "critical"),
            (Priority::Error, "warning"),
            (Priority::Warning, "warning"),
            (Priority::Notice, "information"),
            (Priority::Informational, "information"),
            (Priority::Debug, "information"),
        ] {
            severity.insert(p, sev.to_string());
        }
        for (p, sev) in c.customseveritymap.pairs() {
            if sev.is_empty() {
                return Err(format!("alertmanager.customseveritymap: no severity given for '{p}'"));
            }
            severity.insert(prio("customseveritymap", &p)?, sev);
        }
        let drop_default = if c.dropeventdefaultpriority.trim().is_empty() {
            Priority::Critical
        } else {
            prio("dropeventdefaultpriority", &c.dropeventdefaultpriority)?
        };
        let text = if c.dropeventthresholds.trim().is_empty() {
            DEFAULT_THRESHOLDS
        } else {
            c.dropeventthresholds.as_str()
        };
        let mut thresholds = Vec::new();
        for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (n, p) = t.split_once(':').ok_or_else(|| {
                format!("alertmanager.dropeventthresholds: '{t}' is not <count>:<priority>")
            })?;
            let n: i64 = n.trim().parse().map_err(|_| {
                format!("alertmanager.dropeventthresholds: '{}' in '{t}' is not a whole number", n.trim())
            })?;
            thresholds.push((n, prio("dropeventthresholds", p)?));
        }
        thresholds.sort_by_key(|t| std::cmp::Reverse(t.0));
        let check_names = |key: &str, pairs: &[(String, String)]| -> Result<(), String> {
            for (k, _) in pairs {
                if !valid_label(k) {
                    return Err(format!(
                        "alertmanager.{key}: '{k}' is not a valid name (letters, digits and '_', not starting with a digit)"
                    ));
                }
            }
            Ok(())
        };
        let extra_labels = c.extralabels.pairs();
        check_names("extralabels", &extra_labels)?;
        let extra_annotations = c.extraannotations.pairs();
        check_names("extraannotations", &extra_annotations)?;
        Ok(Shape {
            expires_after: c.expiresafter,
            extra_labels,
            extra_annotations,
            severity,
            drop_default,
            thresholds,
        })
    }
}

fn valid_label(s: &str) -> bool {
    let mut ch = s.chars();
    ch.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && ch.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An output field name as a label name: anything but letters, digits and `_` becomes `_`,
/// runs of `_` shrink, no `_` at either end (`k8s.ns.name` → `k8s_ns_name`).
pub fn safe_label(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    let t = out.trim_matches('_');
    if t.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{t}")
    } else {
        t.to_string()
    }
}

fn raise(p: &mut Priority, to: Priority) {
    if severity(to) > severity(*p) {
        *p = to;
    }
}

/// One alert in Alertmanager's postable form.
pub fn alert_json(a: &Alert, s: &Shape) -> Value {
    let mut labels = BTreeMap::new();
    let mut priority = a.priority;
    for (k, v) in &a.output_fields {
        if k.starts_with("n_evts") {
            continue;
        }
        if k.starts_with("n_drop") {
            let Some(d) = crate::alert::value_text(v).and_then(|t| t.parse::<i64>().ok()) else { continue };
            let bucket = if d == 0 {
                raise(&mut priority, Priority::Warning);
                "0".to_string()
            } else if let Some((n, p)) = s.thresholds.iter().find(|(n, _)| d > *n) {
                raise(&mut priority, *p);
                format!(">{n}")
            } else {
                raise(&mut priority, s.drop_default);
                d.to_string()
            };
            labels.insert(safe_label(k), bucket);
            continue;
        }
        let text = match v {
            Value::String(t) => t.clone(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        let name = safe_label(k);
        if !name.is_empty() && !text.is_empty() {
            labels.insert(name, text);
        }
    }
    labels.insert("source".into(), "falco".into());
    labels.insert("rule".into(), a.rule.clone());
    labels.insert("eventsource".into(), a.source.clone());
    if !a.hostname.is_empty() {
        labels.insert("hostname".into(), a.hostname.clone());
    }
    if let Some(t) = crate::common::sorted_tags(a, ",") {
        labels.insert("tags".into(), t);
    }
    labels.insert("priority".into(), priority.as_str().into());
    labels.insert("severity".into(), s.severity.get(&priority).cloned().unwrap_or_default());
    for (k, v) in &s.extra_labels {
        labels.insert(k.clone(), v.clone());
    }
    labels.retain(|_, v| !v.is_empty());
    let mut ann = Map::new();
    ann.insert("info".into(), a.output.clone().into());
    ann.insert("description".into(), a.output.clone().into());
    ann.insert("summary".into(), a.rule.clone().into());
    for (k, v) in &s.extra_annotations {
        ann.insert(k.clone(), v.clone().into());
    }
    let mut o = json!({
        "labels": labels,
        "annotations": ann,
        "startsAt": harrier_engine::output::format_time_json(a.time_ns),
    });
    if s.expires_after > 0 {
        let end = a.time_ns.saturating_add(s.expires_after.saturating_mul(1_000_000_000));
        o["endsAt"] = harrier_engine::output::format_time_json(end).into();
    }
    o
}

pub fn payload(alerts: &[Arc<Alert>], s: &Shape) -> Value {
    Value::Array(alerts.iter().map(|a| alert_json(a, s)).collect())
}

pub struct AlertmanagerSink {
    target: HttpTarget,
    shape: Shape,
}

impl AlertmanagerSink {
    /// `mtls_dir`: falcosidekick's `mutualtlsfilespath` (`client.crt`, `client.key`, `ca.crt`).
    pub fn new(c: &AlertmanagerConfig, mtls_dir: &str) -> Result<Self, String> {
        if c.hostport.trim().is_empty() {
            return Err("alertmanager.hostport is empty".into());
        }
        let endpoint = if c.endpoint.is_empty() { "/api/v2/alerts" } else { c.endpoint.as_str() };
        if !endpoint.starts_with('/') {
            return Err(format!("alertmanager.endpoint '{endpoint}' must start with '/'"));
        }
        let url = format!("{}{}", c.hostport.trim_end_matches('/'), endpoint);
        let o = TlsKeys::new(c.checkcert, c.mutualtls).options(mtls_dir);
        let mut target = HttpTarget::new(&url, &o).map_err(|e| format!("alertmanager.hostport: {e}"))?;
        target.add_headers("alertmanager.customheaders", c.customheaders.pairs())?;
        Ok(AlertmanagerSink { target, shape: Shape::new(c)? })
    }
}

impl Sink for AlertmanagerSink {
    fn kind(&self) -> &'static str {
        "alertmanager"
    }
    fn max_batch(&self) -> usize {
        100
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let body = payload(alerts, &self.shape).to_string().into_bytes();
            self.target.send("application/json", body).await.map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests;
