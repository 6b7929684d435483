//! The `plugins:` and `load_plugins:` keys of falco.yaml, resolved into what Harrier runs: plugins
//! it serves natively (k8saudit, json, container) and plugin libraries to host.

use harrier_k8saudit::{InitConfig, OpenParams};
use serde_yaml::Value;
use std::path::{Path, PathBuf};

/// Where Falco resolves a relative `library_path` (`<share>/falco/plugins/`).
pub const FALCO_PLUGINS_DIR: &str = "/usr/share/falco/plugins";

/// One `plugins:` entry as written.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginEntry {
    pub name: String,
    pub library_path: Option<String>,
    /// A string (JSON) or a map (Falco turns a map into a JSON string).
    pub init_config: Option<Value>,
    pub open_params: Option<String>,
}

impl PluginEntry {
    /// `init_config` as the JSON text a plugin's `init` receives.
    pub fn init_config_json(&self) -> Result<String, String> {
        match &self.init_config {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => {
                serde_json::to_string(v).map_err(|e| format!("plugin {}: init_config: {e}", self.name))
            }
        }
    }

    /// The library file: absolute as given, relative under [`FALCO_PLUGINS_DIR`] (no escaping it).
    pub fn library_file(&self) -> Result<PathBuf, String> {
        let Some(lib) = self.library_path.as_deref().filter(|s| !s.is_empty()) else {
            return Err(format!("plugin '{}': library_path is missing", self.name));
        };
        let p = Path::new(lib);
        if p.is_absolute() {
            return Ok(p.to_path_buf());
        }
        if p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(format!(
                "plugin '{}': library_path '{lib}' may not leave {FALCO_PLUGINS_DIR}",
                self.name
            ));
        }
        Ok(Path::new(FALCO_PLUGINS_DIR).join(p))
    }
}

/// The k8saudit plugin, served natively.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeK8sAudit {
    pub init: InitConfig,
    pub open: OpenParams,
}

/// What the configuration asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginSet {
    /// Entries to load, in configuration order.
    pub entries: Vec<PluginEntry>,
    pub k8saudit: Option<NativeK8sAudit>,
    /// `json` requested (served natively: its fields are always there for plugin sources).
    pub json: bool,
    /// Plugins that need their library loaded (anything Harrier does not serve natively).
    pub hosted: Vec<PluginEntry>,
}

/// Names served without their library, and why.
pub fn is_native(name: &str) -> bool {
    matches!(name, "k8saudit" | "json" | "container")
}

