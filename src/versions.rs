//! The API versions (`X-Phala-Version`) and what changes at each: the one
//! list the facade, the simulator and the CLI read, so that a version is
//! added here and nowhere else. Facts: the API notes, section "API
//! versions", and the official SDKs' models.

use std::fmt;

/// One version the service knows, and what it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiVersion {
    /// `YYYY-MM-DD`, as sent; versions compare by it.
    name: &'static str,
}

/// What one version changes, for people (`phala-cvm versions`, errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VersionInfo {
    /// The version.
    pub version: ApiVersion,
    /// Whether this client reads its answers (every version from 2025-10-28).
    pub supported: bool,
    /// What changes at it, in a sentence.
    pub changes: &'static str,
}

impl ApiVersion {
    /// The oldest version the service still names; this client does not read its shapes.
    pub const V2025_05_31: ApiVersion = ApiVersion { name: "2025-05-31" };
    /// Lists as `HostedCvm` records, integer ids in details and lifecycle answers.
    pub const V2025_10_28: ApiVersion = ApiVersion { name: "2025-10-28" };
    /// Lists as `CVMInfo` with hashed ids; lifecycle answers keep integer ids.
    pub const V2026_01_21: ApiVersion = ApiVersion { name: "2026-01-21" };
    /// Hashed string ids everywhere; the list's `user_id`/`teepod_id` filters removed.
    pub const V2026_05_22: ApiVersion = ApiVersion { name: "2026-05-22" };
    /// The KMS API becomes contract-centric.
    pub const V2026_06_23: ApiVersion = ApiVersion { name: "2026-06-23" };

