//! A small Falco plugin for testing Harrier's plugin host, written on the `falco_plugin` SDK.
//!
//! * init_config: any string; `"fail"` makes `init` fail with a message.
//! * source `k8s_audit` (the role of k8saudit's cloud variants), id 999; with the feature
//!   `own-source`, a source of its own, `harrier_test`, id 998.
//! * open_params: `"N"` emits events `event-0` … `event-(N-1)` then ends; `"badid"` emits one
//!   event carrying another plugin's id (the host must refuse it) and then one good event;
//!   `"file:PATH"` emits each non-empty line of PATH (k8s audit JSON) as an event.
//! * fields: `test.data` (the payload), `test.num` (its number), `test.words` (list: `-`-separated).
//! * metrics: `events_emitted` (monotonic).

use falco_event::events::{Event, EventMetadata, RawEvent};
use falco_plugin::anyhow::{self, Error};
use falco_plugin::base::{Metric, MetricLabel, MetricType, MetricValue, Plugin};
use falco_plugin::event::PluginEvent;
use falco_plugin::extract::{field, EventInput, ExtractFieldInfo, ExtractPlugin, ExtractRequest};
use falco_plugin::source::{EventBatch, SourcePlugin, SourcePluginInstance};
use falco_plugin::tables::TablesInput;
use falco_plugin::{extract_plugin, plugin, source_plugin, FailureReason};
use std::ffi::{CStr, CString};

pub struct TestPlugin {
    emitted: u64,
}

impl Plugin for TestPlugin {
    const NAME: &'static CStr = c"harrier-test";
    const PLUGIN_VERSION: &'static CStr = c"0.1.0";
    const DESCRIPTION: &'static CStr = c"Harrier's plugin host test plugin";
    const CONTACT: &'static CStr = c"harrier tests";
    type ConfigType = String;

    fn new(_input: Option<&TablesInput>, config: Self::ConfigType) -> Result<Self, Error> {
        if config == "fail" {
            anyhow::bail!("init refused: fail");
        }
        Ok(TestPlugin { emitted: 0 })
    }

    fn get_metrics(&mut self) -> impl IntoIterator<Item = Metric> {
        [Metric::new(
            MetricLabel::new(c"events_emitted", MetricType::Monotonic),
            MetricValue::U64(self.emitted),
        )]
    }
}

pub struct Instance {
    left: u64,
    next: u64,
    bad_id: bool,
    lines: Vec<String>,
}

impl SourcePluginInstance for Instance {
    type Plugin = TestPlugin;

    fn next_batch(&mut self, plugin: &mut Self::Plugin, batch: &mut EventBatch) -> Result<(), Error> {
        if self.bad_id {
            self.bad_id = false;
            let ev = Event {
                metadata: EventMetadata::default(),
                params: PluginEvent { plugin_id: 999_999, event_data: b"intruder".as_slice() },
            };
            batch.add(ev)?;
        }
        if !self.lines.is_empty() {
            for l in self.lines.drain(..) {
                batch.add(Self::plugin_event(l.as_bytes()))?;
                plugin.emitted += 1;
            }
            return Ok(());
        }
        if self.left == 0 {
            return Err(anyhow::anyhow!("end of data").context(FailureReason::Eof));
        }
        let n = self.left.min(16);
        for _ in 0..n {
            let data = format!("event-{}", self.next);
            batch.add(Self::plugin_event(data.as_bytes()))?;
            self.next += 1;
            plugin.emitted += 1;
        }
        self.left -= n;
        Ok(())
    }
}

impl SourcePlugin for TestPlugin {
    type Instance = Instance;
    #[cfg(not(feature = "own-source"))]
    const EVENT_SOURCE: &'static CStr = c"k8s_audit";
    #[cfg(not(feature = "own-source"))]
    const PLUGIN_ID: u32 = 999;
    #[cfg(feature = "own-source")]
    const EVENT_SOURCE: &'static CStr = c"harrier_test";
    #[cfg(feature = "own-source")]
    const PLUGIN_ID: u32 = 998;
    type Event<'a> = RawEvent<'a>;

    fn open(&mut self, params: Option<&str>) -> Result<Self::Instance, Error> {
        match params.unwrap_or("") {
            "badid" => Ok(Instance { left: 1, next: 0, bad_id: true, lines: vec![] }),
            p if p.starts_with("file:") => {
                let text = std::fs::read_to_string(&p[5..])?;
                let lines = text.lines().filter(|l| !l.trim().is_empty()).map(String::from).collect();
                Ok(Instance { left: 0, next: 0, bad_id: false, lines })
            }
            p => Ok(Instance { left: p.parse()?, next: 0, bad_id: false, lines: vec![] }),
        }
    }

    fn event_to_string(&mut self, event: &EventInput<RawEvent>) -> Result<CString, Error> {
        Ok(CString::new(data(&event.event()?)?)?)
    }
}

/// The payload of a plugin event: after the two u32 lengths and the plugin id.
fn data<'a>(ev: &RawEvent<'a>) -> Result<&'a [u8], Error> {
    ev.payload.get(12..).ok_or_else(|| anyhow::anyhow!("short plugin event"))
}

impl TestPlugin {
    fn extract_data(&mut self, req: ExtractRequest<Self>) -> Result<CString, Error> {
        Ok(CString::new(data(&req.event.event()?)?)?)
    }
    fn extract_num(&mut self, req: ExtractRequest<Self>) -> Result<u64, Error> {
        let ev = req.event.event()?;
        let d = std::str::from_utf8(data(&ev)?)?;
        Ok(d.rsplit('-').next().unwrap_or("").parse()?)
    }
    fn extract_words(&mut self, req: ExtractRequest<Self>) -> Result<Vec<CString>, Error> {
        let ev = req.event.event()?;
        let d = std::str::from_utf8(data(&ev)?)?;
        Ok(d.split('-').map(|w| CString::new(w).unwrap_or_default()).collect())
    }
}

impl ExtractPlugin for TestPlugin {
    type Event<'a> = RawEvent<'a>;
    type ExtractContext = ();
    const EXTRACT_FIELDS: &'static [ExtractFieldInfo<Self>] = &[
        field("test.data", &Self::extract_data),
        field("test.num", &Self::extract_num),
        field("test.words", &Self::extract_words),
    ];
}

plugin!(TestPlugin);
source_plugin!(TestPlugin);
extract_plugin!(TestPlugin);
