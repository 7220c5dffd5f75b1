//! What a fleet wait waits for, as a value: a known status, or a condition
//! on what each CVM reports (kube-runtime's `await_condition`, for CVMs).

use std::sync::Arc;

use crate::raw::types::KnownStatus;
use crate::{CvmStatus, Status};

/// The condition [`Client::wait_all`](crate::Client::wait_all) waits for on
/// every CVM. A [`KnownStatus`] converts into one, so `wait_all(&uuids,
/// KnownStatus::Stopped, ..)` reads as it did; a status name the API does
/// not know cannot be written (parse one with [`Condition::parse`], which
/// refuses it and lists the known ones).
///
/// ```
/// use phala_cloud::{Condition, KnownStatus};
/// let stopped = Condition::from(KnownStatus::Stopped);
/// let up_or_down = Condition::AnyOf(vec![KnownStatus::Running, KnownStatus::Stopped]);
/// let booted = Condition::custom("booted", |s| s.boot_progress.as_deref() == Some("done"));
/// assert_eq!(up_or_down.to_string(), "running|stopped");
/// assert!(Condition::parse("stoped").unwrap_err().to_string().contains("known: pending, starting"));
/// # let _ = (stopped, booted);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum Condition {
    /// This status, with no operation in progress.
    Status(KnownStatus),
    /// Any of these statuses, with no operation in progress.
    AnyOf(Vec<KnownStatus>),
    /// No operation in progress, whatever the status.
    Settled,
    /// No longer in the batch status answer (deleted): met once the CVM has
    /// been missing for the wait's `missing_rounds`.
    Gone,
    /// A test of the reported status, named for reports and logs.
    Custom {
        /// How reports name it.
        name: String,
        /// Whether a CVM's status meets it.
        test: Arc<dyn Fn(&CvmStatus) -> bool + Send + Sync>,
    },
}

impl Condition {
    /// A condition of your own: `test` decides on each reported status.
    pub fn custom(name: impl Into<String>, test: impl Fn(&CvmStatus) -> bool + Send + Sync + 'static) -> Self {
        Condition::Custom {
            name: name.into(),
            test: Arc::new(test),
        }
    }

    /// A status name, as the API spells it; an unknown one is refused with
    /// the known ones listed, before anything is sent.
    pub fn parse(name: &str) -> Result<Self, crate::Error> {
        KnownStatus::parse_listed(name)
            .map(Condition::Status)
            .map_err(crate::Error::InvalidInput)
    }

    /// Whether a CVM reporting `s` meets the condition.
    pub fn is_met(&self, s: &CvmStatus) -> bool {
        let settled = !s.is_in_progress();
        match self {
            Condition::Status(k) => settled && s.status == *k,
            Condition::AnyOf(ks) => settled && ks.iter().any(|k| s.status == *k),
            Condition::Settled => settled,
            Condition::Gone => false,
            Condition::Custom { test, .. } => test(s),
        }
    }

    /// Whether a CVM stuck in `status` (failed, nothing in progress) can
    /// still meet it: only a condition that names that status can.
    pub(crate) fn accepts_failed(&self, status: &Status) -> bool {
        match self {
            Condition::Status(k) => status == k,
            Condition::AnyOf(ks) => ks.iter().any(|k| status == k),
            Condition::Settled | Condition::Custom { .. } => true,
            Condition::Gone => false,
        }
    }
}

impl From<KnownStatus> for Condition {
    fn from(k: KnownStatus) -> Self {
        Condition::Status(k)
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Condition::Status(k) => f.write_str(k.as_str()),
            Condition::AnyOf(ks) => {
                let names: Vec<&str> = ks.iter().map(KnownStatus::as_str).collect();
                f.write_str(&names.join("|"))
            }
            Condition::Settled => f.write_str("settled"),
            Condition::Gone => f.write_str("gone"),
            Condition::Custom { name, .. } => f.write_str(name),
        }
    }
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Condition({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: &str, in_progress: bool) -> CvmStatus {
        serde_json::from_value(serde_json::json!({"vm_uuid": "u", "status": s, "in_progress": in_progress})).unwrap()
    }

    #[test]
    fn conditions_decide_on_the_reported_status() {
        let stopped = Condition::from(KnownStatus::Stopped);
        assert!(stopped.is_met(&status("stopped", false)));
        assert!(!stopped.is_met(&status("stopped", true)), "still in progress");
        assert!(!stopped.is_met(&status("running", false)));
        let either = Condition::AnyOf(vec![KnownStatus::Running, KnownStatus::Stopped]);
        assert!(either.is_met(&status("running", false)) && !either.is_met(&status("starting", false)));
        assert!(Condition::Settled.is_met(&status("error", false)));
        assert!(!Condition::Gone.is_met(&status("stopped", false)));
        let named = Condition::custom("has-uptime", |s| s.uptime.is_some());
        assert!(!named.is_met(&status("running", false)));
        assert_eq!(named.to_string(), "has-uptime");
        // A failed CVM ends a wait unless the condition names its state.
        let error = Status::Known(KnownStatus::Error);
        assert!(!stopped.accepts_failed(&error) && Condition::from(KnownStatus::Error).accepts_failed(&error));
        assert!(matches!(
            Condition::parse("stopped"),
            Ok(Condition::Status(KnownStatus::Stopped))
        ));
        let refused = Condition::parse("stoped").unwrap_err();
        assert!(matches!(refused, crate::Error::InvalidInput(_)), "{refused:?}");
    }
}
