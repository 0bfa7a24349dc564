//! nats-server's JetStream API errors (`errors.json`): the HTTP-like code, the `err_code`
//! clients compare, and the description, word for word.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    pub code: u16,
    pub err_code: u16,
    pub description: String,
}

fn e(code: u16, err_code: u16, description: impl Into<String>) -> ApiError {
    ApiError {
        code,
        err_code,
        description: description.into(),
    }
}

impl ApiError {
    pub fn bad_request() -> ApiError {
        e(400, 10003, "bad request")
    }
    pub fn invalid_json(why: &str) -> ApiError {
        e(400, 10025, format!("invalid JSON: {why}"))
    }
    pub fn not_enabled_for_account() -> ApiError {
        e(503, 10039, "JetStream not enabled for account")
    }
    pub fn clustering_required() -> ApiError {
        e(503, 10010, "JetStream clustering support required")
    }
    pub fn stream_not_found() -> ApiError {
        e(404, 10059, "stream not found")
    }
    pub fn consumer_not_found() -> ApiError {
        e(404, 10014, "consumer not found")
    }
    pub fn consumer_create(why: impl Into<String>) -> ApiError {
        e(500, 10012, why)
    }
    pub fn no_message_found() -> ApiError {
        e(404, 10037, "no message found")
    }
    pub fn sequence_not_found(seq: u64) -> ApiError {
        e(400, 10043, format!("sequence {seq} not found"))
    }
    /// `JSStreamInvalidConfigF`: most stream configuration refusals.
    pub fn stream_invalid_config(why: impl Into<String>) -> ApiError {
        e(500, 10052, why)
    }
    pub fn stream_name_exists() -> ApiError {
        e(
            400,
            10058,
            "stream name already in use with a different configuration",
        )
    }
    pub fn stream_name_mismatch() -> ApiError {
        e(400, 10056, "stream name in subject does not match request")
    }
    pub fn stream_name_has_separators() -> ApiError {
        e(400, 10128, "Stream name can not contain path separators")
    }
    pub fn subjects_overlap() -> ApiError {
        e(400, 10065, "subjects overlap with an existing stream")
    }
    pub fn replicas_not_supported() -> ApiError {
        e(
            500,
            10074,
            "replicas > 1 not supported in non-clustered mode",
        )
    }
    pub fn replicas_negative() -> ApiError {
        e(400, 10133, "replicas count cannot be negative")
    }
    pub fn stream_update(why: impl Into<String>) -> ApiError {
        e(500, 10052, why)
    }
    pub fn mirror_with_subjects() -> ApiError {
        e(400, 10034, "stream mirrors can not contain subjects")
    }
    pub fn message_delete_not_permitted() -> ApiError {
        e(500, 10057, "message delete not permitted")
    }
    pub fn purge_not_permitted() -> ApiError {
        e(500, 10110, "stream purge not permitted")
    }
    pub fn sealed() -> ApiError {
        e(400, 10109, "invalid operation on sealed stream")
    }
    pub fn store_failed(why: impl Into<String>) -> ApiError {
        e(503, 10077, why)
    }
    pub fn expected_stream() -> ApiError {
        e(400, 10060, "expected stream does not match")
    }
    pub fn wrong_last_sequence(seq: u64) -> ApiError {
        e(400, 10071, format!("wrong last sequence: {seq}"))
    }
    pub fn wrong_last_msg_id(id: &str) -> ApiError {
        e(400, 10070, format!("wrong last msg ID: {id}"))
    }
    pub fn message_too_large() -> ApiError {
        e(400, 10054, "message size exceeds maximum allowed")
    }
    pub fn header_too_large() -> ApiError {
        e(400, 10097, "header size exceeds maximum allowed of 64k")
    }
    pub fn rollup_not_permitted() -> ApiError {
        e(500, 10111, "rollup not permitted")
    }
    pub fn rollup_invalid(value: &str) -> ApiError {
        e(500, 10111, format!("rollup value invalid: {value:?}"))
    }
    pub fn transform_source(why: &str) -> ApiError {
        e(400, 10155, format!("stream transform source: {why}"))
    }
    pub fn transform_destination(why: &str) -> ApiError {
        e(400, 10156, format!("stream transform: {why}"))
    }
    pub fn too_many_requests() -> ApiError {
        e(429, 10167, "too many requests")
    }
    pub fn ttl_invalid() -> ApiError {
        e(400, 10165, "invalid per-message TTL")
    }
    pub fn atomic_publish_disabled() -> ApiError {
        e(400, 10174, "atomic publish is disabled")
    }
    pub fn schedules_disabled() -> ApiError {
        e(400, 10188, "message schedules is disabled")
    }
    pub fn ttl_disabled() -> ApiError {
        e(400, 10166, "per-message TTL is disabled")
    }
    pub fn missing_subject_sequence() -> ApiError {
        e(
            400,
            10193,
            "missing sequence for expected last sequence per subject",
        )
    }
    pub fn required_api_level() -> ApiError {
        e(412, 10185, "JetStream minimum api level required")
    }
    pub fn account_resources_exceeded() -> ApiError {
        e(400, 10002, "resource limits exceeded for account")
    }
    pub fn max_consumers_reached() -> ApiError {
        e(400, 10026, "maximum consumers limit reached")
    }
    pub fn max_streams_reached() -> ApiError {
        e(400, 10027, "maximum number of streams reached")
    }
    pub fn insufficient_memory() -> ApiError {
        e(500, 10028, "insufficient memory resources available")
    }
    pub fn insufficient_storage() -> ApiError {
        e(500, 10047, "insufficient storage resources available")
    }
    pub fn max_bytes_required() -> ApiError {
        e(
            400,
            10113,
            "account requires a stream config to have max bytes set",
        )
    }
    pub fn max_stream_bytes_exceeded() -> ApiError {
        e(
            400,
            10122,
            "stream max bytes exceeds account limit max stream bytes",
        )
    }
    pub fn insufficient_resources() -> ApiError {
        e(503, 10023, "insufficient resources")
    }
    pub fn stream_create(why: impl Into<String>) -> ApiError {
        e(500, 10049, why)
    }
    pub fn stream_delete(why: impl Into<String>) -> ApiError {
        e(500, 10050, why)
    }
    pub fn stream_general(why: impl Into<String>) -> ApiError {
        e(500, 10051, why)
    }
}
