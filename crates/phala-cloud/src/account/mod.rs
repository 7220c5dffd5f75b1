//! Who a key belongs to and where it may act: the credentials file shared
//! with Phala's CLI, the user and workspaces, what a deploy can choose.

#[cfg(feature = "discovery")]
pub(crate) mod discovery;
#[cfg(feature = "account")]
pub(crate) mod identity;

pub mod credentials;
