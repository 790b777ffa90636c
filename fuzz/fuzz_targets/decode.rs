//! Fuzzes the guarded decode entry point with what a client or broker can send: a request frame
//! (header parsed by the proxy, then the body of every message the proxy decodes) or a response
//! body of any API key and version. Nothing may panic, abort or allocate from a claimed count.
#![no_main]

use bytes::Bytes;
use kafka_oidc_proxy::kafka::header::parse_request_header;
use kafka_oidc_proxy::kafka::{Direction, decode_any};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        if let Ok(header) = parse_request_header(rest) {
            let frame = Bytes::copy_from_slice(rest);
            let _ = decode_any(header.api_key, Direction::Request, header.api_version, &header.body(&frame));
        }
    } else if rest.len() >= 4 {
        let key = i16::from_be_bytes([rest[0], rest[1]]);
        let version = i16::from_be_bytes([rest[2], rest[3]]);
        let _ = decode_any(key, Direction::Response, version, &Bytes::copy_from_slice(&rest[4..]));
    }
});
