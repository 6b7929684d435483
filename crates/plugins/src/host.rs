//! A host for real Falco plugin libraries (`library_path`), the minimal subset: load with
//! `dlopen` (libloading), resolve each `plugin_*` symbol, check the required API version, validate
//! `init_config` against the plugin's schema, `init` with a real log callback and owner error, run a
//! sourcing plugin's `open`/`next_batch` on its own thread into a bounded queue, list and extract
//! its fields, read its metrics. Struct layouts come from `falco_plugin_api` (the SDK's bindings
//! of `plugin_api.h`).
//!
//! Isolation: every string and event the plugin hands back is checked (NUL-terminated strings
//! read with a length cap, event headers against their declared length and type, the plugin id)
//! before use; a bad one is logged, counted and skipped. A failing `init` or `open` is an error
//! at start, not a crash. A plugin that corrupts memory or aborts still takes the process down:
//! it runs in-process, as in Falco (documented limitation).
//!
//! Not hosted: parsing plugins and state tables (the tables vtable lists none), async events,
//! capture listening, `set_config`.

use falco_plugin_api as api;
use harrier_k8saudit::queue::Timeout;
use serde_json::Value;
use std::ffi::{c_char, CString};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// The plugin API version this host implements (the bindings' header).
pub const HOST_API: (u32, u32, u32) =
    (api::PLUGIN_API_VERSION_MAJOR, api::PLUGIN_API_VERSION_MINOR, api::PLUGIN_API_VERSION_PATCH);

/// Longest string accepted from a plugin (names, errors, schemas, field lists).
const MAX_STR: usize = 1 << 20;
/// Longest event accepted from a plugin.
const MAX_EVENT: usize = 64 << 20;

/// Falco's rule: same major, plugin minor ≤ host minor, patch ≤ host patch when minors are equal.
pub fn api_compatible(required: &str, host: (u32, u32, u32)) -> Result<(), String> {
    let parts: Vec<u32> =
        required.trim().split('.').map(|p| p.parse().ok()).collect::<Option<_>>().unwrap_or_default();
    let [maj, min, pat] = parts[..] else {
        return Err(format!("required API version {required:?} is not M.m.p"));
    };
    let (hm, hn, hp) = host;
    if maj != hm || min > hn || (min == hn && pat > hp) {
        return Err(format!("plugin requires API version {required}, this host has {hm}.{hn}.{hp}"));
    }
    Ok(())
}

/// Validate `config` (JSON text) against a plugin's JSON schema, for the schema features plugins
/// use: `type`, `properties` (recursively), `required`, `additionalProperties: false`, `enum`,
/// `minimum`/`maximum`. Unknown keywords are ignored (the plugin's own init checks the rest).
pub fn validate_config(schema: &str, config: &str) -> Result<(), String> {
    let schema: Value =
        serde_json::from_str(schema).map_err(|e| format!("plugin init schema is not JSON: {e}"))?;
    let cfg: Value = if config.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_str(config).map_err(|e| format!("init_config is not JSON: {e}"))?
    };
    check(&schema, &cfg, "init_config")
}

