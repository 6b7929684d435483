//! `session.*` fields for the rules language: audit records evaluated against rules of
//! `source: session`, alerts built like any other source's (same outputs and sinks).

use std::sync::Arc;

use harrier_engine::fields::{FieldId as F, Source};
use harrier_engine::gen::GenFields;
use harrier_engine::{Alert, BoundField, EventAccessor, Ruleset, Values};

use crate::{AuditRecord, Redactor};

/// The rules source name.
pub const SOURCE: &str = "session";

/// One audit record as the rules engine sees it; the command is already redacted, so neither a
/// condition nor an alert output can see what redaction hid.
pub struct RecordAccessor<'a> {
    rec: &'a AuditRecord,
    command: Option<String>,
    num: u64,
    first_ts: u64,
    hostname: &'a str,
}

impl<'a> RecordAccessor<'a> {
    /// `num` is the record's number and `first_ts` the time of the first record (for
    /// `evt.num` and `evt.reltime*`).
    pub fn new(
        rec: &'a AuditRecord,
        redactor: &Redactor,
        num: u64,
        first_ts: u64,
        hostname: &'a str,
    ) -> Self {
        let command = rec.command.as_deref().map(|c| redactor.redact(c));
        RecordAccessor { rec, command, num, first_ts, hostname }
    }
}

impl EventAccessor for RecordAccessor<'_> {
    fn event_type(&self) -> Option<u16> {
        None
    }

    fn extract(&self, field: &BoundField, out: &mut Values) -> bool {
        let r = self.rec;
        let gen = GenFields {
            ts: r.time_ns,
            num: self.num,
            first_ts: self.first_ts,
            hostname: self.hostname,
            source: SOURCE,
            plugin: "",
        };
        if let Some(ok) = gen.extract(field, out) {
            return ok;
        }
        match field.id {
            F::EvtPlugininfo | F::EvtAsynctype => out.push_str(""),
            F::SessionKind => out.push_str(r.kind),
            F::SessionCommand => match &self.command {
                Some(c) => out.push_str(c),
                None => return false,
            },
            F::SessionCwd => out.push_str(&r.cwd),
            F::SessionUser => out.push_str(&r.user),
            F::SessionUid => out.push_uint(r.uid as u64),
            F::SessionLoginuid => out.push_uint(r.loginuid as u64),
            F::SessionTty => out.push_str(&r.tty),
            F::SessionId => out.push_uint(r.session_id),
            F::SessionPid => out.push_int(r.pid as i64),
            F::SessionShell => out.push_str(&r.shell),
            F::SessionLeader => out.push_int(r.session_leader as i64),
            F::SessionContainerId => out.push_str(&r.container_id),
            F::SessionK8sPodUid => out.push_str(&r.k8s_pod_uid),
            F::SessionK8sPodName => out.push_str(&r.k8s_pod_name),
            F::SessionK8sNsName => out.push_str(&r.k8s_ns_name),
            _ => return false,
        }
        true
    }
}

/// Evaluates audit records against the rules of `source: session`.
pub struct SessionRules {
    pub rules: Arc<Ruleset>,
    pub hostname: String,
    redactor: Redactor,
    /// Records evaluated and alerts raised.
    pub records: u64,
    pub alerts: u64,
    /// Time of the first record evaluated (`evt.reltime*`).
    first_ts: Option<u64>,
}

impl SessionRules {
    pub fn new(rules: Arc<Ruleset>, hostname: String, redactor: Redactor) -> Self {
        SessionRules { rules, hostname, redactor, records: 0, alerts: 0, first_ts: None }
    }

    /// Whether any rule of the session source is loaded.
    pub fn has_rules(&self) -> bool {
        self.rules.rules().iter().any(|r| r.source == Source::Session)
    }

