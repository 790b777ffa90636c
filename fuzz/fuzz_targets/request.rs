//! Fuzzes what the data plane does with a request of an authenticated client, in its order:
//! the header, the version table, the body guard (counts, entries), the decode for
//! authorization against a policy that allows some names and denies others, and the fix or
//! merge applied to the broker's response. The input is the request frame (its length prefix
//! says where it ends) followed by the response body. Nothing may panic or abort.
#![no_main]

use kafka_oidc_proxy::proxy::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let end = 4usize.saturating_add(len).min(data.len());
    fuzzing::request(&data[..end], &data[end..]);
});