fn check(s: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(x) => vec![x.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.is_empty()
            || types.iter().any(|t| match *t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "boolean" => v.is_boolean(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "null" => v.is_null(),
                _ => true,
            });
        if !ok {
            return Err(format!("{at}: expected {}, got {v}", types.join(" or ")));
        }
    }
    if let Some(Value::Array(e)) = s.get("enum") {
        if !e.contains(v) {
            return Err(format!("{at}: {v} is not one of {}", Value::Array(e.clone())));
        }
    }
    if let (Some(min), Some(x)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if x < min {
            return Err(format!("{at}: {x} is below the minimum {min}"));
        }
    }
    if let (Some(max), Some(x)) = (s.get("maximum").and_then(Value::as_f64), v.as_f64()) {
        if x > max {
            return Err(format!("{at}: {x} is above the maximum {max}"));
        }
    }
    if let Value::Object(m) = v {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = s.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !m.contains_key(r) {
                    return Err(format!("{at}: required key '{r}' is missing"));
                }
            }
        }
        for (k, x) in m {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(ps, x, &format!("{at}.{k}"))?,
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!("{at}: unknown key '{k}'"))
                }
                None => {}
            }
        }
    }
    if let (Value::Array(a), Some(items)) = (v, s.get("items")) {
        for (i, x) in a.iter().enumerate() {
            check(items, x, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Read a plugin-owned C string (bounded; `None` for NULL).
///
/// # Safety
/// `p` is NULL or points to memory the plugin keeps valid for the duration of the call.
unsafe fn c_str(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // Bounded scan for the terminator, so a missing NUL cannot run away.
    let mut n = 0;
    // SAFETY: reading byte by byte up to the first NUL or MAX_STR within the plugin's string.
    while n < MAX_STR && unsafe { *p.add(n) } != 0 {
        n += 1;
    }
    // SAFETY: the n bytes just scanned are readable.
    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, n) };
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// What the host passes as `owner`: where the plugin's log lines are attributed.
struct Owner {
    name: CString,
    last_error: CString,
    /// An empty table reader (no tables are offered); the Rust SDK requires one.
    reader_ext: api::ss_plugin_table_reader_vtable_ext,
}

unsafe extern "C-unwind" fn owner_last_error(o: *mut api::ss_plugin_owner_t) -> *const c_char {
    if o.is_null() {
        return std::ptr::null();
    }
    // SAFETY: the host passes a pointer to its boxed Owner, alive as long as the plugin.
    let owner = unsafe { &*(o as *const Owner) };
    owner.last_error.as_ptr()
}

unsafe extern "C-unwind" fn log_fn(
    o: *mut api::ss_plugin_owner_t,
    component: *const c_char,
    msg: *const c_char,
    sev: api::ss_plugin_log_severity,
) {
    // SAFETY: strings from the plugin, valid during the call; the owner is ours.
    let (component, msg) = unsafe { (c_str(component), c_str(msg).unwrap_or_default()) };
    let name = if o.is_null() {
        String::new()
    } else {
        // SAFETY: see owner_last_error.
        unsafe { &*(o as *const Owner) }.name.to_string_lossy().into_owned()
    };
    let who = component.unwrap_or(name);
    match sev {
        1..=3 => tracing::error!("plugin {who}: {msg}"),
        4 => tracing::warn!("plugin {who}: {msg}"),
        5 | 6 => tracing::info!("plugin {who}: {msg}"),
        _ => tracing::debug!("plugin {who}: {msg}"),
    }
}

type Sym<T> = Option<T>;

/// The resolved symbols (`None`: the plugin does not export it).
#[derive(Clone, Copy)]
struct Api {
    get_required_api_version: unsafe extern "C-unwind" fn() -> *const c_char,
    get_version: unsafe extern "C-unwind" fn() -> *const c_char,
    get_name: unsafe extern "C-unwind" fn() -> *const c_char,
    get_description: unsafe extern "C-unwind" fn() -> *const c_char,
    get_contact: unsafe extern "C-unwind" fn() -> *const c_char,
    init: unsafe extern "C-unwind" fn(
        *const api::ss_plugin_init_input,
        *mut api::ss_plugin_rc,
    ) -> *mut api::ss_plugin_t,
    destroy: unsafe extern "C-unwind" fn(*mut api::ss_plugin_t),
    get_last_error: unsafe extern "C-unwind" fn(*mut api::ss_plugin_t) -> *const c_char,
    get_init_schema: Sym<unsafe extern "C-unwind" fn(*mut api::ss_plugin_schema_type) -> *const c_char>,
    get_id: Sym<unsafe extern "C-unwind" fn() -> u32>,
    get_event_source: Sym<unsafe extern "C-unwind" fn() -> *const c_char>,
    open: Sym<
        unsafe extern "C-unwind" fn(
            *mut api::ss_plugin_t,
            *const c_char,
            *mut api::ss_plugin_rc,
        ) -> *mut api::ss_instance_t,
    >,
    close: Sym<unsafe extern "C-unwind" fn(*mut api::ss_plugin_t, *mut api::ss_instance_t)>,
    next_batch: Sym<
        unsafe extern "C-unwind" fn(
            *mut api::ss_plugin_t,
            *mut api::ss_instance_t,
            *mut u32,
            *mut *mut *mut api::ss_plugin_event,
        ) -> api::ss_plugin_rc,
    >,
    get_fields: Sym<unsafe extern "C-unwind" fn() -> *const c_char>,
    extract_fields: Sym<
        unsafe extern "C-unwind" fn(
            *mut api::ss_plugin_t,
            *const api::ss_plugin_event_input,
            *const api::ss_plugin_field_extract_input,
        ) -> api::ss_plugin_rc,
    >,
    get_metrics:
        Sym<unsafe extern "C-unwind" fn(*mut api::ss_plugin_t, *mut u32) -> *mut api::ss_plugin_metric>,
}

fn sym<T: Copy>(lib: &libloading::Library, name: &str) -> Option<T> {
    let cname = format!("plugin_{name}\0");
    // SAFETY: the symbol's type is the one plugin_api.h declares for this name.
    unsafe { lib.get::<T>(cname.as_bytes()).ok().map(|s| *s) }
}

fn required<T: Copy>(lib: &libloading::Library, name: &str, path: &Path) -> Result<T, String> {
    sym(lib, name)
        .ok_or_else(|| format!("plugin {}: required symbol plugin_{name} is missing", path.display()))
}

/// One declared field of a plugin (`get_fields`).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginField {
    pub name: String,
    /// `string`, `uint64`, `bool`, `reltime`, `abstime`, `ipaddr`, `ipnet`.
    pub ftype: String,
    pub is_list: bool,
    pub desc: String,
    pub arg_required: bool,
    pub arg_index: bool,
    pub arg_key: bool,
}

/// One extracted value.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginValue {
    Str(String),
    U64(u64),
    Bool(bool),
    Bytes(Vec<u8>),
}

