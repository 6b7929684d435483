//! Every `ka.*` field, with index arguments and empty lists, plus `json.*`/`jevt.*` and the
//! generic `evt.*` fields of audit events. The last test checks that no registered `ka.*` field
//! was left out.

use harrier_engine::compile::{bind_field, Usage};
use harrier_engine::fields::{FieldClass, FIELDS};
use harrier_engine::{EventAccessor, Source, Value, Values};
use harrier_k8saudit::{AuditAccessor, AuditEvent, Json};
use std::cell::RefCell;
use std::collections::BTreeSet;

thread_local! {
    static SEEN: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
}

fn event(json: &str) -> AuditEvent {
    let root = Json::parse(json.as_bytes()).unwrap();
    AuditEvent { ts: 1_540_475_929_730_588_000, payload: root.to_compact().into(), root }
}

/// Extract `field` (written as in rules, `name[arg]`) from `ev`: `None` when absent.
fn ex(ev: &AuditEvent, field: &str) -> Option<Vec<String>> {
    let (name, arg) = match field.find('[') {
        Some(o) => (&field[..o], Some(&field[o + 1..field.len() - 1])),
        None => (field, None),
    };
    SEEN.with(|s| s.borrow_mut().insert(name.to_string()));
    let (bf, _) = bind_field(Source::K8sAudit, name, arg, Default::default(), Usage::Output)
        .unwrap_or_else(|e| panic!("{field}: {}", e.message));
    let acc = AuditAccessor::new(ev, 7);
    let mut v = Values::new();
    if !acc.extract(&bf, &mut v) {
        return None;
    }
    Some(
        v.iter()
            .map(|x| match x {
                Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
                Value::Uint(u) => u.to_string(),
                Value::Bool(b) => b.to_string(),
                other => format!("{other:?}"),
            })
            .collect(),
    )
}

fn one(s: &str) -> Option<Vec<String>> {
    Some(vec![s.to_string()])
}
fn many(s: &[&str]) -> Option<Vec<String>> {
    Some(s.iter().map(|x| x.to_string()).collect())
}

const POD: &str = r#"{
  "kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse",
  "auditID":"id-1","stage":"ResponseComplete",
  "requestURI":"/api/v1/namespaces/default/pods?fieldManager=kubectl-client-side-apply&dryRun=All&x=a%20b&x=2",
  "verb":"create",
  "user":{"username":"alice","groups":["system:masters","system:authenticated"]},
  "impersonatedUser":{"username":"bob"},
  "sourceIPs":["10.0.0.1","::1"],
  "userAgent":"kubectl/v1.29",
  "objectRef":{"resource":"pods","namespace":"default","name":"web","apiVersion":"v1"},
  "responseStatus":{"metadata":{},"code":201,"reason":"Created"},
  "annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed",
    "authentication.openshift.io/decision":"allow","authentication.openshift.io/username":"oc-user",
    "validation.policy.admission.k8s.io/validation_failure":"[{\"message\":\"no\"}]",
    "pod-security.kubernetes.io/audit-violations":"privileged (container \"b\")","cluster_name":"prod-1"},
  "requestObject":{"kind":"Pod","spec":{
    "hostIPC":false,"hostNetwork":true,"hostPID":false,
    "runAsUser":1000,
    "securityContext":{"runAsUser":2000,"runAsGroup":3000,"fsGroup":4000,"supplementalGroups":[5,6]},
    "containers":[
      {"name":"a","image":"nginx:1.25","command":["nginx","-g"],"args":["daemon off;"],
       "ports":[{"containerPort":80},{"containerPort":443,"hostPort":8443}],
       "securityContext":{"runAsUser":0,"readOnlyRootFilesystem":true,"capabilities":{"add":["NET_ADMIN","SYS_TIME"]}}},
      {"name":"b","image":"registry.local:5000/tools/busybox@sha256:abc","runAsUser":7,
       "securityContext":{"privileged":true,"allowPrivilegeEscalation":true,"runAsGroup":10,"procMount":"Unmasked"}}
    ],
    "initContainers":[{"name":"init","image":"alpine","command":["sh","-c","true"],"ports":[{"hostPort":53}],
       "securityContext":{"privileged":false}}],
    "ephemeralContainers":[{"name":"debug","image":"busybox:1.36","args":["sleep","1"],
       "securityContext":{"capabilities":{"add":["SYS_PTRACE"]}}}],
    "volumes":[{"name":"docker","hostPath":{"path":"/var/run/docker.sock","type":"Socket"}},
               {"name":"etc","hostPath":{"path":"/etc"}},
               {"name":"flex","flexVolume":{"driver":"example/lvm"}},
               {"name":"cfg","configMap":{"name":"x"}}]}},
  "responseObject":{"kind":"Pod","metadata":{"name":"web-1"}},
  "stageTimestamp":"2018-10-25T13:58:49.730588Z"
}"#;

