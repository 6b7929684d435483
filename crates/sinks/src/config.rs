//! The forwarder's configuration: falcosidekick's YAML keys (one section per output, enabled
//! when its address is set), Falco's own `syslog_output` / `http_output`, and Harrier's
//! extensions: `spooldir`, `maxbodybytes`, per-output `filter`, `name` and `queue`, and a
//! `sinks:` list for several instances of any output (`- type: slack` followed by that
//! output's keys).

use crate::common::{CommonConfig, KvMap};
use crate::metrics::Metrics;
use crate::queue::QueueConfig;
use crate::router::{RouteConfig, Router};
use crate::sink::Sink;
use serde::Deserialize;
use serde_yaml::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::aws::AwsConfig;
use crate::discord::DiscordConfig;
use crate::elasticsearch::ElasticsearchConfig;
use crate::kafka::KafkaConfig;
use crate::loki::LokiConfig;
use crate::mattermost::MattermostConfig;
use crate::nats::NatsConfig;
use crate::prometheus::PrometheusConfig;
use crate::redis::RedisConfig;
use crate::slack::SlackConfig;
use crate::smtp::SmtpConfig;
use crate::syslog::SyslogConfig;
use crate::teams::TeamsConfig;
use crate::webhook::WebhookConfig;

use crate::alertmanager::AlertmanagerConfig;
use crate::mqtt::MqttConfig;
use crate::otlp::{OtlpConfig, OtlpLogsConfig};
use crate::pagerduty::PagerdutyConfig;
use crate::splunk::SplunkConfig;

use crate::hooks::{
    DatadoglogsConfig, GooglechatConfig, KafkarestConfig, OpsgenieConfig, TelegramConfig, WebexConfig,
};

/// Falco's `syslog_output`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct FalcoSyslogOutput {
    pub enabled: bool,
}

/// Falco's `http_output`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct FalcoHttpOutput {
    pub enabled: bool,
    pub url: String,
    pub user_agent: String,
    pub insecure: bool,
    pub ca_cert: String,
    pub mtls: bool,
    pub client_cert: String,
    pub client_key: String,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Config {
    pub listenaddress: String,
    pub listenport: u16,
    pub debug: bool,
    pub customfields: KvMap,
    pub mutualtlsfilespath: String,
    /// Harrier: where per-sink spools live. Empty: no spool (memory only) for a library caller;
    /// `harrier run` and `harrier forward` fill in [`DEFAULT_SPOOLDIR`] first
    /// ([`Config::apply_default_spool`]). `none` (or `off`): memory only, explicitly.
    pub spooldir: String,
    /// Harrier: spool sync policy of every output (`never` (default), `interval`, `always`).
    pub spoolfsync: String,
    /// Harrier: largest accepted request body (default 1 MiB).
    pub maxbodybytes: usize,
    pub webhook: WebhookConfig,
    pub slack: SlackConfig,
    pub discord: DiscordConfig,
    pub teams: TeamsConfig,
    pub mattermost: MattermostConfig,
    pub loki: LokiConfig,
    pub elasticsearch: ElasticsearchConfig,
    pub nats: NatsConfig,
    pub kafka: KafkaConfig,
    pub smtp: SmtpConfig,
    /// falcosidekick's `aws:` block: `aws.s3.bucket`, `aws.sqs.url`, `aws.sns.topicarn` and
    /// `aws.cloudwatchlogs.loggroup` enable those outputs.
    pub aws: AwsConfig,
    pub redis: RedisConfig,
    pub syslog: SyslogConfig,
    pub prometheus: PrometheusConfig,
    pub alertmanager: AlertmanagerConfig,
    pub mqtt: MqttConfig,
    /// falcosidekick's `otlp:` block; `otlp.logs.endpoint` enables the OTLP logs output.
    pub otlp: OtlpConfig,
    pub pagerduty: PagerdutyConfig,
    pub splunk: SplunkConfig,
    /// falcosidekick's `gcp:` block; `gcp.storage.bucket` enables the GCS output.
    pub gcp: crate::cloud::GcpConfig,
    /// Harrier's `azure:` block; `azure.blob.container` enables the Azure Blob output.
    pub azure: crate::cloud::AzureConfig,
    pub opsgenie: OpsgenieConfig,
    pub googlechat: GooglechatConfig,
    pub telegram: TelegramConfig,
    pub webex: WebexConfig,
    pub datadoglogs: DatadoglogsConfig,
    pub kafkarest: KafkarestConfig,
    pub syslog_output: FalcoSyslogOutput,
    pub http_output: FalcoHttpOutput,
    /// Harrier: more outputs, each `type:` plus that output's keys.
    pub sinks: Vec<serde_yaml::Value>,
    #[serde(skip)]
    pub listen_address: String,
    #[serde(skip)]
    pub listen_port: u16,
    #[serde(skip)]
    pub max_body: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listenaddress: String::new(),
            listenport: 2801,
            debug: false,
            customfields: KvMap::None,
            mutualtlsfilespath: "/etc/certs".into(),
            spooldir: String::new(),
            spoolfsync: String::new(),
            maxbodybytes: 1 << 20,
            webhook: Default::default(),
            slack: Default::default(),
            discord: Default::default(),
            teams: Default::default(),
            mattermost: Default::default(),
            loki: Default::default(),
            elasticsearch: Default::default(),
            nats: Default::default(),
            kafka: Default::default(),
            smtp: Default::default(),
            aws: Default::default(),
            redis: Default::default(),
            syslog: Default::default(),
            prometheus: Default::default(),
            alertmanager: Default::default(),
            mqtt: Default::default(),
            otlp: Default::default(),
            pagerduty: Default::default(),
            splunk: Default::default(),
            gcp: Default::default(),
            azure: Default::default(),
            opsgenie: Default::default(),
            googlechat: Default::default(),
            telegram: Default::default(),
            webex: Default::default(),
            datadoglogs: Default::default(),
            kafkarest: Default::default(),
            syslog_output: Default::default(),
            http_output: Default::default(),
            sinks: Vec::new(),
            listen_address: String::new(),
            listen_port: 2801,
            max_body: 1 << 20,
        }
    }
}