/// One metric a plugin reports.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginMetric {
    pub name: String,
    pub monotonic: bool,
    pub value: f64,
}

/// A loaded, initialised plugin.
pub struct HostedPlugin {
    api: Api,
    state: *mut api::ss_plugin_t,
    /// Leaked on purpose: SDKs keep the owner pointer of the first `init` in library-global
    /// loggers, so it must outlive every plugin state (Falco keeps owners for the process life).
    owner: &'static Owner,
    pub name: String,
    pub version: String,
    pub description: String,
    pub contact: String,
    pub required_api: String,
    /// (id, source) of a sourcing plugin.
    pub source: Option<(u32, String)>,
    pub fields: Vec<PluginField>,
    pub init_schema: Option<String>,
    // Last: unloaded after everything that points into it.
    _lib: libloading::Library,
}

// SAFETY: the plugin API requires a plugin state to be usable from any one thread at a time;
// HostedPlugin hands `&mut` access only (no concurrent calls).
unsafe impl Send for HostedPlugin {}

impl HostedPlugin {
    /// Load `path`, check it, and `init` it with `init_config` (JSON text, may be empty).
    /// Loads and teardowns are serialised process-wide, as Falco does them one at a time.
    pub fn load(path: &Path, init_config: &str) -> Result<HostedPlugin, String> {
        let _g = LIFECYCLE.lock().unwrap_or_else(|e| e.into_inner());
        if !path.is_file() {
            return Err(format!("plugin library {} not found", path.display()));
        }
        // RTLD_NODELETE: the library stays mapped for the life of the process (as in Falco), so
        // thread-local destructors a plugin registered never point into unmapped code.
        use libloading::os::unix::{RTLD_LOCAL, RTLD_NOW};
        const RTLD_NODELETE: std::os::raw::c_int = 0x1000;
        // SAFETY: loading a library runs its initialisers: the operator chose this library.
        let lib: libloading::Library =
            unsafe { libloading::os::unix::Library::open(Some(path), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) }
                .map_err(|e| format!("cannot load plugin {}: {e}", path.display()))?
                .into();
        let a = Api {
            get_required_api_version: required(&lib, "get_required_api_version", path)?,
            get_version: required(&lib, "get_version", path)?,
            get_name: required(&lib, "get_name", path)?,
            get_description: required(&lib, "get_description", path)?,
            get_contact: required(&lib, "get_contact", path)?,
            init: required(&lib, "init", path)?,
            destroy: required(&lib, "destroy", path)?,
            get_last_error: required(&lib, "get_last_error", path)?,
            get_init_schema: sym(&lib, "get_init_schema"),
            get_id: sym(&lib, "get_id"),
            get_event_source: sym(&lib, "get_event_source"),
            open: sym(&lib, "open"),
            close: sym(&lib, "close"),
            next_batch: sym(&lib, "next_batch"),
            get_fields: sym(&lib, "get_fields"),
            extract_fields: sym(&lib, "extract_fields"),
            get_metrics: sym(&lib, "get_metrics"),
        };
        // SAFETY: no-argument getters returning static strings.
        let (required_api, name, version, description, contact) = unsafe {
            (
                c_str((a.get_required_api_version)()).unwrap_or_default(),
                c_str((a.get_name)()).unwrap_or_default(),
                c_str((a.get_version)()).unwrap_or_default(),
                c_str((a.get_description)()).unwrap_or_default(),
                c_str((a.get_contact)()).unwrap_or_default(),
            )
        };
        api_compatible(&required_api, HOST_API)
            .map_err(|e| format!("plugin {name} ({}): {e}", path.display()))?;
        let sourcing = a.open.is_some() && a.close.is_some() && a.next_batch.is_some();
        let source = match (sourcing, a.get_id, a.get_event_source) {
            // SAFETY: static getters.
            (true, Some(id), Some(src)) => Some(unsafe { (id(), c_str(src()).unwrap_or_default()) }),
            _ => None,
        };
        let init_schema = a.get_init_schema.and_then(|f| {
            let mut t: api::ss_plugin_schema_type = 0;
            // SAFETY: writes the schema type, returns a static string.
            let s = unsafe { c_str(f(&mut t)) };
            s.filter(|s| t == api::ss_plugin_schema_type_SS_PLUGIN_SCHEMA_JSON && !s.is_empty())
        });
        if let Some(schema) = &init_schema {
            validate_config(schema, init_config).map_err(|e| format!("plugin {name}: {e}"))?;
        }
        let fields = match a.get_fields {
            None => Vec::new(),
            // SAFETY: static getter.
            Some(f) => parse_fields(&unsafe { c_str(f()) }.unwrap_or_default())
                .map_err(|e| format!("plugin {name}: get_fields: {e}"))?,
        };
        let owner: &'static Owner = Box::leak(Box::new(Owner {
            name: CString::new(name.clone()).unwrap_or_default(),
            last_error: CString::default(),
            // SAFETY: a vtable of `None` function pointers is valid.
            reader_ext: unsafe { std::mem::zeroed() },
        }));
        let cfg = CString::new(init_config)
            .map_err(|_| format!("plugin {name}: init_config contains a NUL byte"))?;
        let input = api::ss_plugin_init_input {
            config: cfg.as_ptr(),
            owner: owner as *const Owner as *mut api::ss_plugin_owner_t,
            get_owner_last_error: Some(owner_last_error),
            tables: std::ptr::null(),
            log_fn: Some(log_fn),
        };
        let mut rc: api::ss_plugin_rc = api::ss_plugin_rc_SS_PLUGIN_FAILURE;
        // SAFETY: input and the strings it points to outlive the call.
        let state = unsafe { (a.init)(&input, &mut rc) };
        if rc != api::ss_plugin_rc_SS_PLUGIN_SUCCESS {
            // SAFETY: get_last_error on the state init returned (may be NULL-safe per the API).
            let msg = if state.is_null() { None } else { unsafe { c_str((a.get_last_error)(state)) } };
            if !state.is_null() {
                // SAFETY: a state returned by init is destroyed once.
                unsafe { (a.destroy)(state) };
            }
            return Err(format!("plugin {name}: init failed: {}", msg.unwrap_or_else(|| format!("rc {rc}"))));
        }
        if state.is_null() {
            return Err(format!("plugin {name}: init returned no state"));
        }
        Ok(HostedPlugin {
            api: a,
            state,
            owner,
            name,
            version,
            description,
            contact,
            required_api,
            source,
            fields,
            init_schema,
            _lib: lib,
        })
    }

    fn last_error(&self) -> String {
        // SAFETY: our live state.
        unsafe { c_str((self.api.get_last_error)(self.state)) }.unwrap_or_default()
    }

    /// Metrics of the plugin (`get_metrics`), passed through as numbers.
    pub fn metrics(&mut self) -> Vec<PluginMetric> {
        let Some(f) = self.api.get_metrics else { return Vec::new() };
        let mut n = 0u32;
        // SAFETY: our live state; the array stays valid until the next call.
        let p = unsafe { f(self.state, &mut n) };
        if p.is_null() || n as usize > 10_000 {
            return Vec::new();
        }
        // SAFETY: n metrics at p, per the API.
        let ms = unsafe { std::slice::from_raw_parts(p, n as usize) };
        ms.iter()
            .map(|m| {
                // SAFETY: the union member named by value_type.
                let value = unsafe {
                    match m.value_type {
                        api::ss_plugin_metric_value_type_SS_PLUGIN_METRIC_VALUE_TYPE_U32 => {
                            m.value.u32_ as f64
                        }
                        api::ss_plugin_metric_value_type_SS_PLUGIN_METRIC_VALUE_TYPE_S32 => {
                            m.value.s32 as f64
                        }
                        api::ss_plugin_metric_value_type_SS_PLUGIN_METRIC_VALUE_TYPE_U64 => {
                            m.value.u64_ as f64
                        }
                        api::ss_plugin_metric_value_type_SS_PLUGIN_METRIC_VALUE_TYPE_S64 => {
                            m.value.s64 as f64
                        }
                        api::ss_plugin_metric_value_type_SS_PLUGIN_METRIC_VALUE_TYPE_D => m.value.d,
                        api::ss_plugin_metric_value_type_SS_PLUGIN_METRIC_VALUE_TYPE_F => m.value.f as f64,
                        _ => m.value.i as f64,
                    }
                };
                PluginMetric {
                    // SAFETY: plugin string valid until the next call.
                    name: unsafe { c_str(m.name) }.unwrap_or_default(),
                    monotonic: m.type_ == api::ss_plugin_metric_type_SS_PLUGIN_METRIC_TYPE_MONOTONIC,
                    value,
                }
            })
            .collect()
    }

    /// Extract one field from an event (raw event bytes as produced by this plugin).
    /// `Ok(None)`: no value.
    pub fn extract(
        &mut self,
        event: &[u8],
        evtnum: u64,
        field: &str,
        arg: Option<&str>,
        index: Option<u64>,
    ) -> Result<Option<Vec<PluginValue>>, String> {
        let Some(f) = self.api.extract_fields else {
            return Err(format!("plugin {} does not extract fields", self.name));
        };
        let (id, decl) = self
            .fields
            .iter()
            .enumerate()
            .find(|(_, d)| d.name == field)
            .ok_or_else(|| format!("plugin {} has no field {field}", self.name))?;
        check_event(event, self.source.as_ref().map(|s| s.0))?;
        let ftype = match decl.ftype.as_str() {
            "uint64" => 8,
            "bool" => 25,
            "reltime" => 20,
            "abstime" => 21,
            "ipaddr" => 40,
            "ipnet" => 41,
            _ => 9, // PT_CHARBUF
        };
        let cfield = CString::new(field).map_err(|e| e.to_string())?;
        let carg = arg.map(|a| CString::new(a).unwrap_or_default());
        let src =
            CString::new(self.source.as_ref().map(|s| s.1.clone()).unwrap_or_default()).unwrap_or_default();
        // SAFETY: an all-zero extract field/vtable is valid (NULL pointers, None fns).
        let mut ef: api::ss_plugin_extract_field = unsafe { std::mem::zeroed() };
        ef.field_id = id as u32;
        ef.field = cfield.as_ptr();
        ef.arg_key = carg.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        ef.arg_index = index.unwrap_or(0);
        ef.arg_present = (arg.is_some() || index.is_some()) as u32;
        ef.ftype = ftype;
        ef.flist = decl.is_list as u32;
        // SAFETY: zeroed vtables are valid (all None).
        let mut input: api::ss_plugin_field_extract_input = unsafe { std::mem::zeroed() };
        input.owner = self.owner as *const Owner as *mut api::ss_plugin_owner_t;
        input.get_owner_last_error = Some(owner_last_error);
        input.num_fields = 1;
        input.fields = &mut ef;
        input.table_reader_ext = &self.owner.reader_ext as *const _ as *mut _;
        let evin = api::ss_plugin_event_input {
            evt: event.as_ptr() as *const api::ss_plugin_event,
            evtnum,
            evtsrc: src.as_ptr(),
        };
        // SAFETY: all inputs outlive the call; results are read below before any other call.
        let rc = unsafe { f(self.state, &evin, &input) };
        if rc != api::ss_plugin_rc_SS_PLUGIN_SUCCESS {
            return Err(format!("plugin {}: extract {field}: {}", self.name, self.last_error()));
        }
        let n = ef.res_len as usize;
        if n == 0 {
            return Ok(None);
        }
        if n > 100_000 {
            return Err(format!("plugin {}: extract {field}: {n} values", self.name));
        }
        let mut out = Vec::with_capacity(n);
        // SAFETY: the union member matches ftype; n results, owned by the plugin until its next call.
        unsafe {
            match ftype {
                9 => {
                    for i in 0..n {
                        out.push(PluginValue::Str(c_str(*ef.res.str_.add(i)).unwrap_or_default()));
                    }
                }
                25 => {
                    for i in 0..n {
                        out.push(PluginValue::Bool(*ef.res.boolean.add(i) != 0));
                    }
                }
                40 | 41 => {
                    for i in 0..n {
                        let b = *ef.res.buf.add(i);
                        let len = (b.len as usize).min(64);
                        out.push(PluginValue::Bytes(if b.ptr.is_null() {
                            vec![]
                        } else {
                            std::slice::from_raw_parts(b.ptr as *const u8, len).to_vec()
                        }));
                    }
                }
                _ => {
                    for i in 0..n {
                        out.push(PluginValue::U64(*ef.res.u64_.add(i)));
                    }
                }
            }
        }
        Ok(Some(out))
    }

    /// Open the plugin's event source and run it on its own thread into a bounded queue.
    pub fn start_source(self, open_params: &str, capacity: usize) -> Result<PluginSource, String> {
        let (Some(open), Some(_), Some(_)) = (self.api.open, self.api.close, self.api.next_batch) else {
            return Err(format!("plugin {} has no event source", self.name));
        };
        let params = CString::new(open_params).map_err(|_| "open_params contains a NUL byte".to_string())?;
        let mut rc: api::ss_plugin_rc = api::ss_plugin_rc_SS_PLUGIN_FAILURE;
        // SAFETY: our live state; params outlives the call.
        let inst = unsafe { open(self.state, params.as_ptr(), &mut rc) };
        if rc != api::ss_plugin_rc_SS_PLUGIN_SUCCESS || inst.is_null() {
            return Err(format!("plugin {}: open({open_params:?}) failed: {}", self.name, self.last_error()));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(SourceStats::default());
        let name = self.name.clone();
        let inst = SendPtr(inst);
        let (st, stats2) = (stop.clone(), stats.clone());
        let thread = std::thread::Builder::new()
            .name(format!("plugin-{name}"))
            .spawn(move || {
                let mut p = self;
                let inst = inst;
                pump(&mut p, inst.0, &st, &stats2, &mut |_, ev| send_waiting(&tx, ev, &st));
                // SAFETY: the instance from open, closed once, on the thread that used it.
                if let Some(close) = p.api.close {
                    unsafe { close(p.state, inst.0) };
                }
                p
            })
            .map_err(|e| e.to_string())?;
        Ok(PluginSource { rx, stop, stats, thread: Some(thread), name })
    }
}

