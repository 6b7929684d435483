//! `ka.*` (k8saudit plugin) and `json.*`/`jevt.*` (json plugin) field extraction over a parsed
//! [`AuditEvent`], as the engine's [`EventAccessor`].
//!
//! Semantics follow Falco's plugins and libsinsp (facts in `../shared/docs/k8s-audit-and-plugins.md`):
//! * an event without a top-level `auditID` has no `ka.*` field;
//! * a missing path, or a value of the wrong JSON type, makes the field absent;
//! * values are text: JSON strings verbatim, anything else compact JSON;
//! * a list field with no value is absent (libsinsp treats 0 values as "no value"), so
//!   `x in (…)` is false and `not x in (…)` true for an empty list;
//! * an index argument `field[N]` picks element N of the first array met on the path (container,
//!   rule, volume) before flattening; out of range → absent;
//! * quirks kept because rules were written against them: `image.repository` cuts at the first
//!   `:` then `@` (`reg:5000/x:1` → `reg`); `eff_run_as_*` read `runAsUser`/`runAsGroup` outside
//!   `securityContext` (so real pods give `0`); `ka.req.volume.hostpath[p]` looks at the first
//!   volume only (libsinsp passes index 0 with a key argument); `ka.req.service.ports` is one value
//!   holding the whole ports array; `add_capabilities` is one JSON array text per container.
//! * one deliberate divergence: `ka.sourceips` reads the event's top-level `sourceIPs` (the plugin
//!   reads `requestObject.rules[].sourceIPs`, so it is practically always absent there:
//!   falcosecurity/plugins#236).

use crate::event::AuditEvent;
use crate::json::Json;
use harrier_engine::fields::FieldId as F;
use harrier_engine::{BoundField, EventAccessor, FieldArg, Values};

/// Source name of these events.
pub const SOURCE: &str = "k8s_audit";

/// An audit event seen by the rules: the event, its number, and the context of the run.
pub struct AuditAccessor<'a> {
    pub ev: &'a AuditEvent,
    /// Event number (strictly increasing within a run, like `evt.num`).
    pub num: u64,
    /// Time of the first event of the run (for `evt.reltime`).
    pub first_ts: u64,
    pub hostname: &'a str,
}

impl<'a> AuditAccessor<'a> {
    pub fn new(ev: &'a AuditEvent, num: u64) -> AuditAccessor<'a> {
        AuditAccessor { ev, num, first_ts: ev.ts, hostname: "" }
    }
}

/// Which pod container list a `ka.req.pod.<list>.*` field reads.
#[derive(Clone, Copy)]
enum List {
    Containers,
    Init,
    Ephemeral,
}

impl List {
    fn key(self) -> &'static str {
        match self {
            List::Containers => "containers",
            List::Init => "initContainers",
            List::Ephemeral => "ephemeralContainers",
        }
    }
}

/// The per-container attributes.
#[derive(Clone, Copy)]
enum CAttr {
    Name,
    Image,
    ImageRepository,
    Command,
    Args,
    Privileged,
    AllowPrivilegeEscalation,
    ReadOnlyFs,
    RunAsUser,
    EffRunAsUser,
    RunAsGroup,
    EffRunAsGroup,
    ProcMount,
    AddCapabilities,
    HostPort,
}

