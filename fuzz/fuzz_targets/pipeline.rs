//! libFuzzer over the whole pipeline (readers, observation mapping, correlator,
//! encoders), the same function the malformed-input tests run. An input is a file
//! name on the first line (dumps take their kind from it) and the file after it.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/pipeline.rs"]
mod pipeline;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (name, file) = text.split_once('\n').unwrap_or(("input.json", &text));
    pipeline::pipeline(name, file);
});
