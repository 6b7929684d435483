//! Container runtime sockets, and Harrier's own services (webserver, UI, store): configured and
//! answering. The services are a table: a new one is one entry.

use crate::{Context, Finding, Status};
use harrier_containers::{default_sources, RuntimeConfig};
use std::time::Duration;

pub fn check_runtimes(_cx: &Context) -> Vec<Finding> {
    let cfg = RuntimeConfig::from_env();
    if !cfg.enabled {
        return vec![Finding::new("runtimes", "metadata", Status::Skip, "HARRIER_CONTAINER_METADATA=false")];
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return vec![Finding::new("runtimes", "metadata", Status::Fail, format!("tokio: {e}"))],
    };
    let mut out = Vec::new();
    let mut answering = 0;
    for mut src in default_sources(&cfg) {
        let name = src.runtime().as_str();
        let present: Vec<String> = src
            .sockets()
            .iter()
            .filter(|p| std::fs::symlink_metadata(p).is_ok())
            .map(|p| p.display().to_string())
            .collect();
        if present.is_empty() {
            let tried: Vec<String> = src.sockets().iter().map(|p| p.display().to_string()).collect();
            out.push(Finding::new(
                "runtimes",
                name,
                Status::Skip,
                format!("no socket at {}", tried.join(", ")),
            ));
            continue;
        }
        if src.probe(&rt) {
            answering += 1;
            out.push(Finding::new(
                "runtimes",
                name,
                Status::Ok,
                format!("answers on {}", present.join(", ")),
            ));
        } else {
            out.push(
                Finding::new("runtimes", name, Status::Warn, format!("socket {} present but not answering", present.join(", ")))
                    .fix("is the daemon running? in a container, mount the socket from the host and run as a user that may open it"),
            );
        }
    }
    if answering == 0 {
        out.push(
            Finding::new("runtimes", "metadata", Status::Warn, "no container runtime answers: container.* fields will hold ids only")
                .fix("mount the runtime's socket (/run/containerd/containerd.sock, /run/crio/crio.sock, /var/run/docker.sock) \
                      or point HARRIER_CONTAINERD_SOCKET (etc.) at it"),
        );
    }
    out
}

/// One of Harrier's own HTTP services.
pub struct Service {
    pub name: &'static str,
    pub enabled_key: &'static str,
    pub default_enabled: bool,
    pub addr_key: &'static str,
    pub default_addr: &'static str,
    pub port_key: &'static str,
    pub default_port: u16,
    pub tls_key: &'static str,
    /// The path that answers when the service is up, and the key that can change it.
    pub path: &'static str,
    pub path_key: &'static str,
    /// What it costs when disabled, and what to do.
    pub when_disabled: &'static str,
}

/// Harrier's services, with Falco's key names where Falco has the service (`webserver.*`).
pub const SERVICES: &[Service] = &[
    Service {
        name: "webserver",
        enabled_key: "webserver.enabled",
        default_enabled: true,
        addr_key: "webserver.listen_address",
        default_addr: "0.0.0.0",
        port_key: "webserver.listen_port",
        default_port: 8765,
        tls_key: "webserver.ssl_enabled",
        path: "/healthz",
        path_key: "webserver.k8s_healthz_endpoint",
        when_disabled: "liveness/readiness probes on /healthz and Prometheus scraping of /metrics cannot work; set webserver.enabled: true",
    },
    Service {
        name: "metrics",
        enabled_key: "metrics.enabled",
        default_enabled: false,
        addr_key: "webserver.listen_address",
        default_addr: "0.0.0.0",
        port_key: "webserver.listen_port",
        default_port: 8765,
        tls_key: "webserver.ssl_enabled",
        path: "/metrics",
        path_key: "",
        when_disabled: "Prometheus cannot scrape /metrics: set metrics.enabled: true and webserver.prometheus_metrics_enabled: true (Helm: metrics.enabled=true)",
    },
    Service {
        name: "ui",
        enabled_key: "ui.enabled",
        default_enabled: false,
        addr_key: "ui.listen_address",
        default_addr: "127.0.0.1",
        port_key: "ui.listen_port",
        default_port: 2802,
        tls_key: "ui.tls",
        path: "/",
        path_key: "ui.path",
        when_disabled: "the web UI was never enabled: set ui.enabled: true (Helm: --set ui.enabled=true, Falco chart's falcosidekick.webui.enabled)",
    },
    Service {
        name: "store",
        enabled_key: "store.enabled",
        default_enabled: false,
        addr_key: "store.listen_address",
        default_addr: "127.0.0.1",
        port_key: "store.listen_port",
        default_port: 0,
        tls_key: "store.tls",
        path: "/",
        path_key: "store.path",
        when_disabled: "alerts are not kept for search: set store.enabled: true",
    },
];

/// GET `url` and return the status code.
fn get(url: &str, timeout: Duration) -> Result<u16, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let c = reqwest::Client::builder()
            .timeout(timeout)
            .danger_accept_invalid_certs(true) // reachability only; a self-signed local cert is normal
            .build()
            .map_err(|e| e.to_string())?;
        let r = c.get(url).send().await.map_err(|e| {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(x) = src {
                s.push_str(": ");
                s.push_str(&x.to_string());
                src = x.source();
            }
            s
        })?;
        Ok(r.status().as_u16())
    })
}

pub fn check_services(cx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in SERVICES {
        let explicit = cx.get(s.enabled_key).is_some();
        let enabled = cx.bool(s.enabled_key).unwrap_or(s.default_enabled);
        if !enabled {
            // A service nobody asked for is not a warning; one switched off (or the UI, which people
            // expect) is.
            let st = if explicit || s.name == "ui" { Status::Warn } else { Status::Skip };
            out.push(
                Finding::new("services", s.name, st, format!("{} is not enabled", s.enabled_key))
                    .fix(s.when_disabled),
            );
            continue;
        }
        let port: u16 = cx.str(s.port_key).and_then(|p| p.parse().ok()).unwrap_or(s.default_port);
        if port == 0 {
            out.push(
                Finding::new("services", s.name, Status::Fail, format!("{} is not set", s.port_key))
                    .fix(format!("set {}", s.port_key)),
            );
            continue;
        }
        let addr = cx.str(s.addr_key).unwrap_or_else(|| s.default_addr.to_string());
        let host = match addr.as_str() {
            "0.0.0.0" | "" => "127.0.0.1".to_string(),
            "::" => "[::1]".to_string(),
            a if a.contains(':') && !a.starts_with('[') => format!("[{a}]"),
            a => a.to_string(),
        };
        let scheme = if cx.bool(s.tls_key).unwrap_or(false) { "https" } else { "http" };
        let path = if s.path_key.is_empty() { None } else { cx.str(s.path_key) };
        let path = path.unwrap_or_else(|| s.path.to_string());
        let path = if path.starts_with('/') { path } else { format!("/{path}") };
        let url = format!("{scheme}://{host}:{port}{path}");
        match get(&url, cx.opts.timeout) {
            Ok(code) if code < 400 => {
                out.push(Finding::new("services", s.name, Status::Ok, format!("enabled, {url} answers HTTP {code}")))
            }
            Ok(code) => out.push(
                Finding::new("services", s.name, Status::Fail, format!("enabled, {url} answers HTTP {code}"))
                    .fix("harrier is up but not healthy: see its log"),
            ),
            Err(e) => out.push(
                Finding::new("services", s.name, Status::Warn, format!("enabled on {addr}:{port} but {url} does not answer: {e}"))
                    .fix("is `harrier run` running with this config? (in Kubernetes: the pod's port and probes must use the same port)"),
            ),
        }
    }
    out
}