impl HostedPlugin {
    /// Open the plugin's event source and run it on this thread: `each` gets every checked event
    /// with the plugin (to extract fields from it, as Falco does on the source's thread), until
    /// the source ends, `stop` is set or `each` returns false.
    pub fn run_source(
        &mut self,
        open_params: &str,
        stop: &AtomicBool,
        stats: &SourceStats,
        each: &mut dyn FnMut(&mut HostedPlugin, &[u8]) -> bool,
    ) -> Result<(), String> {
        let (Some(open), Some(close), Some(_)) = (self.api.open, self.api.close, self.api.next_batch) else {
            return Err(format!("plugin {} has no event source", self.name));
        };
        let params = CString::new(open_params).map_err(|_| "open_params contains a NUL byte".to_string())?;
        let mut rc: api::ss_plugin_rc = api::ss_plugin_rc_SS_PLUGIN_FAILURE;
        // SAFETY: our live state; params outlives the call.
        let inst = unsafe { open(self.state, params.as_ptr(), &mut rc) };
        if rc != api::ss_plugin_rc_SS_PLUGIN_SUCCESS || inst.is_null() {
            return Err(format!("plugin {}: open({open_params:?}) failed: {}", self.name, self.last_error()));
        }
        pump(self, inst, stop, stats, &mut |p, ev| each(p, &ev));
        // SAFETY: the instance from open, closed once.
        unsafe { close(self.state, inst) };
        Ok(())
    }
}

