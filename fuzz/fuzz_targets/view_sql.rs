//! View SQL validation in every dialect (see `fuzz_targets::view_sql`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_targets::view_sql(data));