/// What a loaded configuration file said besides its values.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub config: Config,
    /// Unknown or misplaced keys, one line each (`FILE:LINE:COLUMN: unknown key …`).
    pub warnings: Vec<String>,
}

impl Config {
    /// Load and check a file. `strict`: unknown keys are an error (`--strict-config`).
    /// `whole_file`: the file is only a sidekick config, so its top-level keys are checked
    /// too; otherwise (a `falco.yaml` that also carries outputs) only the output sections
    /// are, the caller checks the rest.
    pub fn load_checked(path: &Path, strict: bool, whole_file: bool) -> Result<Loaded, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Config::parse_checked(&text, &path.display().to_string(), strict, whole_file)
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        Config::parse_checked(text, "<config>", false, true).map(|l| l.config)
    }

    /// Parse `text` (named `file` in messages): a YAML or type error is
    /// `FILE:LINE:COLUMN: key.path: what was found, what was expected`.
    pub fn parse_checked(text: &str, file: &str, strict: bool, whole_file: bool) -> Result<Loaded, String> {
        let doc: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_yaml::from_str(text).map_err(|e| crate::configcheck::yaml_error(file, &e))?
        };
        let mut c: Config = if doc.is_null() {
            Config::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| precise_error(&doc, text, file, &e))?
        };
        c.listen_address = c.listenaddress.clone();
        c.listen_port = c.listenport;
        c.max_body = c.maxbodybytes.max(1024);
        let pos = crate::configcheck::Positions::parse(text);
        let mut warnings: Vec<String> =
            c.unknown_keys(&doc, whole_file).iter().map(|u| u.message(file, &pos)).collect();
        // Values that only make sense in a few forms, checked here so nothing starts half-configured.
        let mut errors = Vec::new();
        let mut check = |path: String, common: &CommonConfig| {
            if !common.minimumpriority.is_empty()
                && common.minimumpriority.parse::<harrier_rules::Priority>().is_err()
            {
                errors.push(format!(
                    "{}: {path}.minimumpriority: unknown priority '{}' (expected one of emergency, alert, critical, error, warning, notice, informational, debug)",
                    pos.at(file, &format!("{path}.minimumpriority")),
                    common.minimumpriority
                ));
            }
            if let Some(w) = &common.queue.when_full {
                if let Err(e) = w.parse::<crate::queue::WhenFull>() {
                    errors.push(format!(
                        "{}: {path}.queue.when_full: {e}",
                        pos.at(file, &format!("{path}.queue.when_full"))
                    ));
                }
            }
            if let Some(w) = &common.queue.fsync {
                if let Err(e) = w.parse::<crate::queue::FsyncPolicy>() {
                    errors.push(format!(
                        "{}: {path}.queue.fsync: {e}",
                        pos.at(file, &format!("{path}.queue.fsync"))
                    ));
                }
            }
        };
        for (name, common) in c.section_commons() {
            check(name.to_string(), common);
        }
        for (i, v) in c.sinks.iter().enumerate() {
            if let Ok(common) = serde_yaml::from_value::<CommonConfig>(v.clone()) {
                check(format!("sinks[{i}]"), &common);
            }
        }
        if !c.spoolfsync.is_empty() {
            if let Err(e) = c.spoolfsync.parse::<crate::queue::FsyncPolicy>() {
                errors.push(format!("{}: spoolfsync: {e}", pos.at(file, "spoolfsync")));
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        if strict && !warnings.is_empty() {
            warnings.sort();
            return Err(format!(
                "unknown configuration keys (--strict-config makes them errors):\n{}",
                warnings.join("\n")
            ));
        }
        warnings.sort();
        Ok(Loaded { config: c, warnings })
    }

    fn section_commons(&self) -> Vec<(&'static str, &CommonConfig)> {
        vec![
            ("webhook", &self.webhook.common),
            ("slack", &self.slack.common),
            ("discord", &self.discord.common),
            ("teams", &self.teams.common),
            ("mattermost", &self.mattermost.common),
            ("loki", &self.loki.common),
            ("elasticsearch", &self.elasticsearch.common),
            ("nats", &self.nats.common),
            ("kafka", &self.kafka.common),
            ("smtp", &self.smtp.common),
            ("redis", &self.redis.common),
            ("syslog", &self.syslog.common),
            ("prometheus", &self.prometheus.common),
            ("alertmanager", &self.alertmanager.common),
            ("mqtt", &self.mqtt.common),
            ("otlp.logs", &self.otlp.logs.common),
            ("pagerduty", &self.pagerduty.common),
            ("splunk", &self.splunk.common),
        ]
        .into_iter()
        .chain(self.aws.commons())
        .chain(crate::cloud::commons(&self.gcp, &self.azure))
        .chain(crate::hooks::sections(self).into_iter().map(|h| (h.kind(), h.common())))
        .collect()
    }

    /// Keys of `doc` this configuration does not know (see [`crate::configcheck`]).
    fn unknown_keys(&self, doc: &Value, whole_file: bool) -> Vec<crate::configcheck::UnknownKey> {
        use crate::configcheck::unknown_keys;
        let Ok(schema) = serde_yaml::to_value(self) else { return Vec::new() };
        let top = top_level_keys();
        let top: Vec<&str> = top.iter().map(|s| s.as_str()).collect();
        let mut doc = doc.clone();
        let mut out = Vec::new();
        // `sinks:` entries: each against the keys of its own type.
        if let Some(Value::Sequence(items)) = doc.as_mapping_mut().and_then(|m| m.remove("sinks")) {
            for (i, v) in items.iter().enumerate() {
                let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or_default();
                let Some(mut entry_schema) = entry_schema(kind, v) else { continue };
                if let Some(m) = entry_schema.as_mapping_mut() {
                    m.insert("type".into(), kind.into());
                }
                for mut u in unknown_keys(v, &entry_schema, &[], &top) {
                    u.path = format!("sinks[{i}].{}", u.path);
                    out.push(u);
                }
            }
        }
        if !whole_file {
            // Only the output sections; the rest of the file belongs to the caller.
            if let (Some(d), Some(s)) = (doc.as_mapping_mut(), schema.as_mapping()) {
                d.retain(|k, v| v.is_mapping() && s.get(k).is_some_and(|sv| sv.is_mapping()));
            }
        }
        out.extend(unknown_keys(&doc, &schema, &["customfields"], &top));
        out
    }
}

