//! The web assets, built into the binary (no CDN: the UI works air-gapped).

pub const LOGIN_HTML: &str = include_str!("../assets/login.html");
pub const DASHBOARD_HTML: &str = include_str!("../assets/dashboard.html");
pub const EVENTS_HTML: &str = include_str!("../assets/events.html");
pub const EVENT_HTML: &str = include_str!("../assets/event.html");
pub const LIVE_HTML: &str = include_str!("../assets/live.html");
pub const GROUPS_HTML: &str = include_str!("../assets/groups.html");
pub const APP_JS: &str = include_str!("../assets/app.js");
pub const APP_CSS: &str = include_str!("../assets/app.css");
pub const OPENAPI: &str = include_str!("../openapi.yaml");