impl PluginSet {
    /// Read `plugins` and `load_plugins` (absent `load_plugins` = every entry, as in Falco).
    pub fn from_config(plugins: Option<&Value>, load_plugins: Option<&Value>) -> Result<PluginSet, String> {
        let mut all = Vec::new();
        match plugins {
            None | Some(Value::Null) => {}
            Some(Value::Sequence(items)) => {
                for (i, it) in items.iter().enumerate() {
                    let Value::Mapping(m) = it else {
                        return Err(format!(
                            "config key 'plugins': entry {i} must be a mapping with name and library_path"
                        ));
                    };
                    let s = |k: &str| -> Result<Option<String>, String> {
                        match m.get(k) {
                            None | Some(Value::Null) => Ok(None),
                            Some(Value::String(s)) => Ok(Some(s.clone())),
                            Some(Value::Number(n)) => Ok(Some(n.to_string())),
                            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
                            Some(_) => Err(format!("config key 'plugins[{i}].{k}' must be a string")),
                        }
                    };
                    let name = s("name")?
                        .filter(|n| !n.is_empty())
                        .ok_or_else(|| format!("config key 'plugins[{i}]': name is missing"))?;
                    if all.iter().any(|e: &PluginEntry| e.name == name) {
                        return Err(format!("config key 'plugins': plugin '{name}' is listed twice"));
                    }
                    all.push(PluginEntry {
                        name,
                        library_path: s("library_path")?,
                        init_config: m.get("init_config").cloned(),
                        open_params: s("open_params")?,
                    });
                }
            }
            Some(_) => return Err("config key 'plugins' must be a list".into()),
        }
        let entries = match load_plugins {
            None | Some(Value::Null) => all,
            Some(Value::Sequence(names)) => {
                let mut out = Vec::new();
                for n in names {
                    let Some(n) = n.as_str() else {
                        return Err("config key 'load_plugins' must be a list of names".into());
                    };
                    match all.iter().find(|e| e.name == n) {
                        Some(e) => {
                            if !out.iter().any(|o: &PluginEntry| o.name == n) {
                                out.push(e.clone())
                            }
                        }
                        None => {
                            return Err(format!(
                                "Cannot load plugin '{n}': plugin config not found for given name (load_plugins names an entry missing from plugins)"
                            ))
                        }
                    }
                }
                out
            }
            Some(_) => return Err("config key 'load_plugins' must be a list".into()),
        };
        let mut set = PluginSet { entries: entries.clone(), ..Default::default() };
        for e in entries {
            match e.name.as_str() {
                "k8saudit" => {
                    let init = InitConfig::from_yaml(e.init_config.as_ref())
                        .map_err(|m| format!("plugin 'k8saudit': {m}"))?;
                    let open = OpenParams::parse(e.open_params.as_deref().unwrap_or(""))
                        .map_err(|m| format!("plugin 'k8saudit': open_params: {m}"))?;
                    set.k8saudit = Some(NativeK8sAudit { init, open });
                }
                "json" => set.json = true,
                "container" => {}
                _ => {
                    let lib = e.library_file()?;
                    if !lib.is_file() {
                        return Err(format!(
                            "plugin '{}': library {} not found{}",
                            e.name,
                            lib.display(),
                            if e.name.starts_with("k8saudit-") {
                                " (the cloud variants of k8saudit run through the plugin host: install the plugin's .so)"
                            } else {
                                ""
                            }
                        ));
                    }
                    set.hosted.push(e);
                }
            }
        }
        Ok(set)
    }

    /// Event sources the loaded plugins provide (native ones; hosted sources are added by the host).
    pub fn native_sources(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.k8saudit.is_some() {
            v.push(harrier_k8saudit::SOURCE);
        }
        v
    }
}