/// The output sections flatten their common keys (`minimumpriority`, `queue`, …) in, and serde
/// reports an error inside them at the section. Find the key it is about, with its position.
fn precise_error(doc: &Value, text: &str, file: &str, e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    if let Some((section, _)) = msg.split_once(": ") {
        if let Some(v) = doc.get(section).filter(|v| v.is_mapping()) {
            let section_text = serde_yaml::to_string(v).unwrap_or_default();
            if let Err(inner) = serde_yaml::from_str::<CommonConfig>(&section_text) {
                let mut inner = inner.to_string();
                if let Some(i) = inner.rfind(" at line ") {
                    inner.truncate(i);
                }
                if let Some((key, what)) = inner.split_once(": ").filter(|(k, _)| !k.contains(' ')) {
                    let path = format!("{section}.{key}");
                    let pos = crate::configcheck::Positions::parse(text);
                    let at = pos.at(file, &path);
                    return format!("{at}: {path}: {what}");
                }
            }
        }
    }
    crate::configcheck::yaml_error(file, e)
}

/// Top-level keys of a sidekick configuration (for the `falco.yaml` checker, which accepts them).
pub fn top_level_keys() -> Vec<String> {
    let Ok(Value::Mapping(m)) = serde_yaml::to_value(Config::default()) else { return Vec::new() };
    m.keys().filter_map(|k| k.as_str().map(str::to_string)).collect()
}

/// The keys an entry of `sinks:` of type `kind` may have (its parsed form serialized back).
fn entry_schema(kind: &str, v: &Value) -> Option<Value> {
    fn sch<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Option<Value> {
        serde_yaml::from_value::<T>(v.clone()).ok().and_then(|t| serde_yaml::to_value(t).ok())
    }
    match kind {
        "webhook" => sch::<WebhookConfig>(v),
        "slack" => sch::<SlackConfig>(v),
        "discord" => sch::<DiscordConfig>(v),
        "teams" => sch::<TeamsConfig>(v),
        "mattermost" => sch::<MattermostConfig>(v),
        "loki" => sch::<LokiConfig>(v),
        "elasticsearch" => sch::<ElasticsearchConfig>(v),
        "nats" => sch::<NatsConfig>(v),
        "kafka" => sch::<KafkaConfig>(v),
        "smtp" => sch::<SmtpConfig>(v),
        "redis" => sch::<RedisConfig>(v),
        "syslog" => sch::<SyslogConfig>(v),
        "prometheus" => sch::<PrometheusConfig>(v),
        "alertmanager" => sch::<AlertmanagerConfig>(v),
        "mqtt" => sch::<MqttConfig>(v),
        "otlp_logs" => sch::<OtlpLogsConfig>(v),
        "pagerduty" => sch::<PagerdutyConfig>(v),
        "splunk" => sch::<SplunkConfig>(v),
        other => match crate::hooks::entry(other, v) {
            Some(h) => h.ok().and_then(|h| h.schema()),
            None => crate::aws::entry_schema(other, v).or_else(|| crate::cloud::entry_schema(other, v)),
        },
    }
}

/// Where `harrier run` and `harrier forward` keep their spools unless told otherwise.
pub const DEFAULT_SPOOLDIR: &str = "/var/lib/harrier/spool";

