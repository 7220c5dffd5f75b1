//! Who a key belongs to and where it may act (feature `account`): the
//! user, the workspaces, each one's quotas. The answers are the generated
//! types, so a field Phala adds reaches callers by regeneration alone.

use crate::client::Replay;
use crate::raw::types;
use crate::{Client, Error};

impl Client {
    /// The user and workspace behind this client's key (`GET /auth/me`):
    /// one record before API 2026-01-21, user, workspace and credits after.
    ///
    /// ```no_run
    /// # async fn run(client: phala_cloud::Client) -> Result<(), phala_cloud::Error> {
    /// use phala_cloud::CurrentUserExt;
    /// let me = client.me().await?;
    /// println!("{} in {}", me.username(), me.workspace_name());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn me(&self) -> Result<types::GetCurrentUserResponse, Error> {
        let request = self.raw().get_current_user();
        self.send("get_current_user", Replay::Idempotent, || request.clone().send())
            .await
    }

    /// The workspaces the key may act in (`GET /workspaces`).
    pub async fn workspaces(&self) -> Result<Vec<types::WorkspaceResponse>, Error> {
        let request = self.raw().list_workspaces();
        let answer = self
            .send("list_workspaces", Replay::Idempotent, || request.clone().send())
            .await?;
        Ok(answer.data.unwrap_or_default())
    }

    /// A workspace's quotas: limits and what is left (`GET
    /// /workspaces/{slug}/quotas`).
    pub async fn workspace_quotas(&self, slug: &str) -> Result<types::WorkspaceQuotasResponse, Error> {
        Self::check_id(slug, "workspace slug")?;
        let request = self.raw().get_workspace_quotas().team_slug(slug);
        self.send("get_workspace_quotas", Replay::Idempotent, || request.clone().send())
            .await
    }
}

/// What both shapes of `GET /auth/me` say, read the same way.
pub trait CurrentUserExt {
    /// The user's name.
    fn username(&self) -> &str;
    /// The user's email.
    fn email(&self) -> &str;
    /// The workspace's display name.
    fn workspace_name(&self) -> &str;
    /// The workspace's slug (2026-01-21 on, when it has one).
    fn workspace_slug(&self) -> Option<&str>;
}

impl CurrentUserExt for types::GetCurrentUserResponse {
    fn username(&self) -> &str {
        match self {
            Self::V20260121(u) => &u.user.username,
            Self::V20251028(u) => &u.username,
        }
    }
    fn email(&self) -> &str {
        match self {
            Self::V20260121(u) => &u.user.email,
            Self::V20251028(u) => &u.email,
        }
    }
    fn workspace_name(&self) -> &str {
        match self {
            Self::V20260121(u) => &u.workspace.name,
            Self::V20251028(u) => &u.team_name,
        }
    }
    fn workspace_slug(&self) -> Option<&str> {
        match self {
            Self::V20260121(u) => u.workspace.slug.as_deref(),
            Self::V20251028(_) => None,
        }
    }
}
