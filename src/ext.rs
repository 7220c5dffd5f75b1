//! Conveniences on generated types: what the document cannot say about
//! them. Written against the generated names, so a change in the document
//! that breaks them fails the build rather than the caller.

use crate::types::{KnownStatus, Status};

impl Status {
    /// The status as the API spells it, known or not.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Known(k) => k.as_str(),
            Status::Unknown(s) => s,
        }
    }

    /// A state no operation will leave by itself.
    pub fn is_failed(&self) -> bool {
        matches!(
            self,
            Status::Known(KnownStatus::Error | KnownStatus::Exited | KnownStatus::Offline)
        )
    }
}

impl KnownStatus {
    /// Every status the document names, in its order: what a wait target
    /// or a command-line flag may be. (`as_str` below matches every variant,
    /// so a status the document adds fails the build until it is here too;
    /// a test checks this list against the document.)
    pub const ALL: [KnownStatus; 10] = [
        KnownStatus::Pending,
        KnownStatus::Starting,
        KnownStatus::Running,
        KnownStatus::Stopping,
        KnownStatus::Stopped,
        KnownStatus::Error,
        KnownStatus::Maintenance,
        KnownStatus::Offline,
        KnownStatus::Exited,
        KnownStatus::Removing,
    ];

    /// `s` as a known status, or an error that lists the known ones.
    pub fn parse_listed(s: &str) -> Result<KnownStatus, String> {
        s.parse().map_err(|_| {
            let known: Vec<&str> = KnownStatus::ALL.iter().map(KnownStatus::as_str).collect();
            format!("unknown status {s:?}; known: {}", known.join(", "))
        })
    }

    /// The value as the API spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            KnownStatus::Pending => "pending",
            KnownStatus::Starting => "starting",
            KnownStatus::Running => "running",
            KnownStatus::Stopping => "stopping",
            KnownStatus::Stopped => "stopped",
            KnownStatus::Error => "error",
            KnownStatus::Maintenance => "maintenance",
            KnownStatus::Offline => "offline",
            KnownStatus::Exited => "exited",
            KnownStatus::Removing => "removing",
        }
    }
}

impl From<&str> for Status {
    /// A known value where there is one, otherwise kept as sent.
    fn from(s: &str) -> Self {
        s.parse::<KnownStatus>()
            .map(Status::Known)
            .unwrap_or_else(|_| Status::Unknown(s.to_string()))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<KnownStatus> for Status {
    fn eq(&self, other: &KnownStatus) -> bool {
        matches!(self, Status::Known(k) if k == other)
    }
}

impl crate::types::CvmStatus {
    /// At `target` with no operation still running (`in_progress` can stay
    /// true for a moment after `status` already shows the target).
    pub fn reached(&self, target: &Status) -> bool {
        &self.status == target && !self.is_in_progress()
    }

    /// An operation is still running (`null` or absent: no).
    pub fn is_in_progress(&self) -> bool {
        self.in_progress.unwrap_or(false)
    }

    /// The last guest events (`null` or absent: none).
    pub fn events(&self) -> &[crate::types::GuestEvent] {
        self.events.as_deref().unwrap_or_default()
    }

    /// The operation in flight, whichever form the server used: the nested
    /// `operation` of newer servers, or the flat `operation_*` fields.
    pub fn current_operation(&self) -> Option<crate::types::CvmOperation> {
        if let Some(op) = &self.operation {
            return Some(op.clone());
        }
        (self.operation_type.is_some() || self.correlation_id.is_some()).then(|| crate::types::CvmOperation {
            type_: self.operation_type.clone(),
            phase: None,
            started_at: self.operation_started_at,
            correlation_id: self.correlation_id.clone(),
            extra: Default::default(),
        })
    }
}

impl crate::types::CvmState {
    /// At `target` with no operation still running.
    pub fn reached(&self, target: &Status) -> bool {
        &self.status == target && !self.is_in_progress()
    }

    /// An operation is still running (when the server says).
    pub fn is_in_progress(&self) -> bool {
        self.in_progress.unwrap_or(false)
    }
}

impl crate::types::CvmId {
    /// The id as text (integer ids of older versions in decimal).
    pub fn to_text(&self) -> String {
        match self {
            crate::types::CvmId::String(s) => s.clone(),
            crate::types::CvmId::Integer(n) => n.to_string(),
        }
    }
}

impl PartialEq<&str> for Status {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Status {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