#[test]
fn request_fields() {
    let ev = event(POD);
    assert_eq!(ex(&ev, "ka.auditid"), one("id-1"));
    assert_eq!(ex(&ev, "ka.stage"), one("ResponseComplete"));
    assert_eq!(ex(&ev, "ka.verb"), one("create"));
    assert_eq!(
        ex(&ev, "ka.uri"),
        one("/api/v1/namespaces/default/pods?fieldManager=kubectl-client-side-apply&dryRun=All&x=a%20b&x=2")
    );
    assert_eq!(ex(&ev, "ka.uri.param[dryRun]"), one("All"));
    assert_eq!(ex(&ev, "ka.uri.param[x]"), one("a b"), "first value, decoded");
    assert_eq!(ex(&ev, "ka.uri.param[nope]"), None);
    assert_eq!(ex(&ev, "ka.useragent"), one("kubectl/v1.29"));
    assert_eq!(ex(&ev, "ka.user.name"), one("alice"));
    assert_eq!(ex(&ev, "ka.user.groups"), many(&["system:masters", "system:authenticated"]));
    assert_eq!(ex(&ev, "ka.impuser.name"), one("bob"));
    assert_eq!(ex(&ev, "ka.sourceips"), many(&["10.0.0.1", "::1"]));
    assert_eq!(ex(&ev, "ka.sourceips[1]"), one("::1"));
    assert_eq!(ex(&ev, "ka.sourceips[2]"), None);
    assert_eq!(ex(&ev, "ka.auth.decision"), one("allow"));
    assert_eq!(ex(&ev, "ka.auth.reason"), one("RBAC: allowed"));
    assert_eq!(ex(&ev, "ka.auth.openshift.decision"), one("allow"));
    assert_eq!(ex(&ev, "ka.auth.openshift.username"), one("oc-user"));
    assert_eq!(ex(&ev, "ka.validations.admission.policy.failure"), one(r#"[{"message":"no"}]"#));
    assert_eq!(ex(&ev, "ka.security.pod.violations"), one(r#"privileged (container "b")"#));
    assert_eq!(ex(&ev, "ka.cluster.name"), one("prod-1"));
    assert_eq!(ex(&ev, "ka.target.name"), one("web"));
    assert_eq!(ex(&ev, "ka.target.namespace"), one("default"));
    assert_eq!(ex(&ev, "ka.target.resource"), one("pods"));
    assert_eq!(ex(&ev, "ka.target.subresource"), None);
    assert_eq!(ex(&ev, "ka.target.pod.name"), one("web-1"));
    assert_eq!(ex(&ev, "ka.resp.name"), one("web-1"));
    assert_eq!(ex(&ev, "ka.response.code"), one("201"), "numbers become their JSON text");
    assert_eq!(ex(&ev, "ka.response.reason"), one("Created"));
}

#[test]
fn pod_fields() {
    let ev = event(POD);
    assert_eq!(ex(&ev, "ka.req.pod.host_ipc"), one("false"));
    assert_eq!(ex(&ev, "ka.req.pod.host_network"), one("true"));
    assert_eq!(ex(&ev, "ka.req.container.host_network"), one("true"));
    assert_eq!(ex(&ev, "ka.req.pod.host_pid"), one("false"));
    assert_eq!(ex(&ev, "ka.req.pod.run_as_user"), one("2000"));
    assert_eq!(ex(&ev, "ka.req.pod.run_as_group"), one("3000"));
    assert_eq!(ex(&ev, "ka.req.pod.fs_group"), one("4000"));
    assert_eq!(ex(&ev, "ka.req.pod.supplemental_groups"), many(&["5", "6"]));

    assert_eq!(ex(&ev, "ka.req.pod.containers.name"), many(&["a", "b"]));
    assert_eq!(ex(&ev, "ka.req.pod.containers.name[1]"), one("b"));
    assert_eq!(ex(&ev, "ka.req.pod.containers.name[2]"), None, "index out of range");
    assert_eq!(
        ex(&ev, "ka.req.pod.containers.image"),
        many(&["nginx:1.25", "registry.local:5000/tools/busybox@sha256:abc"])
    );
    assert_eq!(ex(&ev, "ka.req.pod.containers.image[0]"), one("nginx:1.25"));
    // The plugin's cut: at the first ':' then '@' (so a registry port cuts the name short).
    assert_eq!(ex(&ev, "ka.req.pod.containers.image.repository"), many(&["nginx", "registry.local"]));
    assert_eq!(ex(&ev, "ka.req.pod.containers.image.repository[1]"), one("registry.local"));
    assert_eq!(ex(&ev, "ka.req.container.image"), one("nginx:1.25"));
    assert_eq!(ex(&ev, "ka.req.container.image.repository"), one("nginx"));
    assert_eq!(
        ex(&ev, "ka.req.pod.containers.command"),
        one("nginx -g"),
        "containers without one are skipped"
    );
    assert_eq!(ex(&ev, "ka.req.pod.containers.command[1]"), None);
    assert_eq!(ex(&ev, "ka.req.pod.containers.args"), one("daemon off;"));
    assert_eq!(ex(&ev, "ka.req.pod.containers.privileged"), one("true"), "only containers that set it");
    assert_eq!(ex(&ev, "ka.req.pod.containers.privileged[0]"), None);
    assert_eq!(ex(&ev, "ka.req.pod.containers.privileged[1]"), one("true"));
    assert_eq!(ex(&ev, "ka.req.container.privileged"), one("true"));
    assert_eq!(ex(&ev, "ka.req.pod.containers.allow_privilege_escalation"), one("true"));
    assert_eq!(ex(&ev, "ka.req.pod.containers.read_only_fs"), one("true"));
    assert_eq!(ex(&ev, "ka.req.pod.containers.run_as_user"), one("0"));
    assert_eq!(ex(&ev, "ka.req.pod.containers.run_as_group"), one("10"));
    // Quirk: read outside securityContext; pod-level spec.runAsUser is the default.
    assert_eq!(ex(&ev, "ka.req.pod.containers.eff_run_as_user"), many(&["1000", "7"]));
    assert_eq!(ex(&ev, "ka.req.pod.containers.eff_run_as_user[1]"), one("7"));
    assert_eq!(ex(&ev, "ka.req.pod.containers.eff_run_as_group"), many(&["0", "0"]));
    assert_eq!(ex(&ev, "ka.req.pod.containers.proc_mount"), one("Unmasked"));
    assert_eq!(ex(&ev, "ka.req.pod.containers.add_capabilities"), one(r#"["NET_ADMIN","SYS_TIME"]"#));
    assert_eq!(ex(&ev, "ka.req.pod.containers.host_port"), many(&["80", "8443"]));
    assert_eq!(ex(&ev, "ka.req.pod.containers.host_port[1]"), None, "second container has no ports");

    assert_eq!(ex(&ev, "ka.req.pod.initContainers.name"), one("init"));
    assert_eq!(ex(&ev, "ka.req.pod.initContainers.image"), one("alpine"));
    assert_eq!(ex(&ev, "ka.req.pod.initContainers.image.repository"), one("alpine"));
    assert_eq!(ex(&ev, "ka.req.pod.initContainers.command"), one("sh -c true"));
    assert_eq!(ex(&ev, "ka.req.pod.initContainers.args"), None);
    assert_eq!(ex(&ev, "ka.req.pod.initContainers.privileged"), one("false"));
    assert_eq!(ex(&ev, "ka.req.pod.initContainers.privileged[0]"), one("false"));
    assert_eq!(ex(&ev, "ka.req.pod.initContainers.host_port"), one("53"));
    for f in [
        "allow_privilege_escalation",
        "read_only_fs",
        "run_as_user",
        "run_as_group",
        "proc_mount",
        "add_capabilities",
    ] {
        assert_eq!(ex(&ev, &format!("ka.req.pod.initContainers.{f}")), None, "{f}: empty list is absent");
    }
    assert_eq!(ex(&ev, "ka.req.pod.initContainers.eff_run_as_user"), one("1000"));
    assert_eq!(ex(&ev, "ka.req.pod.initContainers.eff_run_as_group"), one("0"));

    assert_eq!(ex(&ev, "ka.req.pod.ephemeralContainers.name"), one("debug"));
    assert_eq!(ex(&ev, "ka.req.pod.ephemeralContainers.image"), one("busybox:1.36"));
    assert_eq!(ex(&ev, "ka.req.pod.ephemeralContainers.image.repository"), one("busybox"));
    assert_eq!(ex(&ev, "ka.req.pod.ephemeralContainers.command"), None);
    assert_eq!(ex(&ev, "ka.req.pod.ephemeralContainers.args"), one("sleep 1"));
    assert_eq!(ex(&ev, "ka.req.pod.ephemeralContainers.add_capabilities"), one(r#"["SYS_PTRACE"]"#));
    assert_eq!(ex(&ev, "ka.req.pod.ephemeralContainers.add_capabilities[1]"), None);
    for f in [
        "privileged",
        "allow_privilege_escalation",
        "read_only_fs",
        "run_as_user",
        "run_as_group",
        "proc_mount",
        "host_port",
    ] {
        assert_eq!(ex(&ev, &format!("ka.req.pod.ephemeralContainers.{f}")), None, "{f}");
    }
    assert_eq!(ex(&ev, "ka.req.pod.ephemeralContainers.eff_run_as_user"), one("1000"));
    assert_eq!(ex(&ev, "ka.req.pod.ephemeralContainers.eff_run_as_group"), one("0"));

    assert_eq!(ex(&ev, "ka.req.pod.volumes.hostpath"), many(&["/var/run/docker.sock", "/etc"]));
    assert_eq!(ex(&ev, "ka.req.pod.volumes.hostpath[1]"), one("/etc"));
    assert_eq!(ex(&ev, "ka.req.pod.volumes.hostpath[2]"), None);
    assert_eq!(ex(&ev, "ka.req.pod.volumes.flexvolume_driver"), one("example/lvm"));
    assert_eq!(
        ex(&ev, "ka.req.pod.volumes.volume_type"),
        many(&["hostPath", "hostPath", "flexVolume", "configMap"])
    );
    assert_eq!(ex(&ev, "ka.req.pod.volumes.volume_type[3]"), one("configMap"));
    assert_eq!(ex(&ev, "ka.req.volume.hostpath[/var/run/docker.sock]"), one("true"));
    assert_eq!(ex(&ev, "ka.req.volume.hostpath[/var/run*]"), one("true"));
    // libsinsp passes index 0 with a key argument: the second volume is not looked at.
    assert_eq!(ex(&ev, "ka.req.volume.hostpath[/etc]"), one("false"));
}

#[test]
fn pod_without_containers_or_volumes() {
    let ev = event(
        r#"{"kind":"Event","auditID":"x","stageTimestamp":"2018-10-25T13:58:49Z",
            "requestObject":{"spec":{"containers":[],"volumes":[]}}}"#,
    );
    assert_eq!(ex(&ev, "ka.req.pod.containers.image"), None, "empty list is absent");
    assert_eq!(ex(&ev, "ka.req.pod.containers.privileged"), None);
    assert_eq!(ex(&ev, "ka.req.container.image"), None);
    assert_eq!(ex(&ev, "ka.req.container.privileged"), one("false"));
    assert_eq!(ex(&ev, "ka.req.pod.volumes.hostpath"), None);
    assert_eq!(ex(&ev, "ka.req.volume.hostpath[/etc]"), None);
    assert_eq!(ex(&ev, "ka.target.pod.name"), None);

    // A container without an image makes the image lists absent (the plugin reports an error).
    let ev = event(
        r#"{"kind":"Event","auditID":"x","requestObject":{"spec":{"containers":[{"image":"a"},{"name":"b"}]}}}"#,
    );
    assert_eq!(ex(&ev, "ka.req.pod.containers.image"), None);
    assert_eq!(ex(&ev, "ka.req.pod.containers.image.repository"), None);
    assert_eq!(ex(&ev, "ka.req.pod.containers.name"), None);
    assert_eq!(ex(&ev, "ka.req.pod.containers.image[0]"), one("a"));
    assert_eq!(ex(&ev, "ka.req.pod.containers.name[1]"), one("b"));
    assert_eq!(ex(&ev, "ka.req.container.privileged"), one("false"));
    // Wrong JSON type: absent, not a crash.
    let ev = event(
        r#"{"kind":"Event","auditID":"x","user":{"groups":"notalist"},"requestObject":{"subjects":{}}}"#,
    );
    assert_eq!(ex(&ev, "ka.user.groups"), None);
    assert_eq!(ex(&ev, "ka.req.binding.subjects"), None);
    assert_eq!(ex(&ev, "ka.req.binding.subjects.user_names"), None);
}

const BINDING: &str = r#"{"kind":"Event","auditID":"b-1","stage":"ResponseComplete","verb":"create",
  "objectRef":{"resource":"clusterrolebindings","name":"crb"},
  "requestObject":{"kind":"ClusterRoleBinding","roleRef":{"kind":"ClusterRole","name":"cluster-admin"},
    "subjects":[{"kind":"User","name":"alice"},{"kind":"Group","name":"devs"},
                {"kind":"ServiceAccount","name":"sa1","namespace":"ns1"},{"kind":"ServiceAccount","name":"sa2"}]},
  "stageTimestamp":"2018-10-25T13:58:49Z"}"#;

#[test]
fn binding_fields() {
    let ev = event(BINDING);
    assert_eq!(
        ex(&ev, "ka.req.binding.subjects"),
        many(&[
            r#"{"kind":"User","name":"alice"}"#,
            r#"{"kind":"Group","name":"devs"}"#,
            r#"{"kind":"ServiceAccount","name":"sa1","namespace":"ns1"}"#,
            r#"{"kind":"ServiceAccount","name":"sa2"}"#,
        ])
    );
    assert_eq!(ex(&ev, "ka.req.binding.subjects.user_names"), one("alice"));
    assert_eq!(ex(&ev, "ka.req.binding.subjects.group_names"), one("devs"));
    assert_eq!(ex(&ev, "ka.req.binding.subjects.serviceaccount_names"), many(&["sa1", "sa2"]));
    assert_eq!(ex(&ev, "ka.req.binding.subjects.serviceaccount_ns_names"), one("ns1:sa1"));
    assert_eq!(ex(&ev, "ka.req.binding.role"), one("cluster-admin"));
    assert_eq!(ex(&ev, "ka.req.binding.subject.has_name[anything]"), one("true"));
    // No subjects at all: the name lists are empty, hence absent.
    let ev = event(r#"{"kind":"Event","auditID":"b-2","requestObject":{}}"#);
    assert_eq!(ex(&ev, "ka.req.binding.subjects.user_names"), None);
    assert_eq!(ex(&ev, "ka.req.binding.subjects"), None);
}

const ROLE: &str = r#"{"kind":"Event","auditID":"r-1",
  "objectRef":{"resource":"configmaps","name":"my-cm","namespace":"default"},
  "requestObject":{"kind":"ClusterRole","data":{"b":"2","a":"aws_access_key_id=x"},
    "rules":[{"apiGroups":[""],"resources":["pods","pods/exec"],"verbs":["get","create"]},
             {"nonResourceURLs":["/healthz"],"verbs":["*"]}],
    "spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}},
  "stageTimestamp":"2018-10-25T13:58:49Z"}"#;

#[test]
fn role_configmap_service_fields() {
    let ev = event(ROLE);
    assert_eq!(
        ex(&ev, "ka.req.role.rules"),
        many(&[
            r#"{"apiGroups":[""],"resources":["pods","pods/exec"],"verbs":["get","create"]}"#,
            r#"{"nonResourceURLs":["/healthz"],"verbs":["*"]}"#,
        ])
    );
    assert_eq!(ex(&ev, "ka.req.role.rules.verbs"), many(&["get", "create", "*"]));
    assert_eq!(ex(&ev, "ka.req.role.rules.verbs[1]"), one("*"));
    assert_eq!(ex(&ev, "ka.req.role.rules.verbs[2]"), None);
    assert_eq!(ex(&ev, "ka.req.role.rules.resources"), many(&["pods", "pods/exec"]));
    assert_eq!(ex(&ev, "ka.req.role.rules.resources[1]"), None, "second rule has no resources");
    assert_eq!(ex(&ev, "ka.req.role.rules.apiGroups"), one(""));
    assert_eq!(ex(&ev, "ka.req.role.rules.nonResourceURLs"), one("/healthz"));
    assert_eq!(ex(&ev, "ka.req.configmap.name"), one("my-cm"));
    assert_eq!(
        ex(&ev, "ka.req.configmap.obj"),
        one(r#"{"b":"2","a":"aws_access_key_id=x"}"#),
        "key order kept"
    );
    assert_eq!(ex(&ev, "ka.req.service.type"), one("NodePort"));
    assert_eq!(ex(&ev, "ka.req.service.ports"), one(r#"[{"port":80,"nodePort":30080}]"#));
    assert_eq!(
        ex(&ev, "ka.req.service.ports[5]"),
        one(r#"[{"port":80,"nodePort":30080}]"#),
        "index has no effect"
    );
}

#[test]
fn no_audit_id_no_ka_fields_but_json_fields() {
    let ev = event(r#"{"kind":"Event","stage":"ResponseComplete","verb":"get","a/b":{"~x":[1,{"y":true}]}}"#);
    assert_eq!(ex(&ev, "ka.stage"), None);
    assert_eq!(ex(&ev, "ka.verb"), None);
    assert_eq!(ex(&ev, "ka.req.binding.subject.has_name[x]"), None);
    assert_eq!(ex(&ev, "jevt.value[/stage]"), one("ResponseComplete"));
    assert_eq!(ex(&ev, "json.value[/a~1b/~0x/1/y]"), one("true"));
    assert_eq!(ex(&ev, "json.value[/a~1b/~0x]"), one(r#"[1,{"y":true}]"#));
    assert_eq!(ex(&ev, "json.value[/a~1b/~0x/2]"), None);
    assert_eq!(ex(&ev, "json.value[/nope]"), None);
    assert_eq!(ex(&ev, "jevt.rawtime"), one("1540475929730588000"));
    assert_eq!(ex(&ev, "json.rawtime"), one("1540475929730588000"));
    let obj = ex(&ev, "jevt.obj").unwrap();
    assert!(obj[0].starts_with("{\n  \"kind\": \"Event\",\n  \"stage\""), "{}", obj[0]);
    assert_eq!(ex(&ev, "json.obj"), Some(obj));
}

#[test]
fn generic_fields() {
    let ev = event(BINDING);
    assert_eq!(ex(&ev, "evt.source"), one("k8s_audit"));
    assert_eq!(ex(&ev, "evt.num"), one("7"));
    assert_eq!(ex(&ev, "evt.rawtime"), one("1540475929730588000"));
    assert_eq!(ex(&ev, "evt.time.iso8601"), one("2018-10-25T13:58:49.730588000+0000"));
    assert_eq!(ex(&ev, "evt.pluginname"), one("k8saudit"));
}

/// Run last by name order is not guaranteed, so each test records what it read and this one
/// reads every field through the same helper first.
#[test]
fn every_registered_ka_field_is_covered() {
    request_fields();
    pod_fields();
    pod_without_containers_or_volumes();
    binding_fields();
    role_configmap_service_fields();
    no_audit_id_no_ka_fields_but_json_fields();
    let seen = SEEN.with(|s| s.borrow().clone());
    let missing: Vec<&str> = FIELDS
        .iter()
        .filter(|f| matches!(f.class, FieldClass::K8sAudit | FieldClass::Json))
        .map(|f| f.name)
        .filter(|n| !seen.contains(*n))
        .collect();
    assert!(missing.is_empty(), "fields without a test: {missing:?}");
    let ka = FIELDS.iter().filter(|f| f.name.starts_with("ka.")).count();
    assert!(ka >= 100, "{ka} ka.* fields registered");
}
