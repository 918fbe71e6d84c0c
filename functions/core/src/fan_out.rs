//! Whether the re-sync of every project that notifications ask for is still owed to them.
//!
//! A fan-out queues a key per project, and each key reads Immuta when it is reconciled: after
//! the fan-out started. A notification announces a change that happened before it was received,
//! so one received before the last fan-out started is covered by it. That bounds a burst: a
//! batch asks for one fan-out however many of its records ask, and a batch whose records all
//! arrived before the last fan-out started asks for none.

/// Whether requests received at `received_at_ms` (milliseconds since the Unix epoch; 0 when
/// unknown) still need a fan-out, given when the last one started. Nothing asked: none owed.
pub fn owed(received_at_ms: impl IntoIterator<Item = u64>, last_started_ms: Option<u64>) -> bool {
    let mut received = received_at_ms.into_iter().peekable();
    match last_started_ms {
        None => received.peek().is_some(),
        Some(started) => received.any(|at| at == 0 || at >= started),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_arrived_after_the_last_fan_out_started_is_owed_one() {
        assert!(!owed([], None));
        assert!(!owed([], Some(100)));
        assert!(owed([50], None), "no fan-out yet");
        assert!(
            !owed([50, 99], Some(100)),
            "both covered by the fan-out at 100"
        );
        assert!(
            owed([50, 100], Some(100)),
            "the same millisecond is not before"
        );
        assert!(owed([50, 150], Some(100)));
        assert!(owed([0], Some(100)), "an unknown time is never covered");
    }
}