    /// `name` as one of the known versions (`LATEST`, in any case, is the
    /// newest); an unknown one is an error that lists the known ones.
    pub fn parse(name: &str) -> Result<ApiVersion, UnknownVersion> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("latest") {
            return Ok(Self::newest());
        }
        VERSIONS
            .iter()
            .map(|v| v.version)
            .find(|v| v.name == name)
            .ok_or_else(|| UnknownVersion(name.to_string()))
    }

    /// A version this client reads the answers of; else an error that says
    /// which it does read.
    pub fn parse_supported(name: &str) -> Result<ApiVersion, UnknownVersion> {
        let version = Self::parse(name)?;
        if version.info().supported {
            Ok(version)
        } else {
            Err(UnknownVersion(name.trim().to_string()))
        }
    }

    /// The newest version the service knows.
    pub fn newest() -> ApiVersion {
        VERSIONS[VERSIONS.len() - 1].version
    }

    /// As sent in `X-Phala-Version`.
    pub const fn as_str(self) -> &'static str {
        self.name
    }

    /// Its entry in [`VERSIONS`].
    pub fn info(self) -> &'static VersionInfo {
        VERSIONS
            .iter()
            .find(|v| v.version == self)
            .expect("every ApiVersion is in VERSIONS")
    }

    /// Lists (`GET /cvms`, `/cvms/paginated`, `/apps/{id}/cvms`) answer
    /// `CVMInfo` records; before, `HostedCvm`.
    pub fn lists_cvm_info(self) -> bool {
        self >= Self::V2026_01_21
    }

    /// Details, lifecycle answers, state and commit answers carry the hashed
    /// string `id`; before, the internal integer.
    pub fn hashed_ids_everywhere(self) -> bool {
        self >= Self::V2026_05_22
    }

    /// The KMS calls are contract-centric (`GET /kms` lists contracts).
    pub fn kms_contract_centric(self) -> bool {
        self >= Self::V2026_06_23
    }

    /// Whether the paged list takes this filter (`user_id`, `teepod_id` and
    /// `node_id` were removed at 2026-05-22; `family` and `instance_types`
    /// came then).
    pub fn list_filter_accepted(self, filter: &str) -> bool {
        self.list_filter_refusal(filter).is_none()
    }

    /// Why the paged list does not take this filter at this version, if it
    /// does not: the message a caller gets before anything is sent.
    pub fn list_filter_refusal(self, filter: &str) -> Option<String> {
        const CHANGED: ApiVersion = ApiVersion::V2026_05_22;
        let when = match filter {
            "user_id" | "teepod_id" | "node_id" if self >= CHANGED => "was removed at",
            "family" | "instance_types" if self < CHANGED => "needs",
            _ => return None,
        };
        Some(format!(
            "the list filter {filter} {when} API version {CHANGED}; this client pins {self}"
        ))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl std::str::FromStr for ApiVersion {
    type Err = UnknownVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Every version the service knows, oldest first.
pub const VERSIONS: &[VersionInfo] = &[
    VersionInfo {
        version: ApiVersion::V2025_05_31,
        supported: false,
        changes: "the oldest named version; its shapes are not read by this client",
    },
    VersionInfo {
        version: ApiVersion::V2025_10_28,
        supported: true,
        changes: "lists as HostedCvm records; integer ids in details and lifecycle answers",
    },
    VersionInfo {
        version: ApiVersion::V2026_01_21,
        supported: true,
        changes: "lists as CVMInfo with hashed ids (cvm_...); lifecycle and commit answers keep the integer id",
    },
    VersionInfo {
        version: ApiVersion::V2026_05_22,
        supported: true,
        changes: "hashed string ids everywhere (lifecycle, detail, state, commit, is-allowed); \
                  list filters family and instance_types, user_id/teepod_id/node_id removed",
    },
    VersionInfo {
        version: ApiVersion::V2026_06_23,
        supported: true,
        changes: "the KMS API becomes contract-centric; CVM shapes as 2026-05-22",
    },
];

/// The version the generated crate and the facade pin by default.
pub const DEFAULT: ApiVersion = ApiVersion::V2026_06_23;

/// The versions this client reads, as sent, oldest first.
pub fn supported() -> impl Iterator<Item = ApiVersion> {
    VERSIONS.iter().filter(|v| v.supported).map(|v| v.version)
}

/// A version this client does not know or does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVersion(
    /// The version as given.
    pub String,
);

impl fmt::Display for UnknownVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = supported().map(ApiVersion::as_str).collect();
        write!(
            f,
            "API version {:?} is not one this client supports ({}, or LATEST)",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownVersion {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_listed_oldest_first_and_parse_back() {
        assert!(VERSIONS.windows(2).all(|w| w[0].version < w[1].version));
        for v in VERSIONS {
            assert_eq!(ApiVersion::parse(v.version.as_str()), Ok(v.version));
            assert_eq!(v.version.info(), v);
        }
        assert_eq!(ApiVersion::parse(" latest "), Ok(ApiVersion::V2026_06_23));
        assert_eq!(
            supported().map(ApiVersion::as_str).collect::<Vec<_>>(),
            ["2025-10-28", "2026-01-21", "2026-05-22", "2026-06-23"]
        );
        assert!(DEFAULT.info().supported);
    }

    #[test]
    fn unknown_and_unsupported_versions_are_refused_by_name() {
        let err = ApiVersion::parse("2026-13-01").unwrap_err();
        assert_eq!(
            err.to_string(),
            "API version \"2026-13-01\" is not one this client supports \
             (2025-10-28, 2026-01-21, 2026-05-22, 2026-06-23, or LATEST)"
        );
        assert!(ApiVersion::parse("2025-05-31").is_ok());
        assert!(ApiVersion::parse_supported("2025-05-31").is_err());
    }

    #[test]
    fn what_changes_at_each_version() {
        use ApiVersion as V;
        assert!(!V::V2025_10_28.lists_cvm_info() && V::V2026_01_21.lists_cvm_info());
        assert!(!V::V2026_01_21.hashed_ids_everywhere() && V::V2026_05_22.hashed_ids_everywhere());
        assert!(!V::V2026_05_22.kms_contract_centric() && V::V2026_06_23.kms_contract_centric());
        assert!(V::V2026_01_21.list_filter_accepted("teepod_id"));
        assert!(!V::V2026_05_22.list_filter_accepted("user_id"));
        assert!(!V::V2026_01_21.list_filter_accepted("family"));
        assert!(V::V2026_06_23.list_filter_accepted("instance_types"));
        assert!(V::V2026_06_23.list_filter_accepted("page"));
        assert_eq!(
            V::V2026_06_23.list_filter_refusal("user_id").as_deref(),
            Some("the list filter user_id was removed at API version 2026-05-22; this client pins 2026-06-23")
        );
    }
}
