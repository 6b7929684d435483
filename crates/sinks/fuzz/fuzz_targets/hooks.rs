//! The webhook-style outputs: receivers' answers (Telegram, Kafka REST), `messageformat`
//! templates, and alert text in the Telegram/Webex messages. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    harrier_sinks::fuzzing::hooks(data);
});