impl Config {
    /// For the long-running commands: when `spooldir` is not set, use `HARRIER_SPOOLDIR` or
    /// [`DEFAULT_SPOOLDIR`]; when that cannot be created, fall back to
    /// `$XDG_STATE_HOME/harrier/spool` (or `~/.local/state/harrier/spool`), and when nothing can
    /// be created run memory-only. Returns a line for the user when it fell back.
    pub fn apply_default_spool(&mut self) -> Option<String> {
        if !self.spooldir.is_empty() {
            return None;
        }
        let primary = std::env::var("HARRIER_SPOOLDIR")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_SPOOLDIR.to_string());
        let first_err = match std::fs::create_dir_all(&primary) {
            Ok(()) => {
                self.spooldir = primary;
                return None;
            }
            Err(e) => e,
        };
        let state = std::env::var("XDG_STATE_HOME")
            .ok()
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var("HOME").ok().map(|h| Path::new(&h).join(".local/state")));
        if let Some(dir) = state.map(|s| s.join("harrier/spool")) {
            if std::fs::create_dir_all(&dir).is_ok() {
                self.spooldir = dir.display().to_string();
                return Some(format!(
                    "cannot create the spool directory {primary} ({first_err}); spooling to {} instead (set 'spooldir' to choose)",
                    dir.display()
                ));
            }
        }
        self.spooldir = "none".into();
        Some(format!(
            "cannot create the spool directory {primary} ({first_err}): alerts are kept in memory only and a crash loses them (set 'spooldir')"
        ))
    }

    /// Whether any forwarding output is configured.
    pub fn has_outputs(&self) -> bool {
        self.webhook.enabled()
            || (self.http_output.enabled && !self.http_output.url.is_empty())
            || self.syslog_output.enabled
            || !self.slack.webhookurl.is_empty()
            || !self.discord.webhookurl.is_empty()
            || !self.teams.webhookurl.is_empty()
            || !self.mattermost.webhookurl.is_empty()
            || !self.loki.hostport.is_empty()
            || !self.elasticsearch.hostport.is_empty()
            || !self.nats.hostport.is_empty()
            || !self.kafka.hostport.is_empty()
            || !self.smtp.hostport.is_empty()
            || !self.redis.address.is_empty()
            || !self.aws.enabled().is_empty()
            || self.syslog.enabled()
            || self.prometheus.enabled
            || !self.alertmanager.hostport.is_empty()
            || !self.mqtt.broker.is_empty()
            || !self.otlp.logs.endpoint.is_empty()
            || !self.pagerduty.routingkey.is_empty()
            || !self.splunk.host.is_empty()
            || crate::hooks::sections(self).iter().any(|h| h.enabled())
            || !crate::cloud::enabled(&self.gcp, &self.azure).is_empty()
            || !self.sinks.is_empty()
    }

    /// The enabled outputs this build left out (see [`crate::not_built`]): (where, feature).
    /// `harrier doctor` reports them; `harrier run` refuses them when building the sinks.
    pub fn left_out(&self) -> Vec<(String, &'static str)> {
        let feature =
            |kind: &str| crate::entries::entry_type(kind).filter(|t| !t.built()).and_then(|t| t.feature);
        let mut out = Vec::new();
        for (kind, on) in [
            ("kafka", !self.kafka.hostport.is_empty()),
            ("nats", !self.nats.hostport.is_empty()),
            ("smtp", !self.smtp.hostport.is_empty()),
            ("redis", !self.redis.address.is_empty()),
            ("mqtt", !self.mqtt.broker.is_empty()),
        ] {
            if on {
                out.extend(feature(kind).map(|f| (kind.to_string(), f)));
            }
        }
        for (kind, _) in self.aws.enabled() {
            out.extend(feature(kind).map(|f| (format!("aws.{kind}"), f)));
        }
        for (kind, _) in crate::cloud::enabled(&self.gcp, &self.azure) {
            let section = if kind == "gcpstorage" { "gcp.storage" } else { "azure.blob" };
            out.extend(feature(kind).map(|f| (section.to_string(), f)));
        }
        for (i, v) in self.sinks.iter().enumerate() {
            let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or_default();
            out.extend(feature(kind).map(|f| (format!("sinks[{i}] ({kind})"), f)));
        }
        out
    }

    /// The spool directory in effect (`None`: memory only).
    pub fn spool_dir(&self) -> Option<PathBuf> {
        match self.spooldir.trim() {
            "" | "none" | "off" | "false" => None,
            d => Some(PathBuf::from(d)),
        }
    }
}

fn queue_config(cfg: &Config, c: &CommonConfig) -> Result<QueueConfig, String> {
    let mut q = QueueConfig::default();
    let y = &c.queue;
    if let Some(n) = y.memory {
        q.memory = n;
    }
    if let Some(n) = y.channel {
        q.channel = n.max(1);
    }
    if let Some(n) = y.spool_max_mb {
        q.spool_max_bytes = n << 20;
    }
    if let Some(w) = &y.when_full {
        q.when_full = w.parse()?;
    }
    if let Some(n) = y.backoff_initial_ms {
        q.backoff_initial = Duration::from_millis(n.max(1));
    }
    if let Some(n) = y.backoff_max_ms {
        q.backoff_max = Duration::from_millis(n.max(1));
    }
    if let Some(n) = y.timeout_ms {
        q.timeout = Duration::from_millis(n.max(1));
        q.timeout_set = true;
    }
    q.spool_dir = cfg.spool_dir();
    let fsync = y.fsync.as_deref().unwrap_or(cfg.spoolfsync.as_str());
    if !fsync.is_empty() {
        q.fsync = fsync.parse()?;
    }
    Ok(q)
}

fn route(cfg: &Config, kind: &str, c: &CommonConfig) -> Result<RouteConfig, String> {
    let name = if c.name.is_empty() { kind.to_string() } else { c.name.clone() };
    let min_priority = if c.minimumpriority.is_empty() {
        harrier_rules::Priority::Debug
    } else {
        c.minimumpriority
            .parse()
            .map_err(|_| format!("{name}: unknown minimumpriority '{}'", c.minimumpriority))?
    };
    let filter = (!c.filter.trim().is_empty()).then(|| c.filter.clone());
    Ok(RouteConfig { name, min_priority, filter, queue: queue_config(cfg, c)? })
}

fn from_value<T: serde::de::DeserializeOwned>(kind: &str, v: &serde_yaml::Value) -> Result<T, String> {
    serde_yaml::from_value(v.clone()).map_err(|e| format!("sinks: {kind}: {e}"))
}

/// Build every enabled output of `cfg` into `router`.
pub fn build_sinks(cfg: &Config, router: &mut Router, metrics: &Arc<Metrics>) -> Result<(), String> {
    router.custom_fields = cfg.customfields.pairs().into_iter().collect();
    each_output(cfg, metrics, &mut |s, r, _| router.add(s, r))
}

/// One output `harrier run` starts from a configuration: its kind, its route (name,
/// `minimumpriority`, filter, queue) and its sink, built as the run builds it.
pub struct EnabledOutput {
    pub kind: &'static str,
    pub route: RouteConfig,
    pub sink: Arc<dyn Sink>,
    /// The index of its `sinks:` entry; `None` for a top-level section (or Falco's
    /// `http_output`/`syslog_output`).
    pub entry: Option<usize>,
}

