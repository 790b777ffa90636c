//! Fuzzes the decode of a broker's response body of any API key and version through the
//! guarded entry point, and its encoding again (the address rewrite's path). The input is the
//! API key and version (two big-endian INT16s) followed by the body. Nothing may panic or
//! abort.
#![no_main]

use kafka_oidc_proxy::proxy::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let key = i16::from_be_bytes([data[0], data[1]]);
    let version = i16::from_be_bytes([data[2], data[3]]);
    fuzzing::response(key, version, &data[4..]);
});
