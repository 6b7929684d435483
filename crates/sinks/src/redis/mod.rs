//! Redis through the `redis` crate (multiplexed async connection, reconnects on the next batch
//! after a failure): `storagetype: list` (falcosidekick's default, `RPUSH key json`) or `stream`
//! (`XADD key [MAXLEN ~ n] * rule … priority … source … hostname … time … output … json …`).
//! A batch is one pipeline; every reply is checked.

use crate::common::CommonConfig;
use serde::Deserialize;

/// falcosidekick's `redis:` keys plus `maxlen` for streams.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RedisConfig {
    pub address: String,
    pub password: String,
    pub database: u32,
    pub key: String,
    pub storagetype: String,
    pub maxlen: Option<u64>,
    #[serde(flatten)]
    pub common: CommonConfig,
}

// The client: the `redis` feature. Without it the section is still read (and refused at
// start naming the feature, as `harrier doctor` reports it).
#[cfg(feature = "redis")]
mod client;
#[cfg(feature = "redis")]
pub use client::{connection_info, RedisSink};

#[cfg(not(feature = "redis"))]
crate::left_out_sink!(RedisSink, RedisConfig, "redis");