/// Every output `harrier run` would start from `cfg` (the same constructor and the same
/// conditions as [`build_sinks`]; no network access, but some clients spawn their connection
/// task, so a Tokio runtime must be entered). The first output that cannot be built is the
/// error the run gives.
pub fn enabled_outputs(cfg: &Config) -> Result<Vec<EnabledOutput>, String> {
    let metrics = Arc::new(Metrics::default());
    let mut out: Vec<EnabledOutput> = Vec::new();
    each_output(cfg, &metrics, &mut |sink, route, entry| {
        if out.iter().any(|o| o.route.name == route.name) {
            return Err(format!("two sinks are named '{}'", route.name));
        }
        out.push(EnabledOutput { kind: sink.kind(), route, sink, entry });
        Ok(())
    })?;
    Ok(out)
}

type Add<'a> = dyn FnMut(Arc<dyn Sink>, RouteConfig, Option<usize>) -> Result<(), String> + 'a;

/// Build every enabled output of `cfg` and hand each to `f` with its route.
fn each_output(cfg: &Config, metrics: &Arc<Metrics>, f: &mut Add<'_>) -> Result<(), String> {
    let mtls = cfg.mutualtlsfilespath.as_str();
    let mut add = |s: Arc<dyn Sink>, r: RouteConfig| f(s, r, None);
    let kinds = Kinds { cfg, mtls, metrics };
    if cfg.webhook.enabled() {
        add(kinds.webhook(&cfg.webhook)?, route(cfg, "webhook", &cfg.webhook.common)?)?;
    }
    if cfg.http_output.enabled && !cfg.http_output.url.is_empty() {
        let h = &cfg.http_output;
        // Falco's semantics: the client certificate only with `mtls`, and `insecure` always
        // honoured (falcosidekick's `mutualtls`, which reads mutualtlsfilespath and forces the
        // check, is not Falco's key). Falco's default falco.yaml names client files with
        // `mtls: false`: they are not read then.
        let (cert, key) =
            if h.mtls { (h.client_cert.clone(), h.client_key.clone()) } else { Default::default() };
        let w = WebhookConfig {
            address: h.url.clone(),
            checkcert: !h.insecure,
            cacert: h.ca_cert.clone(),
            mutualtls: false,
            clientcert: cert,
            clientkey: key,
            common: CommonConfig { name: "http_output".into(), ..Default::default() },
            ..Default::default()
        };
        add(kinds.webhook(&w)?, route(cfg, "http_output", &w.common)?)?;
    }
    if cfg.syslog_output.enabled {
        let s = SyslogConfig {
            local: true,
            format: "text".into(),
            common: CommonConfig { name: "syslog_output".into(), ..Default::default() },
            ..Default::default()
        };
        add(Arc::new(crate::syslog::SyslogSink::new(&s)?), route(cfg, "syslog_output", &s.common)?)?;
    }
    macro_rules! section {
        ($field:ident, $kind:literal, $enabled:expr) => {
            if $enabled {
                add(
                    kinds.build(
                        $kind,
                        &serde_yaml::to_value(()).unwrap_or_default(),
                        Some(Section::$field(&cfg.$field)),
                    )?,
                    route(cfg, $kind, &cfg.$field.common)?,
                )?;
            }
        };
    }
    section!(slack, "slack", !cfg.slack.webhookurl.is_empty());
    section!(discord, "discord", !cfg.discord.webhookurl.is_empty());
    section!(teams, "teams", !cfg.teams.webhookurl.is_empty());
    section!(mattermost, "mattermost", !cfg.mattermost.webhookurl.is_empty());
    section!(loki, "loki", !cfg.loki.hostport.is_empty());
    section!(elasticsearch, "elasticsearch", !cfg.elasticsearch.hostport.is_empty());
    section!(nats, "nats", !cfg.nats.hostport.is_empty());
    section!(kafka, "kafka", !cfg.kafka.hostport.is_empty());
    section!(smtp, "smtp", !cfg.smtp.hostport.is_empty());
    section!(redis, "redis", !cfg.redis.address.is_empty());
    for (kind, common) in cfg.aws.enabled() {
        add(cfg.aws.sink(kind)?, route(cfg, kind, common)?)?;
    }
    for (kind, common) in crate::cloud::enabled(&cfg.gcp, &cfg.azure) {
        add(crate::cloud::section_sink(kind, &cfg.gcp, &cfg.azure)?, route(cfg, kind, common)?)?;
    }
    section!(syslog, "syslog", cfg.syslog.enabled());
    section!(prometheus, "prometheus", cfg.prometheus.enabled);
    section!(alertmanager, "alertmanager", !cfg.alertmanager.hostport.is_empty());
    section!(mqtt, "mqtt", !cfg.mqtt.broker.is_empty());
    section!(pagerduty, "pagerduty", !cfg.pagerduty.routingkey.is_empty());
    section!(splunk, "splunk", !cfg.splunk.host.is_empty());
    if !cfg.otlp.logs.endpoint.is_empty() {
        let s = crate::otlp::OtlpLogsSink::new(&cfg.otlp.logs)?;
        add(Arc::new(s), route(cfg, "otlp_logs", &cfg.otlp.logs.common)?)?;
    }
    for h in crate::hooks::sections(cfg).into_iter().filter(|h| h.enabled()) {
        add(h.sink(mtls)?, route(cfg, h.kind(), h.common())?)?;
    }
    for (i, v) in cfg.sinks.iter().enumerate() {
        let kind =
            v.get("type").and_then(|t| t.as_str()).ok_or_else(|| format!("sinks[{i}]: missing 'type'"))?;
        let common: CommonConfig = from_value(kind, v)?;
        let mut r = route(cfg, kind, &common)?;
        if common.name.is_empty() {
            r.name = format!("{kind}-{i}");
        }
        f(kinds.build(kind, v, None).map_err(|e| format!("sinks[{i}]: {e}"))?, r, Some(i))?;
    }
    Ok(())
}

/// The sink of one `sinks:` entry of type `kind` (see [`crate::entries::entry_sink`]).
pub(crate) fn build_entry(
    kind: &str,
    v: &serde_yaml::Value,
    mtls: &str,
    metrics: &Arc<Metrics>,
) -> Result<Arc<dyn Sink>, String> {
    let cfg = Config::default();
    Kinds { cfg: &cfg, mtls, metrics }.build(kind, v, None)
}