fn container_field(id: F) -> Option<(List, CAttr)> {
    use CAttr::*;
    use List::*;
    Some(match id {
        F::KaReqPodContainersName => (Containers, Name),
        F::KaReqPodContainersImage => (Containers, Image),
        F::KaReqPodContainersImageRepository => (Containers, ImageRepository),
        F::KaReqPodContainersCommand => (Containers, Command),
        F::KaReqPodContainersArgs => (Containers, Args),
        F::KaReqPodContainersPrivileged => (Containers, Privileged),
        F::KaReqPodContainersAllowPrivilegeEscalation => (Containers, AllowPrivilegeEscalation),
        F::KaReqPodContainersReadOnlyFs => (Containers, ReadOnlyFs),
        F::KaReqPodContainersRunAsUser => (Containers, RunAsUser),
        F::KaReqPodContainersEffRunAsUser => (Containers, EffRunAsUser),
        F::KaReqPodContainersRunAsGroup => (Containers, RunAsGroup),
        F::KaReqPodContainersEffRunAsGroup => (Containers, EffRunAsGroup),
        F::KaReqPodContainersProcMount => (Containers, ProcMount),
        F::KaReqPodContainersAddCapabilities => (Containers, AddCapabilities),
        F::KaReqPodContainersHostPort => (Containers, HostPort),
        F::KaReqPodInitContainersName => (Init, Name),
        F::KaReqPodInitContainersImage => (Init, Image),
        F::KaReqPodInitContainersImageRepository => (Init, ImageRepository),
        F::KaReqPodInitContainersCommand => (Init, Command),
        F::KaReqPodInitContainersArgs => (Init, Args),
        F::KaReqPodInitContainersPrivileged => (Init, Privileged),
        F::KaReqPodInitContainersAllowPrivilegeEscalation => (Init, AllowPrivilegeEscalation),
        F::KaReqPodInitContainersReadOnlyFs => (Init, ReadOnlyFs),
        F::KaReqPodInitContainersRunAsUser => (Init, RunAsUser),
        F::KaReqPodInitContainersEffRunAsUser => (Init, EffRunAsUser),
        F::KaReqPodInitContainersRunAsGroup => (Init, RunAsGroup),
        F::KaReqPodInitContainersEffRunAsGroup => (Init, EffRunAsGroup),
        F::KaReqPodInitContainersProcMount => (Init, ProcMount),
        F::KaReqPodInitContainersAddCapabilities => (Init, AddCapabilities),
        F::KaReqPodInitContainersHostPort => (Init, HostPort),
        F::KaReqPodEphemeralContainersName => (Ephemeral, Name),
        F::KaReqPodEphemeralContainersImage => (Ephemeral, Image),
        F::KaReqPodEphemeralContainersImageRepository => (Ephemeral, ImageRepository),
        F::KaReqPodEphemeralContainersCommand => (Ephemeral, Command),
        F::KaReqPodEphemeralContainersArgs => (Ephemeral, Args),
        F::KaReqPodEphemeralContainersPrivileged => (Ephemeral, Privileged),
        F::KaReqPodEphemeralContainersAllowPrivilegeEscalation => (Ephemeral, AllowPrivilegeEscalation),
        F::KaReqPodEphemeralContainersReadOnlyFs => (Ephemeral, ReadOnlyFs),
        F::KaReqPodEphemeralContainersRunAsUser => (Ephemeral, RunAsUser),
        F::KaReqPodEphemeralContainersEffRunAsUser => (Ephemeral, EffRunAsUser),
        F::KaReqPodEphemeralContainersRunAsGroup => (Ephemeral, RunAsGroup),
        F::KaReqPodEphemeralContainersEffRunAsGroup => (Ephemeral, EffRunAsGroup),
        F::KaReqPodEphemeralContainersProcMount => (Ephemeral, ProcMount),
        F::KaReqPodEphemeralContainersAddCapabilities => (Ephemeral, AddCapabilities),
        F::KaReqPodEphemeralContainersHostPort => (Ephemeral, HostPort),
        _ => return None,
    })
}

/// Values found along a path: `None` where an array element lacks the rest of the path.
type Found<'j> = Vec<Option<&'j Json>>;

/// Walk `keys` from `v`. Arrays met on the way are expanded (every element, a missing rest giving
/// a `None`), or, with an index, replaced by that element. An empty key stands for the value
/// itself. `None` when the path is missing.
fn gather<'j>(mut v: &'j Json, idx: Option<usize>, keys: &[&str]) -> Option<Found<'j>> {
    for (i, k) in keys.iter().enumerate() {
        if let Json::Array(a) = v {
            match idx {
                None => {
                    let mut res = Vec::with_capacity(a.len());
                    for e in a {
                        match gather(e, idx, &keys[i..]) {
                            Some(vals) => res.extend(vals),
                            None => res.push(None),
                        }
                    }
                    return Some(res);
                }
                Some(n) => v = a.get(n)?,
            }
        }
        if !k.is_empty() {
            v = v.get_any(k)?;
        }
    }
    Some(vec![Some(v)])
}

