//! The receiver's whole request path (see `fuzz_targets::receiver_request`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_targets::receiver_request(data);
});