#[allow(non_camel_case_types)]
enum Section<'a> {
    slack(&'a SlackConfig),
    discord(&'a DiscordConfig),
    teams(&'a TeamsConfig),
    mattermost(&'a MattermostConfig),
    loki(&'a LokiConfig),
    elasticsearch(&'a ElasticsearchConfig),
    nats(&'a NatsConfig),
    kafka(&'a KafkaConfig),
    smtp(&'a SmtpConfig),
    redis(&'a RedisConfig),
    syslog(&'a SyslogConfig),
    prometheus(&'a PrometheusConfig),
    alertmanager(&'a AlertmanagerConfig),
    mqtt(&'a MqttConfig),
    pagerduty(&'a PagerdutyConfig),
    splunk(&'a SplunkConfig),
}

struct Kinds<'a> {
    #[allow(dead_code)]
    cfg: &'a Config,
    mtls: &'a str,
    metrics: &'a Arc<Metrics>,
}

impl Kinds<'_> {
    fn webhook(&self, w: &WebhookConfig) -> Result<Arc<dyn Sink>, String> {
        Ok(Arc::new(crate::webhook::WebhookSink::new(w, self.mtls)?))
    }

    /// A sink from its section (top-level key) or from a `sinks:` entry.
    fn build(
        &self,
        kind: &str,
        v: &serde_yaml::Value,
        sec: Option<Section<'_>>,
    ) -> Result<Arc<dyn Sink>, String> {
        macro_rules! get {
            ($variant:ident, $ty:ty) => {
                match &sec {
                    Some(Section::$variant(c)) => (*c).clone(),
                    _ => from_value::<$ty>(kind, v)?,
                }
            };
        }
        if sec.is_none() && crate::entries::entry_type(kind).is_none() {
            return Err(crate::entries::unknown(kind));
        }
        let e = |m: String| format!("{kind}: {m}");
        Ok(match kind {
            "webhook" => self.webhook(&from_value::<WebhookConfig>(kind, v)?)?,
            "slack" => Arc::new(crate::slack::SlackSink::new(&get!(slack, SlackConfig)).map_err(e)?),
            "discord" => {
                Arc::new(crate::discord::DiscordSink::new(&get!(discord, DiscordConfig)).map_err(e)?)
            }
            "teams" => Arc::new(crate::teams::TeamsSink::new(&get!(teams, TeamsConfig)).map_err(e)?),
            "mattermost" => {
                Arc::new(crate::mattermost::sink(&get!(mattermost, MattermostConfig)).map_err(e)?)
            }
            "loki" => Arc::new(crate::loki::LokiSink::new(&get!(loki, LokiConfig)).map_err(e)?),
            "elasticsearch" => Arc::new(
                crate::elasticsearch::ElasticsearchSink::new(&get!(elasticsearch, ElasticsearchConfig))
                    .map_err(e)?,
            ),
            "nats" => Arc::new(crate::nats::NatsSink::new(&get!(nats, NatsConfig)).map_err(e)?),
            "kafka" => Arc::new(crate::kafka::KafkaSink::new(&get!(kafka, KafkaConfig)).map_err(e)?),
            "smtp" => Arc::new(crate::smtp::SmtpSink::new(&get!(smtp, SmtpConfig)).map_err(e)?),
            "redis" => Arc::new(crate::redis::RedisSink::new(&get!(redis, RedisConfig)).map_err(e)?),
            "syslog" => {
                let mut s = get!(syslog, SyslogConfig);
                s.local = true;
                Arc::new(crate::syslog::SyslogSink::new(&s).map_err(e)?)
            }
            "prometheus" => {
                let _ = get!(prometheus, PrometheusConfig);
                Arc::new(crate::prometheus::PrometheusSink { metrics: self.metrics.clone() })
            }
            "alertmanager" => Arc::new(
                crate::alertmanager::AlertmanagerSink::new(
                    &get!(alertmanager, AlertmanagerConfig),
                    self.mtls,
                )
                .map_err(e)?,
            ),
            "mqtt" => Arc::new(crate::mqtt::MqttSink::new(&get!(mqtt, MqttConfig)).map_err(e)?),
            "otlp_logs" => Arc::new(crate::otlp::OtlpLogsSink::new(&from_value::<OtlpLogsConfig>(kind, v)?)?),
            "pagerduty" => {
                Arc::new(crate::pagerduty::PagerdutySink::new(&get!(pagerduty, PagerdutyConfig)).map_err(e)?)
            }
            "splunk" => Arc::new(crate::splunk::SplunkSink::new(&get!(splunk, SplunkConfig)).map_err(e)?),
            other => match (crate::hooks::entry(other, v), crate::aws::entry_sink(other, v)) {
                (Some(h), _) => h?.sink(self.mtls)?,
                (None, Some(s)) => s?,
                (None, None) => match crate::cloud::entry_sink(other, v) {
                    Some(s) => s?,
                    None => return Err(crate::entries::unknown(other)),
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(feature = "kafka", feature = "aws", feature = "nats", feature = "smtp"))]
    fn falcosidekick_keys_and_extensions() {
        let c = Config::parse(
            r#"
listenport: 2802
customfields: "env:prod,team:sec"
spooldir: /tmp/x
slack:
  webhookurl: http://127.0.0.1:1/s
  minimumpriority: error
  queue: {memory: 10, when_full: block}
loki:
  hostport: http://127.0.0.1:3100
nats:
  hostport: nats://127.0.0.1:4222
kafka:
  hostport: 127.0.0.1:9092
  topic: falco
  requiredacks: ALL
smtp:
  hostport: 127.0.0.1:25
  from: falco@example.org
  to: "a@example.org,b@example.org"
  outputformat: text
aws:
  accesskeyid: AKIA0
  secretaccesskey: s
  s3:
    bucket: alerts
    endpoint: http://127.0.0.1:9000
    minimumpriority: critical
webhook:
  address: http://127.0.0.1:1/w
  customheaders: {X-Token: abc}
http_output:
  enabled: true
  url: http://127.0.0.1:1/falco
sinks:
  - type: slack
    name: slack-prod
    webhookurl: http://127.0.0.1:1/p
    filter: k8s.ns.name = prod and alert.priority in (Warning, Error)
  - type: s3
    name: s3-archive
    accesskeyid: AKIA1
    secretaccesskey: t
    bucket: archive
    prefix: all
unknownkey: ignored
"#,
        )
        .unwrap();
        assert_eq!(c.listen_port, 2802);
        assert_eq!(
            c.customfields.pairs(),
            vec![("env".into(), "prod".into()), ("team".into(), "sec".into())]
        );
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut r = Router::new(rt.handle().clone());
        let dir = tempfile::tempdir().unwrap();
        let mut c = c;
        c.spooldir = dir.path().display().to_string();
        build_sinks(&c, &mut r, &Arc::new(Metrics::default())).unwrap();
        assert!(c.left_out().is_empty());
        let names: Vec<_> = r.stats().into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "webhook",
                "http_output",
                "slack",
                "loki",
                "nats",
                "kafka",
                "smtp",
                "s3",
                "slack-prod",
                "s3-archive"
            ]
        );
        for (bad, why) in [
            ("slack: {webhookurl: 'http://x', minimumpriority: loud}", "minimumpriority"),
            ("sinks: [{type: pager}]", "unknown output type"),
            ("sinks: [{type: slack, webhookurl: 'http://x', filter: 'alert.rule ='}]", "filter"),
            ("slack: {webhookurl: 'http://x', queue: {when_full: maybe}}", "when_full"),
            ("loki: {hostport: 'not a url'}", "bad URL"),
            ("listenport: lots", "listenport"),
            ("kafka: {hostport: 'k:9092'}", "kafka.topic"),
            ("smtp: {hostport: 'm:25', from: 'a@b'}", "smtp.to"),
        ] {
            let e = Config::parse(bad).and_then(|c| {
                let mut r = Router::new(rt.handle().clone());
                build_sinks(&c, &mut r, &Arc::new(Metrics::default()))
            });
            assert!(e.as_ref().is_err_and(|e| e.contains(why)), "{bad}: {e:?}");
        }
    }

    /// A lean build (`--no-default-features`, as scripts/run.sh builds) reads the sections of
    /// the outputs it left out and refuses each at start, naming the feature to enable; the other
    /// outputs of the same file still build. (scripts/test.sh runs this without the features.)
    #[test]
    #[cfg(not(any(
        feature = "kafka",
        feature = "aws",
        feature = "cloud",
        feature = "nats",
        feature = "redis",
        feature = "smtp",
        feature = "mqtt"
    )))]
    fn outputs_left_out_of_the_build_are_refused_naming_the_feature() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for (text, feature) in [
            ("kafka: {hostport: 'k:9092', topic: falco}", "kafka"),
            ("sinks: [{type: kafka, hostport: 'k:9092', topic: falco}]", "kafka"),
            ("aws: {s3: {bucket: b}}", "aws"),
            ("aws: {sqs: {url: 'https://sqs.eu-west-1.amazonaws.com/1/q'}}", "aws"),
            ("sinks: [{type: sns, topicarn: 'arn:aws:sns:eu-west-1:1:t'}]", "aws"),
            ("sinks: [{type: cloudwatchlogs, loggroup: g}]", "aws"),
            ("gcp: {storage: {bucket: alerts}}", "cloud"),
            ("azure: {blob: {container: c-1, accountname: a, accountkey: a2V5}}", "cloud"),
            ("sinks: [{type: gcpstorage, bucket: alerts}]", "cloud"),
            ("nats: {hostport: 'nats://n:4222'}", "nats"),
            ("sinks: [{type: nats, hostport: 'nats://n:4222'}]", "nats"),
            ("redis: {address: 'r:6379'}", "redis"),
            ("smtp: {hostport: 'm:25', from: 'a@b', to: 'c@d'}", "smtp"),
            ("mqtt: {broker: 'tcp://q:1883'}", "mqtt"),
            ("sinks: [{type: mqtt, broker: 'tcp://q:1883'}]", "mqtt"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut c =
                Config::parse(&format!("webhook: {{address: 'http://127.0.0.1:1/w'}}\n{text}\n")).unwrap();
            assert_eq!(c.left_out().len(), 1, "{text}");
            assert_eq!(c.left_out()[0].1, feature, "{text}");
            c.spooldir = dir.path().display().to_string();
            let mut r = Router::new(rt.handle().clone());
            let e = build_sinks(&c, &mut r, &Arc::new(Metrics::default())).unwrap_err();
            assert!(
                e.contains(&format!("without the `{feature}` feature"))
                    && e.contains(&format!("--features {feature}")),
                "{text}: {e}"
            );
        }
        // Without the left-out sections the rest builds.
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::parse("webhook: {address: 'http://127.0.0.1:1/w'}\n").unwrap();
        c.spooldir = dir.path().display().to_string();
        let mut r = Router::new(rt.handle().clone());
        build_sinks(&c, &mut r, &Arc::new(Metrics::default())).unwrap();
        assert_eq!(r.stats().len(), 1);
    }

    #[test]
    fn mistakes_are_loud_with_file_line_column_and_nearest_key() {
        let text = "listenport: 2801\nnats:\n  hostport: nats://127.0.0.1:4222\n  spooldir: /tmp/x\n  minimumprority: error\nwebhok:\n  address: x\ncustomfields: {anything: goes}\nsinks:\n  - type: redis\n    adress: x\n";
        let l = Config::parse_checked(text, "s.yaml", false, true).unwrap();
        assert_eq!(
            l.warnings,
            [
                "s.yaml:11:5: unknown key 'sinks[0].adress' (did you mean 'sinks[0].address'?)",
                "s.yaml:4:3: unknown key 'nats.spooldir' ('spooldir' is a top-level key: here it has no effect; move it to the top level)",
                "s.yaml:5:3: unknown key 'nats.minimumprority' (did you mean 'nats.minimumpriority'?)",
                "s.yaml:6:1: unknown key 'webhok' (did you mean 'webhook'?)",
            ]
        );
        // The values it knows are still read.
        assert_eq!(l.config.nats.hostport, "nats://127.0.0.1:4222");
        // --strict-config: the same findings are an error.
        let e = Config::parse_checked(text, "s.yaml", true, true).unwrap_err();
        assert!(
            e.contains("--strict-config") && e.contains("s.yaml:4:3: unknown key 'nats.spooldir'"),
            "{e}"
        );
        // Only the output sections of a falco.yaml are checked here.
        let l = Config::parse_checked("json_output: true\nnats:\n  hostprot: x\n", "f.yaml", false, false)
            .unwrap();
        assert_eq!(l.warnings, ["f.yaml:3:3: unknown key 'nats.hostprot' (did you mean 'nats.hostport'?)"]);
        // Wrong types and values: refused, with the position, the key path and what was expected.
        for (bad, want) in [
            ("listenport: lots\n", "s.yaml:1:13: listenport: invalid type: string \"lots\", expected u16"),
            (
                "nats:\n  hostport: [a]\n",
                "s.yaml:2:13: nats.hostport: invalid type: sequence, expected a string",
            ),
            (
                "slack:\n  webhookurl: x\n  minimumpriority: loud\n",
                "s.yaml:3:3: slack.minimumpriority: unknown priority 'loud'",
            ),
            ("slack:\n  queue: {fsync: sometimes}\n", "s.yaml:2:11: slack.queue.fsync: fsync must be"),
            ("nats: {hostport: x\n", "s.yaml:"),
        ] {
            let e = Config::parse_checked(bad, "s.yaml", false, true).unwrap_err();
            assert!(e.starts_with(want), "{bad}: {e}");
        }
    }

    /// Custom headers HTTP does not allow are refused when the outputs are built (start), with
    /// the output and the key, never at the first delivery; a value is not echoed (a secret).
    #[test]
    fn bad_headers_and_timeouts_are_refused_at_start() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let build = |text: &str| {
            let c = Config::parse(text)?;
            let mut r = Router::new(rt.handle().clone());
            build_sinks(&c, &mut r, &Arc::new(Metrics::default()))
        };
        for (bad, want) in [
            (
                "webhook: {address: 'http://127.0.0.1:9/', customheaders: {'X Bad': v}}",
                "webhook.customheaders: 'X Bad' is not a valid HTTP header name",
            ),
            (
                "webhook: {address: 'http://127.0.0.1:9/', customheaders: {X-Token: \"s3cret\\nInjected: 1\"}}",
                "webhook.customheaders: the value of header 'x-token' is not a valid HTTP header value",
            ),
            (
                "alertmanager: {hostport: 'http://127.0.0.1:9', customheaders: 'X(1):v'}",
                "alertmanager.customheaders: 'X(1)'",
            ),
            ("loki: {hostport: 'http://127.0.0.1:9', tenant: \"a\\u0001\"}", "loki.tenant: the value of header"),
            (
                "sinks: [{type: splunk, host: 'http://127.0.0.1:9', customheaders: {'Bad:Name': y}}]",
                "sinks[0]: splunk: splunk.customheaders: 'Bad:Name'",
            ),
            (
                "otlp: {logs: {endpoint: 'http://127.0.0.1:9', timeout: 30000, queue: {timeout_ms: 5000}}}",
                "sink 'otlp_logs': its timeout (30000 ms) is not below queue.timeout_ms (5000 ms)",
            ),
        ] {
            let e = build(bad).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
        // The output's own longer timeout alone is fine (the queue's is raised above it).
        build("otlp: {logs: {endpoint: 'http://127.0.0.1:9', timeout: 30000}}").unwrap();
        build("webhook: {address: 'http://127.0.0.1:9/', customheaders: {X-Ok: 'a b\tc'}}").unwrap();
    }

    /// Falco's default falco.yaml names client certificate files with `mtls: false`: they are
    /// not read then (only with `mtls: true`).
    #[test]
    fn http_output_reads_client_files_only_with_mtls() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let build = |mtls: bool| {
            let c = Config::parse(&format!(
                "http_output: {{enabled: true, url: 'https://127.0.0.1:9/', insecure: true, mtls: {mtls}, client_cert: /nonexistent/client.crt, client_key: /nonexistent/client.key}}"
            ))?;
            build_sinks(&c, &mut Router::new(rt.handle().clone()), &Arc::new(Metrics::default()))
        };
        build(false).unwrap();
        assert!(build(true).unwrap_err().contains("cannot read client certificate /nonexistent/client.crt"));
    }

    #[test]
    fn spool_directory_defaults() {
        let mut c = Config::parse("spooldir: none\n").unwrap();
        assert_eq!(c.apply_default_spool(), None);
        assert_eq!(c.spool_dir(), None);
        let dir = tempfile::tempdir().unwrap();
        let mut c = Config::parse(&format!(
            "spooldir: {}\nspoolfsync: interval\nnats: {{hostport: x}}\n",
            dir.path().display()
        ))
        .unwrap();
        assert_eq!(c.apply_default_spool(), None);
        assert_eq!(c.spool_dir().as_deref(), Some(dir.path()));
        let q = queue_config(&c, &c.nats.common).unwrap();
        assert_eq!(q.fsync, crate::queue::FsyncPolicy::Interval(Duration::from_secs(1)));
        assert!(c.has_outputs());
    }
}