fn index_of(arg: &FieldArg) -> Option<usize> {
    // A negative index selects nothing (usize::MAX is out of every range).
    arg.index().map(|i| usize::try_from(i).unwrap_or(usize::MAX))
}

#[inline]
fn push_text(out: &mut Values, v: &Json) {
    out.push_str_with(|b| v.write_text(b));
}

/// Push every present value; `false` (absent) when none was pushed.
fn push_skip_nil(out: &mut Values, found: &Found<'_>) -> bool {
    let n = out.len();
    for v in found.iter().flatten() {
        push_text(out, v);
    }
    out.len() > n
}

/// Push every value; any missing one makes the whole field absent.
fn push_all(out: &mut Values, found: &Found<'_>) -> bool {
    if found.iter().any(Option::is_none) || found.is_empty() {
        return false;
    }
    push_skip_nil(out, found)
}

/// A single-valued field at a path of object keys.
fn push_at(out: &mut Values, root: &Json, keys: &[&str]) -> bool {
    match root.path(keys) {
        Some(v) => {
            push_text(out, v);
            true
        }
        None => false,
    }
}

/// A list-valued field whose value is a JSON array at a path (elements as text).
fn push_array_at(out: &mut Values, root: &Json, keys: &[&str]) -> bool {
    match root.path(keys) {
        Some(Json::Array(a)) => {
            for v in a {
                push_text(out, v);
            }
            !a.is_empty()
        }
        _ => false,
    }
}

fn image_repository(image: &str) -> &str {
    let a = image.split(':').next().unwrap_or("");
    a.split('@').next().unwrap_or("")
}