struct SendPtr(*mut api::ss_instance_t);
// SAFETY: the instance is used by the source thread only.
unsafe impl Send for SendPtr {}

/// Counters of a hosted source.
#[derive(Debug, Default)]
pub struct SourceStats {
    pub events: AtomicU64,
    /// Events refused: bad header, length, type or plugin id.
    pub bad_events: AtomicU64,
    pub timeouts: AtomicU64,
}

/// A sourcing plugin running on its own thread.
pub struct PluginSource {
    rx: Receiver<Vec<u8>>,
    stop: Arc<AtomicBool>,
    pub stats: Arc<SourceStats>,
    thread: Option<std::thread::JoinHandle<HostedPlugin>>,
    pub name: String,
}

impl PluginSource {
    /// Next event (raw bytes, plugin event layout); `None` when the plugin reached its end.
    pub fn next_timeout(&self, d: Duration) -> Result<Option<Vec<u8>>, Timeout> {
        match self.rx.recv_timeout(d) {
            Ok(e) => Ok(Some(e)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(Timeout),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Ok(None),
        }
    }

    /// Stop the source and get the plugin back (for extraction and metrics).
    pub fn stop(mut self) -> Option<HostedPlugin> {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock a pump waiting for room.
        while self.rx.try_recv().is_ok() {}
        let t = self.thread.take()?;
        loop {
            if t.is_finished() {
                return t.join().ok();
            }
            while self.rx.try_recv().is_ok() {}
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Check a plugin event: header length, declared length within the buffer, type 322 with two
/// large parameters, plugin id 0 or the plugin's.
pub fn check_event(ev: &[u8], id: Option<u32>) -> Result<(), String> {
    const HDR: usize = 26;
    if ev.len() < HDR + 8 + 4 {
        return Err(format!("event too short ({} bytes)", ev.len()));
    }
    let len = u32::from_le_bytes([ev[16], ev[17], ev[18], ev[19]]) as usize;
    let ty = u16::from_le_bytes([ev[20], ev[21]]);
    let np = u32::from_le_bytes([ev[22], ev[23], ev[24], ev[25]]);
    if len != ev.len() {
        return Err(format!("event length {len} but {} bytes", ev.len()));
    }
    if ty != 322 || np != 2 {
        return Err(format!("event type {ty} with {np} params (plugins emit type 322 with 2)"));
    }
    let l0 = u32::from_le_bytes([ev[26], ev[27], ev[28], ev[29]]) as usize;
    let l1 = u32::from_le_bytes([ev[30], ev[31], ev[32], ev[33]]) as usize;
    if l0 != 4 || HDR + 8 + l0 + l1 != len {
        return Err("event parameter lengths do not add up".into());
    }
    let pid = u32::from_le_bytes([ev[34], ev[35], ev[36], ev[37]]);
    if let Some(id) = id {
        if pid != 0 && pid != id {
            return Err(format!("event carries plugin id {pid}, the plugin's is {id}"));
        }
    }
    Ok(())
}

/// Run the source instance `inst` until it ends, `stop` is set or `emit` returns false: every
/// batch is checked and copied (a plugin's batch is only valid until its next call), then each
/// event is handed to `emit` together with the plugin, so it can extract fields.
fn pump(
    p: &mut HostedPlugin,
    inst: *mut api::ss_instance_t,
    stop: &AtomicBool,
    stats: &SourceStats,
    emit: &mut dyn FnMut(&mut HostedPlugin, Vec<u8>) -> bool,
) {
    let Some(next) = p.api.next_batch else { return };
    let id = p.source.as_ref().map(|s| s.0);
    let mut batch: Vec<Vec<u8>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut n = 0u32;
        let mut evts: *mut *mut api::ss_plugin_event = std::ptr::null_mut();
        // SAFETY: our state and instance; the batch stays valid until the next call.
        let rc = unsafe { next(p.state, inst, &mut n, &mut evts) };
        if rc == api::ss_plugin_rc_SS_PLUGIN_SUCCESS || rc == api::ss_plugin_rc_SS_PLUGIN_EOF {
            if !evts.is_null() && n <= 1_000_000 {
                for i in 0..n as usize {
                    // SAFETY: n event pointers at evts.
                    let e = unsafe { *evts.add(i) };
                    if e.is_null() {
                        stats.bad_events.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    // SAFETY: the header is 26 packed bytes at e.
                    let len = unsafe { std::ptr::read_unaligned(std::ptr::addr_of!((*e).len)) } as usize;
                    if !(26..=MAX_EVENT).contains(&len) {
                        stats.bad_events.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("plugin {}: event with length {len} skipped", p.name);
                        continue;
                    }
                    // SAFETY: the plugin declares len bytes at e.
                    let mut bytes = unsafe { std::slice::from_raw_parts(e as *const u8, len) }.to_vec();
                    if let Err(msg) = check_event(&bytes, id) {
                        stats.bad_events.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("plugin {}: event skipped: {msg}", p.name);
                        continue;
                    }
                    // Plugin id 0 is filled in by the host; ts u64::MAX means "now".
                    if let Some(id) = id {
                        bytes[34..38].copy_from_slice(&id.to_le_bytes());
                    }
                    if bytes[0..8] == [0xff; 8] {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_nanos() as u64)
                            .unwrap_or(0);
                        bytes[0..8].copy_from_slice(&now.to_le_bytes());
                    }
                    stats.events.fetch_add(1, Ordering::Relaxed);
                    batch.push(bytes);
                }
            }
            for ev in batch.drain(..) {
                if !emit(p, ev) {
                    return;
                }
            }
            if rc == api::ss_plugin_rc_SS_PLUGIN_EOF {
                return;
            }
        } else if rc == api::ss_plugin_rc_SS_PLUGIN_TIMEOUT {
            stats.timeouts.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(10));
        } else {
            tracing::error!("plugin {}: next_batch failed: {}", p.name, p.last_error());
            return;
        }
    }
}

/// Hand `item` to a bounded queue, waiting for room; false when the reader is gone or `stop`.
fn send_waiting(tx: &SyncSender<Vec<u8>>, mut item: Vec<u8>, stop: &AtomicBool) -> bool {
    loop {
        match tx.try_send(item) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                item = back;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Plugin loads and destroys happen one at a time.
static LIFECYCLE: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Drop for HostedPlugin {
    fn drop(&mut self) {
        let _g = LIFECYCLE.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: our state, destroyed once, before the library is unloaded (field order).
        unsafe { (self.api.destroy)(self.state) };
    }
}

/// Parse `get_fields` JSON.
pub fn parse_fields(json: &str) -> Result<Vec<PluginField>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let arr = v.as_array().ok_or("not a JSON array")?;
    let mut out = Vec::new();
    for f in arr {
        let name = f.get("name").and_then(Value::as_str).ok_or("a field without a name")?.to_string();
        let arg = f.get("arg");
        let flag = |k: &str| arg.and_then(|a| a.get(k)).and_then(Value::as_bool).unwrap_or(false);
        out.push(PluginField {
            ftype: f.get("type").and_then(Value::as_str).unwrap_or("string").to_string(),
            is_list: f.get("isList").and_then(Value::as_bool).unwrap_or(false),
            desc: f.get("desc").and_then(Value::as_str).unwrap_or("").to_string(),
            arg_required: flag("isRequired"),
            arg_index: flag("isIndex"),
            arg_key: flag("isKey"),
            name,
        });
    }
    Ok(out)
}

/// The data of a plugin event (after the 26-byte header, two u32 lengths and the plugin id).
pub fn event_data(ev: &[u8]) -> &[u8] {
    ev.get(38..).unwrap_or(&[])
}

/// The timestamp of an event.
pub fn event_ts(ev: &[u8]) -> u64 {
    ev.get(0..8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_rule() {
        assert!(api_compatible("3.0.0", (3, 11, 0)).is_ok());
        assert!(api_compatible("3.11.0", (3, 11, 0)).is_ok());
        assert!(api_compatible("3.11.1", (3, 11, 0)).is_err());
        assert!(api_compatible("3.12.0", (3, 11, 0)).is_err());
        assert!(api_compatible("2.0.0", (3, 11, 0)).is_err());
        assert!(api_compatible("garbage", (3, 11, 0)).is_err());
    }

    #[test]
    fn schema_validation() {
        let s = r#"{"type":"object","required":["a"],"additionalProperties":false,
            "properties":{"a":{"type":"string","enum":["x","y"]},"n":{"type":"integer","minimum":1}}}"#;
        assert!(validate_config(s, r#"{"a":"x","n":2}"#).is_ok());
        assert!(validate_config(s, r#"{"a":"z"}"#).unwrap_err().contains("not one of"));
        assert!(validate_config(s, r#"{"n":2}"#).unwrap_err().contains("required key 'a'"));
        assert!(validate_config(s, r#"{"a":"x","n":0}"#).unwrap_err().contains("minimum"));
        assert!(validate_config(s, r#"{"a":"x","q":1}"#).unwrap_err().contains("unknown key 'q'"));
        assert!(validate_config(s, r#"{"a":1}"#).unwrap_err().contains("expected string"));
        assert!(validate_config(s, "not json").is_err());
    }

    #[test]
    fn event_checks() {
        let mut buf = harrier_event_like(1111, b"hello");
        assert!(check_event(&buf, Some(1111)).is_ok());
        assert!(check_event(&buf, Some(7)).unwrap_err().contains("plugin id"));
        buf[20] = 1;
        assert!(check_event(&buf, None).is_err());
        assert!(check_event(&buf[..20], None).is_err());
        let mut b2 = harrier_event_like(0, b"x");
        b2[16] = 200;
        assert!(check_event(&b2, None).is_err());
    }

    fn harrier_event_like(id: u32, data: &[u8]) -> Vec<u8> {
        let len = 26 + 8 + 4 + data.len();
        let mut v = Vec::new();
        v.extend_from_slice(&1u64.to_le_bytes());
        v.extend_from_slice(&u64::MAX.to_le_bytes());
        v.extend_from_slice(&(len as u32).to_le_bytes());
        v.extend_from_slice(&322u16.to_le_bytes());
        v.extend_from_slice(&2u32.to_le_bytes());
        v.extend_from_slice(&4u32.to_le_bytes());
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
        v.extend_from_slice(data);
        v
    }
}