    pub fn process(&mut self, rec: &AuditRecord, on_alert: &mut dyn FnMut(Alert)) {
        self.records += 1;
        let first_ts = *self.first_ts.get_or_insert(rec.time_ns);
        let acc = RecordAccessor::new(rec, &self.redactor, self.records, first_ts, &self.hostname);
        let rules = self.rules.clone();
        let mut n = 0;
        rules.evaluate_source(Source::Session, &acc, |r| {
            n += 1;
            on_alert(r.alert(&acc, rec.time_ns, &self.hostname));
        });
        self.alerts += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Arc<Ruleset> {
        let mut loader = harrier_rules::Loader::new(Default::default());
        loader.load_str("session_rules.yaml", text);
        let loaded = loader.finish(Some(&harrier_engine::Checker));
        assert!(!loaded.has_errors(), "{:?}", loaded.errors().collect::<Vec<_>>());
        Arc::new(Ruleset::compile(&loaded.rules).0)
    }

    const RULES: &str = r#"
- rule: Base64 decode typed at a terminal
  desc: someone decodes base64 in an interactive shell
  condition: session.kind = command and session.command contains "base64 -d"
  output: "base64 decoded by %session.user (uid=%session.uid tty=%session.tty session=%session.id cwd=%session.cwd cmd=%session.command)"
  priority: WARNING
  source: session
- rule: Secret in a typed command
  desc: matches only if redaction failed
  condition: session.command contains "hunter2"
  output: "leak %session.command"
  priority: CRITICAL
  source: session
"#;

    #[test]
    fn session_rules_fire_on_commands_with_redacted_text() {
        let mut sr = SessionRules::new(rules(RULES), "node1".into(), Redactor::with_defaults());
        assert!(sr.has_rules());
        let mut rec = AuditRecord {
            kind: "command",
            time_ns: 1_700_000_000_000_000_000,
            session_id: 77,
            command: Some("echo aGk= | base64 -d".into()),
            cwd: "/tmp".into(),
            user: "alice".into(),
            uid: 1000,
            tty: "pts/2".into(),
            ..Default::default()
        };
        let mut alerts = Vec::new();
        sr.process(&rec, &mut |a| alerts.push(a));
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(a.source, "session");
        assert_eq!(a.rule, "Base64 decode typed at a terminal");
        assert!(
            a.output.contains("by alice (uid=1000 tty=pts/2 session=77 cwd=/tmp cmd=echo aGk= | base64 -d)"),
            "{}",
            a.output
        );
        // what redaction hides is hidden from conditions and outputs too
        rec.command = Some("mysql --password=hunter2".into());
        alerts.clear();
        sr.process(&rec, &mut |a| alerts.push(a));
        assert!(alerts.is_empty(), "{alerts:?}");
        rec.command = Some("ls".into());
        sr.process(&rec, &mut |a| alerts.push(a));
        assert!(alerts.is_empty());
        assert_eq!((sr.records, sr.alerts), (3, 1));
        let acc = RecordAccessor::new(&rec, &Redactor::with_defaults(), 1, rec.time_ns, "h");
        let mut v = Values::new();
        assert!(acc.extract(&BoundField::new(F::EvtDatetimeS), &mut v));
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn session_rules_see_the_pod_of_a_containers_shell() {
        let text = r#"
- rule: Shell typed in a shop pod
  desc: commands typed in the shop namespace
  condition: session.kind = command and session.k8s_ns_name = shop and session.k8s_pod_name startswith web-
  output: "typed in %session.k8s_ns_name/%session.k8s_pod_name (container %session.container_id): %session.command"
  priority: NOTICE
  source: session
"#;
        let mut sr = SessionRules::new(rules(text), "node1".into(), Redactor::with_defaults());
        let mut rec = AuditRecord {
            kind: "command",
            command: Some("cat /etc/passwd".into()),
            container_id: "0123456789ab".into(),
            k8s_pod_name: "web-1".into(),
            k8s_ns_name: "shop".into(),
            ..Default::default()
        };
        let mut alerts = Vec::new();
        sr.process(&rec, &mut |a| alerts.push(a));
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].output, "typed in shop/web-1 (container 0123456789ab): cat /etc/passwd");
        // another namespace, or a host shell (empty pod fields): nothing
        rec.k8s_ns_name = "kube-system".into();
        sr.process(&rec, &mut |a| alerts.push(a));
        rec.k8s_ns_name.clear();
        rec.k8s_pod_name.clear();
        sr.process(&rec, &mut |a| alerts.push(a));
        assert_eq!(alerts.len(), 1, "{alerts:?}");
    }
}
