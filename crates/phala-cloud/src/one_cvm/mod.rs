//! One CVM: its records, the references that name it, its lifecycle, its
//! state over SSE, its history, settings and logs.

#[cfg(feature = "cvms")]
pub(crate) mod cvm_settings;
#[cfg(feature = "cvms")]
pub(crate) mod logs;

pub(crate) mod condition;
pub(crate) mod cvm;
pub(crate) mod cvm_ref;
pub(crate) mod history;
pub(crate) mod lifecycle;
pub(crate) mod watch;
