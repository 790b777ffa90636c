//! Error responses built from a request, as a Kafka broker builds them with
//! `AbstractRequest.getErrorResponse`: the same entities as the request, each carrying the
//! error code, in a well-formed response of the request's version.

use bytes::Bytes;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};

use super::header::RequestHeader;
use super::{DecodeError, decode_request, encode_response};

/// The response to the request in `frame` with every entity failed with `code`, or `None`
/// for API keys the proxy cannot answer this way (the caller closes the connection instead).
pub fn error_response(
    header: &RequestHeader,
    frame: &Bytes,
    code: i16,
) -> Option<Result<Bytes, DecodeError>> {
    let version = header.api_version;
    let body = header.body(frame);
    let response = match header.api()? {
        ApiKey::Metadata => decode_request::<MetadataRequest>(version, &body).and_then(|r| {
            let topics = r
                .topics
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    // The response cannot carry a null name (Kafka sends "" too).
                    MetadataResponseTopic::default()
                        .with_name(Some(t.name.unwrap_or_default()))
                        .with_topic_id(t.topic_id)
                        .with_error_code(code)
                })
                .collect();
            let response = MetadataResponse::default().with_topics(topics);
            encode(ApiKey::Metadata, header, &response)
        }),
        _ => return None,
    };
    Some(response)
}

fn encode<M: kafka_protocol::protocol::Encodable>(
    api: ApiKey,
    header: &RequestHeader,
    body: &M,
) -> Result<Bytes, DecodeError> {
    encode_response(api, header.api_version, header.correlation_id, body)
        .map_err(|e| DecodeError::Invalid(e.into()))
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;

    use super::*;
    use crate::kafka::header::{parse_request_header, parse_response_header};
    use crate::kafka::{decode_response, encode_request};

    #[test]
    fn metadata_topics_each_carry_the_error() {
        for version in [1, 6, 9, 12] {
            let request = MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(TopicName("orders".into()))),
            ]));
            let frame = encode_request(ApiKey::Metadata, version, 7, "t", &request).unwrap();
            let header = parse_request_header(&frame).unwrap();
            let answer = error_response(&header, &frame, 34).unwrap().unwrap();
            let header_version = ApiKey::Metadata.response_header_version(version);
            let (id, offset) = parse_response_header(&answer, header_version).unwrap();
            assert_eq!(id, 7);
            let r = decode_response::<MetadataRequest>(version, &answer.slice(offset..)).unwrap();
            assert_eq!(r.topics.len(), 1, "v{version}");
            assert_eq!(r.topics[0].error_code, 34);
            assert_eq!(r.topics[0].name.as_deref().map(|n| &**n), Some("orders"));
        }
    }

    #[test]
    fn other_keys_have_no_error_response_yet() {
        let request = kafka_protocol::messages::FindCoordinatorRequest::default();
        let frame = encode_request(ApiKey::FindCoordinator, 3, 1, "t", &request).unwrap();
        let header = parse_request_header(&frame).unwrap();
        assert!(error_response(&header, &frame, 34).is_none());
    }
}