/// Which sources run: `syscall` plus every plugin source, narrowed by `--enable-source` (only
/// those) or `--disable-source` (all but those). Falco's rules: the two flags do not mix, unknown
/// names are errors, and at least one source must stay.
pub fn enabled_sources(
    available: &[String],
    enable: &[String],
    disable: &[String],
) -> Result<Vec<String>, String> {
    if !enable.is_empty() && !disable.is_empty() {
        return Err("you cannot use both --enable-source and --disable-source".into());
    }
    for n in enable.iter().chain(disable) {
        if !available.contains(n) {
            return Err(format!(
                "Attempted {} an unknown event source: {n} (available: {})",
                if enable.contains(n) { "enabling" } else { "disabling" },
                available.join(", ")
            ));
        }
    }
    let out: Vec<String> = if !enable.is_empty() {
        available.iter().filter(|s| enable.contains(s)).cloned().collect()
    } else {
        available.iter().filter(|s| !disable.contains(s)).cloned().collect()
    };
    if out.is_empty() {
        return Err("Must enable at least one event source".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    /// The exact shape falcosecurity/testing's k8saudit suite generates.
    #[test]
    fn testing_suite_shape() {
        let cfg = y("
stdout_output:
  enabled: true
plugins:
  - name: k8saudit
    library_path: libk8saudit.so
    open_params: /tmp/x/create_nginx_pod_privileged.json
  - name: json
    library_path: libjson.so

load_plugins:
  - k8saudit

  - json
");
        let set = PluginSet::from_config(cfg.get("plugins"), cfg.get("load_plugins")).unwrap();
        let k = set.k8saudit.unwrap();
        assert_eq!(k.open, OpenParams::Replay("/tmp/x/create_nginx_pod_privileged.json".into()));
        assert_eq!(k.init, InitConfig::default());
        assert!(set.json);
        assert!(set.hosted.is_empty(), "no library needed for the built-ins");
    }

    #[test]
    fn load_plugins_selects_and_errors_are_clear() {
        let cfg = y("plugins: [{name: k8saudit, library_path: libk8saudit.so, init_config: {maxEventSize: 10}}, {name: json, library_path: libjson.so}]\nload_plugins: [json]");
        let set = PluginSet::from_config(cfg.get("plugins"), cfg.get("load_plugins")).unwrap();
        assert!(set.k8saudit.is_none() && set.json);
        let set = PluginSet::from_config(cfg.get("plugins"), None).unwrap();
        assert_eq!(set.k8saudit.unwrap().init.max_event_size, 10);

        let cfg = y("plugins: [{name: json, library_path: libjson.so}]\nload_plugins: [k8saudit]");
        let e = PluginSet::from_config(cfg.get("plugins"), cfg.get("load_plugins")).unwrap_err();
        assert!(e.contains("Cannot load plugin 'k8saudit'"), "{e}");

        let cfg = y("plugins: [{name: cloudtrail, library_path: /nonexistent/libcloudtrail.so}]");
        let e = PluginSet::from_config(cfg.get("plugins"), None).unwrap_err();
        assert!(
            e.contains("cloudtrail")
                && e.contains("/nonexistent/libcloudtrail.so")
                && e.contains("not found"),
            "{e}"
        );
        let cfg = y("plugins: [{name: k8saudit-eks, library_path: libk8saudit-eks.so}]");
        let e = PluginSet::from_config(cfg.get("plugins"), None).unwrap_err();
        assert!(
            e.contains("/usr/share/falco/plugins/libk8saudit-eks.so") && e.contains("plugin host"),
            "{e}"
        );
        let cfg = y("plugins: [{name: x, library_path: ../../etc/evil.so}]");
        assert!(PluginSet::from_config(cfg.get("plugins"), None).unwrap_err().contains("may not leave"));
        let cfg = y("plugins: [{name: k8saudit, open_params: 'gopher://x'}]");
        assert!(PluginSet::from_config(cfg.get("plugins"), None)
            .unwrap_err()
            .contains("scheme \"gopher\" is not supported"));
    }

    #[test]
    fn source_selection() {
        let avail = vec!["syscall".to_string(), "k8s_audit".to_string()];
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(enabled_sources(&avail, &[], &[]).unwrap(), avail);
        assert_eq!(enabled_sources(&avail, &s(&["k8s_audit"]), &[]).unwrap(), s(&["k8s_audit"]));
        assert_eq!(enabled_sources(&avail, &[], &s(&["k8s_audit"])).unwrap(), s(&["syscall"]));
        assert!(enabled_sources(&avail, &s(&["okta"]), &[])
            .unwrap_err()
            .contains("unknown event source: okta"));
        assert!(enabled_sources(&avail, &s(&["syscall"]), &s(&["k8s_audit"])).is_err());
        assert!(enabled_sources(&avail, &[], &s(&["syscall", "k8s_audit"])).is_err());
    }

    /// The shipped deployment files agree with the defaults: webhook on 9765 at /k8s-audit.
    #[test]
    fn shipped_deploy_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/k8saudit");
        let cfg: Value =
            serde_yaml::from_str(&std::fs::read_to_string(dir.join("falco.yaml")).unwrap()).unwrap();
        let set = PluginSet::from_config(cfg.get("plugins"), cfg.get("load_plugins")).unwrap();
        assert_eq!(
            set.k8saudit.unwrap().open,
            OpenParams::Webhook {
                tls: false,
                addr: "0.0.0.0:9765".parse().unwrap(),
                path: "/k8s-audit".into()
            }
        );
        let hook: Value =
            serde_yaml::from_str(&std::fs::read_to_string(dir.join("webhook-config.yaml")).unwrap()).unwrap();
        let server = hook["clusters"][0]["cluster"]["server"].as_str().unwrap();
        assert!(server.ends_with(":9765/k8s-audit"), "{server}");
        let policy: Value =
            serde_yaml::from_str(&std::fs::read_to_string(dir.join("audit-policy.yaml")).unwrap()).unwrap();
        assert_eq!(policy["kind"], "Policy");
        assert_eq!(policy["apiVersion"], "audit.k8s.io/v1");
    }
}
