//! E-mail over SMTP through `lettre` (its async SMTP connection on tokio and rustls, one
//! session per batch of alerts): the connection, EHLO/HELO, STARTTLS or implicit TLS, AUTH PLAIN/LOGIN,
//! dot-stuffing, reply parsing and MIME encoding are lettre's. This module turns the
//! falcosidekick `smtp:` keys into a transport and an alert into a message.
//!
//! The message carries Date, From, To, Subject `[Priority] rule`, Message-ID and MIME-Version;
//! `outputformat: html` (default) sends multipart/alternative with a plain-text and an HTML part,
//! `text` only the plain-text part.
//!
//! `tls: true` (falcosidekick's default) means implicit TLS on port 465 and STARTTLS (required)
//! on any other port; `tls: false` is plain SMTP. Harrier adds `checkcert` (default true) and
//! `cacert` (a PEM file of extra trusted CAs). SMTP replies 5xx, and a server that lacks what the
//! configuration asks for (STARTTLS, the AUTH mechanism), are permanent failures; 4xx, TLS and
//! connection problems are retried.

use crate::common::CommonConfig;
use serde::Deserialize;

/// falcosidekick's `smtp:` keys plus `checkcert` and `cacert`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SmtpConfig {
    pub hostport: String,
    pub tls: bool,
    /// `plain` (default), `login` or `none`.
    pub authmechanism: String,
    pub user: String,
    pub password: String,
    pub identity: String,
    pub from: String,
    /// Comma-separated recipients.
    pub to: String,
    /// `html` (default) or `text`.
    pub outputformat: String,
    pub checkcert: bool,
    pub cacert: String,
    #[serde(flatten)]
    pub common: CommonConfig,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            hostport: String::new(),
            tls: true,
            authmechanism: String::new(),
            user: String::new(),
            password: String::new(),
            identity: String::new(),
            from: String::new(),
            to: String::new(),
            outputformat: String::new(),
            checkcert: true,
            cacert: String::new(),
            common: CommonConfig::default(),
        }
    }
}

// The client: the `smtp` feature. Without it the section is still read (and refused at
// start naming the feature, as `harrier doctor` reports it).
#[cfg(feature = "smtp")]
mod client;
#[cfg(feature = "smtp")]
pub use client::SmtpSink;

#[cfg(not(feature = "smtp"))]
crate::left_out_sink!(SmtpSink, SmtpConfig, "smtp");
