//! Object storage outside AWS: Google Cloud Storage (falcosidekick's `gcp.credentials`,
//! `gcp.storage.bucket`, `gcp.storage.prefix`) and Azure Blob Storage (Harrier's
//! `azure.blob.*`; falcosidekick's `azure:` block has only Event Hubs). Each alert is one
//! object named as S3's ([`crate::common::ObjectKeys`]), Falco's JSON, `application/json`.
//!
//! Both speak the services' REST APIs through the sinks' `reqwest` client, signed here with the
//! `ring` already linked (GCS: a service account's RS256 JWT exchanged for an OAuth token, or the
//! metadata server's token; Azure: Shared Key HMAC-SHA256 or a SAS token). `object_store` was
//! measured and is far heavier for two requests (see ARCHITECTURE.md). The clients are behind
//! the `cloud` cargo feature (default on; `harrier`'s feature of the same name); without it the
//! configuration still parses and an enabled output is refused at start naming the feature
//! ([`crate::config::Config::left_out`]).

#[cfg(feature = "cloud")]
pub mod azure;
#[cfg(feature = "cloud")]
pub mod gcs;

use crate::common::CommonConfig;
use crate::sink::Sink;
use serde::Deserialize;
use std::sync::Arc;

/// falcosidekick's `gcp:` block (only the storage output is Harrier's; `pubsub`,
/// `cloudfunctions`, `cloudrun`, `chronicle` are reported as unknown keys).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct GcpConfig {
    /// The service account key file's JSON, base64-encoded (falcosidekick's form). Empty: the
    /// metadata server's token (GCE, GKE workload identity), or none with a custom `endpoint`.
    pub credentials: String,
    pub storage: GcsConfig,
}

/// `gcp.storage:`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct GcsConfig {
    pub bucket: String,
    pub prefix: String,
    /// Harrier: the JSON API's base URL (default `https://storage.googleapis.com`), for an
    /// emulator or a private endpoint.
    pub endpoint: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// Harrier's `azure:` block (`azure.blob`).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct AzureConfig {
    pub blob: AzureBlobConfig,
}

/// `azure.blob:`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct AzureBlobConfig {
    pub accountname: String,
    /// The storage account key (base64, as the portal shows it): Shared Key signing.
    pub accountkey: String,
    /// A SAS token (`sv=…&sig=…`) instead of the account key.
    pub sastoken: String,
    pub container: String,
    pub prefix: String,
    /// Default `https://<accountname>.blob.core.windows.net`; Azurite:
    /// `http://127.0.0.1:10000/<accountname>`.
    pub endpoint: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// A `sinks:` entry of type `gcpstorage`: `credentials` beside the storage keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct GcsEntry {
    pub credentials: String,
    #[serde(flatten)]
    pub storage: GcsConfig,
}

/// The outputs the two blocks turn on: (kind, common keys).
pub fn enabled<'a>(gcp: &'a GcpConfig, azure: &'a AzureConfig) -> Vec<(&'static str, &'a CommonConfig)> {
    let mut v = Vec::new();
    if !gcp.storage.bucket.is_empty() {
        v.push(("gcpstorage", &gcp.storage.common));
    }
    if !azure.blob.container.is_empty() {
        v.push(("azureblob", &azure.blob.common));
    }
    v
}

/// The section paths and common keys (for the configuration checks).
pub fn commons<'a>(gcp: &'a GcpConfig, azure: &'a AzureConfig) -> [(&'static str, &'a CommonConfig); 2] {
    [("gcp.storage", &gcp.storage.common), ("azure.blob", &azure.blob.common)]
}

#[cfg(feature = "cloud")]
fn gcs_sink(credentials: &str, c: &GcsConfig) -> Result<Arc<dyn Sink>, String> {
    Ok(Arc::new(gcs::GcsSink::new(credentials, c)?))
}
#[cfg(feature = "cloud")]
fn azure_sink(c: &AzureBlobConfig) -> Result<Arc<dyn Sink>, String> {
    Ok(Arc::new(azure::AzureBlobSink::new(c)?))
}
#[cfg(not(feature = "cloud"))]
fn gcs_sink(_: &str, _: &GcsConfig) -> Result<Arc<dyn Sink>, String> {
    Err(crate::not_built("cloud", "gcp.storage"))
}
#[cfg(not(feature = "cloud"))]
fn azure_sink(_: &AzureBlobConfig) -> Result<Arc<dyn Sink>, String> {
    Err(crate::not_built("cloud", "azure.blob"))
}

/// The sink of an enabled section (`kind` from [`enabled`]).
pub fn section_sink(kind: &str, gcp: &GcpConfig, azure: &AzureConfig) -> Result<Arc<dyn Sink>, String> {
    match kind {
        "gcpstorage" => gcs_sink(&gcp.credentials, &gcp.storage),
        _ => azure_sink(&azure.blob),
    }
}

/// A `sinks:` entry of type `gcpstorage` or `azureblob` (`None`: another type).
pub fn entry_sink(kind: &str, v: &serde_yaml::Value) -> Option<Result<Arc<dyn Sink>, String>> {
    let parse = |k: &str| format!("sinks: {kind}: {k}");
    match kind {
        "gcpstorage" => Some(
            serde_yaml::from_value::<GcsEntry>(v.clone())
                .map_err(|e| parse(&e.to_string()))
                .and_then(|e| gcs_sink(&e.credentials, &e.storage)),
        ),
        "azureblob" => Some(
            serde_yaml::from_value::<AzureBlobConfig>(v.clone())
                .map_err(|e| parse(&e.to_string()))
                .and_then(|c| azure_sink(&c)),
        ),
        _ => None,
    }
}

/// The keys of a `sinks:` entry of these types.
pub fn entry_schema(kind: &str, v: &serde_yaml::Value) -> Option<serde_yaml::Value> {
    match kind {
        "gcpstorage" => {
            serde_yaml::from_value::<GcsEntry>(v.clone()).ok().and_then(|e| serde_yaml::to_value(e).ok())
        }
        "azureblob" => serde_yaml::from_value::<AzureBlobConfig>(v.clone())
            .ok()
            .and_then(|e| serde_yaml::to_value(e).ok()),
        _ => None,
    }
}

#[cfg(all(test, feature = "cloud"))]
mod tests;
