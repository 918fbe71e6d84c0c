//! Whether the re-sync of every project that notifications ask for is still owed to them.
//!
//! A fan-out queues a key per project, and each key reads Immuta when it is reconciled: after
//! the fan-out started. A notification announces a change that happened before it was received,
//! so one received before the last fan-out started is covered by it. That bounds a burst: a
//! batch asks for one fan-out however many of its records ask, and a batch whose records all
//! arrived before the last fan-out started asks for none.

/// How far the clocks that stamp a request (the receiver's, SQS's) and the one that stamps a
/// fan-out (the processor's) may disagree: a request received this close before a fan-out started
/// is not counted as covered by it. The cost of the margin is, at worst, one more fan-out.
pub const CLOCK_SKEW_MS: u64 = 5_000;

/// Whether requests received at `received_at_ms` (milliseconds since the Unix epoch; 0 when
/// unknown) still need a fan-out, given when the last one started. Nothing asked: none owed.
pub fn owed(received_at_ms: impl IntoIterator<Item = u64>, last_started_ms: Option<u64>) -> bool {
    let mut received = received_at_ms.into_iter().peekable();
    match last_started_ms {
        None => received.peek().is_some(),
        Some(started) => received.any(|at| at == 0 || at + CLOCK_SKEW_MS >= started),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_arrived_after_the_last_fan_out_started_is_owed_one() {
        assert!(!owed([], None));
        assert!(!owed([], Some(100)));
        let started = 100_000;
        assert!(owed([50], None), "no fan-out yet");
        assert!(
            !owed([50, started - CLOCK_SKEW_MS - 1], Some(started)),
            "both covered by the fan-out, clocks' disagreement included"
        );
        assert!(
            owed([50, started - CLOCK_SKEW_MS], Some(started)),
            "within the clocks' disagreement, not covered"
        );
        assert!(owed([50, started + 50], Some(started)));
        assert!(owed([0], Some(started)), "an unknown time is never covered");
    }
}
