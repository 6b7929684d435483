//! Look containers up the way Harrier does: `cargo run -p harrier-containers --example lookup -- ID…`
//! (sockets from the defaults and the `HARRIER_*_SOCKET` environment variables).

use harrier_containers::{LookupService, RuntimeConfig};
use std::time::{Duration, Instant};

fn main() {
    let ids: Vec<String> = std::env::args().skip(1).collect();
    let h = match LookupService::start(&RuntimeConfig::from_env()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("cannot start the lookup thread: {e}");
            std::process::exit(1);
        }
    };
    for id in &ids {
        h.request(id, None);
    }
    let mut left = ids.len();
    let t = Instant::now();
    while left > 0 && t.elapsed() < Duration::from_secs(10) {
        h.drain(|a| {
            left -= 1;
            println!("{} ({:?}): {:#?}", a.full_id, t.elapsed(), a.info);
        });
        std::thread::sleep(Duration::from_millis(5));
    }
}
