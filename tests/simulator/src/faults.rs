//! Injected latency and failures, applied to the API endpoints (never to the control API).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultKind {
    /// 429 with `Retry-After: retryAfterSecs`.
    TooManyRequests,
    /// 503.
    ServerError,
    /// No answer for `hangMs`, then 504: the client's timeout fires first.
    Hang,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Added to every API request.
    pub latency_ms: u64,
    /// Probability (0–1) that a request fails with one of `kinds`.
    pub error_rate: f64,
    /// The next N API requests fail, whatever the rate (deterministic outages).
    pub fail_next: u32,
    pub kinds: Vec<FaultKind>,
    pub retry_after_secs: u64,
    /// Send `Retry-After` as an HTTP-date (`retryAfterSecs` from now) instead of seconds.
    pub retry_after_date: bool,
    pub hang_ms: u64,
    /// Lists keep announcing their whole count but hold no items past this offset, as when
    /// items go away between two pages.
    pub truncate_lists_at: Option<usize>,
    /// Lists serve their first page whatever `offset` asks, as a server or a proxy that drops
    /// the query's paging would.
    pub ignore_offset: bool,
    /// Lists read `offset` as a page number (as some proxies and APIs do).
    pub offset_as_page_number: bool,
    /// Lists announce this count instead of their own (`None`: their own).
    pub announce_count: Option<usize>,
    /// Lists announce no count at all.
    pub omit_count: bool,
    /// The view SQL of a data source (any, when `dataSourceId` is unset) is a stream of this
    /// many bytes, generated as it is sent.
    pub oversized_view_sql: Option<Oversized>,
    /// `POST /webhooks` refuses a webhook without `actionType`, which Immuta's Swagger marks
    /// required (as a tenant that enforces it would).
    pub require_action_type: bool,
    pub seed: u64,
}

/// An answer far larger than any real one, streamed so that the simulator holds none of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Oversized {
    pub bytes: u64,
    /// Whether the answer declares its size (`Content-Length`) or is sent chunked.
    pub declare_length: bool,
    pub data_source_id: Option<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            error_rate: 0.0,
            fail_next: 0,
            kinds: vec![FaultKind::ServerError],
            retry_after_secs: 1,
            retry_after_date: false,
            hang_ms: 30_000,
            truncate_lists_at: None,
            ignore_offset: false,
            offset_as_page_number: false,
            announce_count: None,
            omit_count: false,
            oversized_view_sql: None,
            require_action_type: false,
            seed: 0x5EED,
        }
    }
}

impl Faults {
    /// Whether this request fails, and how. Mutates the counters (`fail_next`, the RNG).
    pub fn draw(&mut self, request_number: u64) -> Option<FaultKind> {
        if self.kinds.is_empty() {
            return None;
        }
        let kind = self.kinds[(request_number % self.kinds.len() as u64) as usize];
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return Some(kind);
        }
        if self.error_rate <= 0.0 {
            return None;
        }
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        ((self.seed % 10_000) as f64 / 10_000.0 < self.error_rate).then_some(kind)
    }
}
