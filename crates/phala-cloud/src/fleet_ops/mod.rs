//! Many CVMs at once: batch status and stop, actions over a fleet, rolling
//! restarts and updates, waiting for many, listings as streams.

pub(crate) mod batch;
pub(crate) mod fleet;
pub(crate) mod listing;
pub(crate) mod paging;
pub(crate) mod report;
pub(crate) mod rolling;
pub(crate) mod wait;
