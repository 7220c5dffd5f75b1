//! The retry deadline of a whole call. A call that sends many requests (a
//! batch, a fleet action) sets it once, and every request it makes, retries
//! included, ends by it: the retry loop reads it from the task, so the
//! requests need not carry it through every signature.

use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static CALL_UNTIL: Instant;
}

/// The deadline of the call this task is in, if one was set.
pub(crate) fn current() -> Option<Instant> {
    CALL_UNTIL.try_with(|until| *until).ok()
}

/// The deadline for a call starting now under `limit`: the earlier of the
/// enclosing call's deadline and `limit` from now.
pub(crate) fn from_now(limit: Option<Duration>) -> Option<Instant> {
    earliest(current(), limit.map(|d| Instant::now() + d))
}

/// The earlier of two optional instants.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Runs `work` with `until` as its call's deadline (no deadline: as is).
pub(crate) async fn within<F: Future>(until: Option<Instant>, work: F) -> F::Output {
    match until {
        Some(until) => CALL_UNTIL.scope(until, work).await,
        None => work.await,
    }
}

/// A duration as a person reads it in an error: whole seconds from 10 s up,
/// tenths below, milliseconds under one second.
pub(crate) fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 10.0 {
        format!("{} s", d.as_secs())
    } else if secs >= 1.0 {
        format!("{secs:.1} s")
    } else {
        format!("{} ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn nested_calls_keep_the_earlier_deadline() {
        assert_eq!(current(), None);
        let outer = Instant::now() + Duration::from_secs(5);
        within(Some(outer), async {
            assert_eq!(current(), Some(outer));
            assert_eq!(from_now(Some(Duration::from_secs(60))), Some(outer));
            let sooner = from_now(Some(Duration::from_secs(1))).unwrap();
            assert_eq!(sooner, Instant::now() + Duration::from_secs(1));
            within(Some(sooner), async { assert_eq!(current(), Some(sooner)) }).await;
            assert_eq!(from_now(None), Some(outer));
        })
        .await;
        assert_eq!(from_now(None), None);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(Duration::from_secs(150)), "150 s");
        assert_eq!(human(Duration::from_millis(150_400)), "150 s");
        assert_eq!(human(Duration::from_millis(2_340)), "2.3 s");
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
    }
}
