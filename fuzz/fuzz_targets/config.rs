//! Fuzz target: `chatmall_fuzz_harness::config` (see its docs for what it drives).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatmall_fuzz_harness::config(data));