impl AuditAccessor<'_> {
    fn container(&self, list: List, attr: CAttr, arg: &FieldArg, out: &mut Values) -> bool {
        let root = &self.ev.root;
        let idx = index_of(arg);
        let at = |sub: &[&str]| -> Option<Found<'_>> {
            let mut keys: Vec<&str> = vec!["requestObject", "spec", list.key()];
            keys.extend_from_slice(sub);
            gather(root, idx, &keys)
        };
        match attr {
            CAttr::Name | CAttr::Image => {
                let key = if matches!(attr, CAttr::Name) { "name" } else { "image" };
                match at(&[key]) {
                    Some(f) => push_all(out, &f),
                    None => false,
                }
            }
            CAttr::ImageRepository => {
                let Some(f) = at(&["image"]) else { return false };
                if f.iter().any(Option::is_none) {
                    return false;
                }
                for v in f.iter().flatten() {
                    let s = v.to_text();
                    out.push_str(image_repository(&s));
                }
                !f.is_empty()
            }
            CAttr::Command | CAttr::Args => {
                let key = if matches!(attr, CAttr::Command) { "command" } else { "args" };
                let Some(f) = at(&[key]) else { return false };
                let mut joined = Vec::new();
                for v in f.iter().flatten() {
                    let Json::Array(parts) = v else { return false };
                    let mut s = String::new();
                    for (i, p) in parts.iter().enumerate() {
                        let Json::String(p) = p else { return false };
                        if i > 0 {
                            s.push(' ');
                        }
                        s.push_str(p);
                    }
                    joined.push(s);
                }
                for s in &joined {
                    out.push_str(s);
                }
                !joined.is_empty()
            }
            CAttr::Privileged => self.sc(at(&["securityContext", "privileged"]), out),
            CAttr::AllowPrivilegeEscalation => {
                self.sc(at(&["securityContext", "allowPrivilegeEscalation"]), out)
            }
            CAttr::ReadOnlyFs => self.sc(at(&["securityContext", "readOnlyRootFilesystem"]), out),
            CAttr::RunAsUser => self.sc(at(&["securityContext", "runAsUser"]), out),
            CAttr::RunAsGroup => self.sc(at(&["securityContext", "runAsGroup"]), out),
            CAttr::ProcMount => self.sc(at(&["securityContext", "procMount"]), out),
            CAttr::AddCapabilities => self.sc(at(&["securityContext", "capabilities", "add"]), out),
            CAttr::EffRunAsUser | CAttr::EffRunAsGroup => {
                let key = if matches!(attr, CAttr::EffRunAsUser) { "runAsUser" } else { "runAsGroup" };
                let pod = root
                    .path(&["requestObject", "spec", key])
                    .map(Json::to_text)
                    .unwrap_or_else(|| "0".into());
                let Some(f) = at(&[key]) else { return false };
                for v in &f {
                    match v {
                        Some(v) => push_text(out, v),
                        None => out.push_str(&pod),
                    }
                }
                !f.is_empty()
            }
            CAttr::HostPort => {
                let Some(f) = at(&["ports"]) else { return false };
                let n = out.len();
                for ports in f.iter().flatten() {
                    let Json::Array(ports) = ports else { return false };
                    for p in ports {
                        if let Some(h) = p.get("hostPort") {
                            push_text(out, h);
                        } else if let Some(c) = p.get("containerPort") {
                            push_text(out, c);
                        }
                    }
                }
                out.len() > n
            }
        }
    }

    fn sc(&self, f: Option<Found<'_>>, out: &mut Values) -> bool {
        match f {
            Some(f) => push_skip_nil(out, &f),
            None => false,
        }
    }

    /// `ka.req.role.rules.<key>` (and the `ka.sourceips` shape): arrays under each rule, flattened.
    fn rules_field(&self, key: &str, arg: &FieldArg, out: &mut Values) -> bool {
        let Some(f) = gather(&self.ev.root, index_of(arg), &["requestObject", "rules", key]) else {
            return false;
        };
        let n = out.len();
        for v in f.iter().flatten() {
            if let Json::Array(a) = v {
                for x in a {
                    push_text(out, x);
                }
            }
        }
        out.len() > n
    }

    fn subject_names(&self, kind: &str, with_ns: bool, out: &mut Values) -> bool {
        let Some(subjects) = self.ev.root.path(&["requestObject", "subjects"]) else { return false };
        let Json::Array(subjects) = subjects else { return false };
        let n = out.len();
        for s in subjects {
            let (Some(k), Some(name)) = (s.get("kind"), s.get("name")) else { continue };
            if k.to_text() != kind {
                continue;
            }
            if with_ns {
                let Some(ns) = s.get("namespace") else { continue };
                out.push_str_with(|b| {
                    ns.write_text(b);
                    b.push(b':');
                    name.write_text(b);
                });
            } else {
                push_text(out, name);
            }
        }
        out.len() > n
    }

    fn ka(&self, field: &BoundField, out: &mut Values) -> bool {
        let root = &self.ev.root;
        if root.get("auditID").is_none() {
            return false;
        }
        let arg = &field.arg;
        if let Some((list, attr)) = container_field(field.id) {
            return self.container(list, attr, arg, out);
        }
        const ANN: &str = "annotations";
        match field.id {
            F::KaAuditid => push_at(out, root, &["auditID"]),
            F::KaStage => push_at(out, root, &["stage"]),
            F::KaAuthDecision => push_at(out, root, &[ANN, "authorization.k8s.io/decision"]),
            F::KaAuthReason => push_at(out, root, &[ANN, "authorization.k8s.io/reason"]),
            F::KaAuthOpenshiftDecision => push_at(out, root, &[ANN, "authentication.openshift.io/decision"]),
            F::KaAuthOpenshiftUsername => push_at(out, root, &[ANN, "authentication.openshift.io/username"]),
            F::KaValidationsAdmissionPolicyFailure => {
                push_at(out, root, &[ANN, "validation.policy.admission.k8s.io/validation_failure"])
            }
            F::KaSecurityPodViolations => {
                push_at(out, root, &[ANN, "pod-security.kubernetes.io/audit-violations"])
            }
            F::KaClusterName => push_at(out, root, &[ANN, "cluster_name"]),
            F::KaUserName => push_at(out, root, &["user", "username"]),
            F::KaUserGroups => push_array_at(out, root, &["user", "groups"]),
            F::KaImpuserName => push_at(out, root, &["impersonatedUser", "username"]),
            F::KaVerb => push_at(out, root, &["verb"]),
            F::KaUri => push_at(out, root, &["requestURI"]),
            F::KaUriParam => {
                let Some(uri) = root.get("requestURI") else { return false };
                let uri = uri.to_text();
                let Some(key) = arg.key() else { return false };
                let query = uri.split_once('?').map(|(_, q)| q).unwrap_or("");
                let query = query.split_once('#').map(|(q, _)| q).unwrap_or(query);
                match url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == key) {
                    Some((_, v)) => {
                        out.push_str(&v);
                        true
                    }
                    None => false,
                }
            }
            F::KaTargetName | F::KaReqConfigmapName => push_at(out, root, &["objectRef", "name"]),
            F::KaTargetNamespace => push_at(out, root, &["objectRef", "namespace"]),
            F::KaTargetResource => push_at(out, root, &["objectRef", "resource"]),
            F::KaTargetSubresource => push_at(out, root, &["objectRef", "subresource"]),
            F::KaTargetPodName => {
                let s = |k: &str| root.path(&["objectRef", k]).and_then(Json::as_str).unwrap_or("");
                s("resource") == "pods"
                    && s("subresource").is_empty()
                    && push_at(out, root, &["responseObject", "metadata", "name"])
            }
            F::KaReqBindingSubjects => push_array_at(out, root, &["requestObject", "subjects"]),
            F::KaReqBindingSubjectsUserNames => self.subject_names("User", false, out),
            F::KaReqBindingSubjectsGroupNames => self.subject_names("Group", false, out),
            F::KaReqBindingSubjectsServiceaccountNames => self.subject_names("ServiceAccount", false, out),
            F::KaReqBindingSubjectsServiceaccountNsNames => self.subject_names("ServiceAccount", true, out),
            F::KaReqBindingRole => push_at(out, root, &["requestObject", "roleRef", "name"]),
            F::KaReqBindingSubjectHasName => {
                out.push_str("true");
                true
            }
            F::KaReqConfigmapObj => push_at(out, root, &["requestObject", "data"]),
            F::KaReqContainerImage | F::KaReqContainerImageRepository => {
                let Some(f) = gather(root, Some(0), &["requestObject", "spec", "containers", "image"]) else {
                    return false;
                };
                let Some(Some(v)) = f.first() else { return false };
                let s = v.to_text();
                if field.id == F::KaReqContainerImage {
                    out.push_str(&s);
                } else {
                    out.push_str(image_repository(&s));
                }
                true
            }
            F::KaReqPodHostIpc => push_at(out, root, &["requestObject", "spec", "hostIPC"]),
            F::KaReqPodHostNetwork | F::KaReqContainerHostNetwork => {
                push_at(out, root, &["requestObject", "spec", "hostNetwork"])
            }
            F::KaReqPodHostPid => push_at(out, root, &["requestObject", "spec", "hostPID"]),
            F::KaReqContainerPrivileged => {
                let Some(f) = gather(
                    root,
                    None,
                    &["requestObject", "spec", "containers", "securityContext", "privileged"],
                ) else {
                    return false;
                };
                let any = f.iter().flatten().any(|v| matches!(v, Json::Bool(true)));
                out.push_str(if any { "true" } else { "false" });
                true
            }
            F::KaReqPodRunAsUser => {
                push_at(out, root, &["requestObject", "spec", "securityContext", "runAsUser"])
            }
            F::KaReqPodRunAsGroup => {
                push_at(out, root, &["requestObject", "spec", "securityContext", "runAsGroup"])
            }
            F::KaReqPodFsGroup => {
                push_at(out, root, &["requestObject", "spec", "securityContext", "fsGroup"])
            }
            F::KaReqPodSupplementalGroups => {
                push_array_at(out, root, &["requestObject", "spec", "securityContext", "supplementalGroups"])
            }
            F::KaReqRoleRules => push_array_at(out, root, &["requestObject", "rules"]),
            F::KaReqRoleRulesApiGroups => self.rules_field("apiGroups", arg, out),
            F::KaReqRoleRulesNonResourceUrls => self.rules_field("nonResourceURLs", arg, out),
            F::KaReqRoleRulesVerbs => self.rules_field("verbs", arg, out),
            F::KaReqRoleRulesResources => self.rules_field("resources", arg, out),
            F::KaReqServiceType => push_at(out, root, &["requestObject", "spec", "type"]),
            F::KaReqServicePorts => match gather(root, index_of(arg), &["requestObject", "spec", "ports"]) {
                Some(f) => push_skip_nil(out, &f),
                None => false,
            },
            F::KaReqVolumeHostpath => {
                let Some(key) = arg.key() else { return false };
                // libsinsp passes index 0 along with a key argument: only the first volume counts.
                let Some(f) =
                    gather(root, Some(0), &["requestObject", "spec", "volumes", "hostPath", "path"])
                else {
                    return false;
                };
                let (prefix, is_prefix) = match key.strip_suffix('*') {
                    Some(p) => (p, true),
                    None => (key, false),
                };
                let hit = f.iter().flatten().map(|v| v.to_text()).any(|p| {
                    if is_prefix {
                        p.starts_with(prefix)
                    } else {
                        p == key
                    }
                });
                out.push_str(if hit { "true" } else { "false" });
                true
            }
            F::KaReqPodVolumesHostpath => {
                match gather(root, index_of(arg), &["requestObject", "spec", "volumes", "hostPath", "path"]) {
                    Some(f) => push_skip_nil(out, &f),
                    None => false,
                }
            }
            F::KaReqPodVolumesFlexvolumeDriver => {
                match gather(
                    root,
                    index_of(arg),
                    &["requestObject", "spec", "volumes", "flexVolume", "driver"],
                ) {
                    Some(f) => push_skip_nil(out, &f),
                    None => false,
                }
            }
            F::KaReqPodVolumesVolumeType => {
                let Some(f) = gather(root, index_of(arg), &["requestObject", "spec", "volumes", ""]) else {
                    return false;
                };
                let n = out.len();
                for v in f.iter().flatten() {
                    if let Json::Object(m) = v {
                        for (k, _) in m {
                            if k != "name" {
                                out.push_str(k);
                            }
                        }
                    }
                }
                out.len() > n
            }
            F::KaRespName => push_at(out, root, &["responseObject", "metadata", "name"]),
            F::KaResponseCode => push_at(out, root, &["responseStatus", "code"]),
            F::KaResponseReason => push_at(out, root, &["responseStatus", "reason"]),
            F::KaUseragent => push_at(out, root, &["userAgent"]),
            F::KaSourceips => match root.get("sourceIPs") {
                Some(Json::Array(a)) => match index_of(arg) {
                    Some(i) => match a.get(i) {
                        Some(v) => {
                            push_text(out, v);
                            true
                        }
                        None => false,
                    },
                    None => {
                        for v in a {
                            push_text(out, v);
                        }
                        !a.is_empty()
                    }
                },
                _ => false,
            },
            _ => false,
        }
    }

    fn json(&self, field: &BoundField, out: &mut Values) -> bool {
        let root = &self.ev.root;
        match field.id {
            F::JsonValue | F::JevtValue => {
                let arg = field.arg.key().unwrap_or("");
                if arg.is_empty() {
                    out.push_str_with(|b| root.write_compact(b));
                    return true;
                }
                let arg = arg.strip_prefix('/').unwrap_or(arg);
                let mut v = root;
                for key in arg.split('/') {
                    let key = key.replace("~1", "/").replace("~0", "~");
                    match v.get_any(&key) {
                        Some(x) => v = x,
                        None => return false,
                    }
                }
                push_text(out, v);
                true
            }
            F::JsonObj | F::JevtObj => {
                out.push_str(&root.to_pretty());
                true
            }
            F::JsonRawtime | F::JevtRawtime => {
                out.push_str_with(|b| b.extend_from_slice(self.ev.ts.to_string().as_bytes()));
                true
            }
            _ => false,
        }
    }
}

impl EventAccessor for AuditAccessor<'_> {
    fn event_type(&self) -> Option<u16> {
        None
    }

    fn extract(&self, field: &BoundField, out: &mut Values) -> bool {
        let gen = harrier_engine::gen::GenFields {
            ts: self.ev.ts,
            num: self.num,
            first_ts: self.first_ts,
            hostname: self.hostname,
            source: SOURCE,
            plugin: "k8saudit",
        };
        if let Some(found) = gen.extract(field, out) {
            return found;
        }
        match field.info().class {
            harrier_engine::fields::FieldClass::K8sAudit => self.ka(field, out),
            harrier_engine::fields::FieldClass::Json => self.json(field, out),
            _ => false,
        }
    }
}
