//! Arbitrary bytes as the project's schema file, through validate and test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    avpctl_fuzz::run(avpctl::fuzz::Target::Schema, data);
});
