//! One CVM's operation history as a stream over the API's cursors, and
//! cancelling the operation in flight.

use chrono::{DateTime, Utc};
use futures::Stream;

use crate::client::Replay;
use crate::raw::types::{CancelOperationRequest, CvmOperationResponse};
use crate::{Client, Error};

/// Which operations [`Client::operations`] yields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OperationsFilter {
    /// Only operations started at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only operations started at or before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only these operation types (`power_on`, `power_off`, `shutdown`,
    /// `restart`, `compose_update`, ...); all when empty.
    pub types: Vec<String>,
}

impl OperationsFilter {
    /// Records per request (the API allows 1 to 500).
    pub const PAGE: u64 = 100;

    /// Only operations started at or after `t`.
    pub fn since(mut self, t: DateTime<Utc>) -> Self {
        self.since = Some(t);
        self
    }
    /// Only operations started at or before `t`.
    pub fn until(mut self, t: DateTime<Utc>) -> Self {
        self.until = Some(t);
        self
    }
    /// Only operations of this type (may be given several times).
    pub fn of_type(mut self, t: impl Into<String>) -> Self {
        self.types.push(t.into());
        self
    }

    /// Checked before any request.
    pub fn validate(&self) -> Result<(), Error> {
        if let (Some(s), Some(u)) = (self.since, self.until)
            && s > u
        {
            return Err(Error::InvalidInput(format!("since ({s}) is after until ({u})")));
        }
        if let Some(t) = self.types.iter().find(|t| crate::batch::invalid_id(t).is_some()) {
            return Err(Error::InvalidInput(format!(
                "operation type {t:?} is blank or has control characters"
            )));
        }
        Ok(())
    }
}

/// Where a walk over the history stands.
struct Walk {
    cursor: Option<String>,
    first: bool,
    done: bool,
}

impl Client {
    /// The operations of one CVM, newest first, across as many requests as
    /// the history needs (the API's cursors stay inside). Each request has the
    /// retry policy; one that still fails ends the stream with its error. A
    /// filter that cannot be sent ends it at once with `InvalidInput`.
    /// Dropping the stream stops the walk.
    ///
    /// ```no_run
    /// # async fn run(client: phala_cloud::Client) -> Result<(), phala_cloud::Error> {
    /// use futures::TryStreamExt;
    /// let filter = phala_cloud::OperationsFilter::default().of_type("restart");
    /// let restarts: Vec<_> = client.operations("cvm_a", &filter).try_collect().await?;
    /// println!("{} restarts", restarts.len());
    /// # Ok(())
    /// # }
    /// ```
    pub fn operations<'a>(
        &'a self,
        cvm_id: &'a str,
        filter: &'a OperationsFilter,
    ) -> impl Stream<Item = Result<CvmOperationResponse, Error>> + Send + 'a {
        let checked = Self::check_id(cvm_id, "CVM id").and_then(|()| filter.validate());
        let start = Walk {
            cursor: None,
            first: true,
            done: checked.is_err(),
        };
        let refused = futures::stream::iter(checked.err().map(Err));
        let pages = futures::stream::unfold(start, move |mut walk| async move {
            if walk.done || (!walk.first && walk.cursor.is_none()) {
                return None;
            }
            walk.first = false;
            let mut request = self
                .raw()
                .get_cvm_operations()
                .cvm_id(cvm_id)
                .limit(OperationsFilter::PAGE);
            if let Some(c) = &walk.cursor {
                request = request.cursor(c.clone());
            }
            if let Some(t) = filter.since {
                request = request.start_time(t);
            }
            if let Some(t) = filter.until {
                request = request.end_time(t);
            }
            if !filter.types.is_empty() {
                request = request.operation_types(filter.types.clone());
            }
            let answer = self
                .send("cvm_operations", Replay::Idempotent, || request.clone().send())
                .await;
            let items: Vec<Result<CvmOperationResponse, Error>> = match answer {
                Ok(page) => {
                    // A cursor that does not move would loop for ever.
                    if page.next_cursor.is_some() && page.next_cursor == walk.cursor {
                        walk.done = true;
                        tracing::warn!("operation history: the server gave the same cursor twice; stopped");
                    }
                    walk.cursor = page.next_cursor;
                    page.items.into_iter().map(Ok).collect()
                }
                Err(e) => {
                    walk.done = true;
                    vec![Err(e)]
                }
            };
            Some((futures::stream::iter(items), walk))
        });
        futures::StreamExt::chain(refused, futures::StreamExt::flatten(pages))
    }

    /// Cancels the operation in flight on a CVM: whether there was one, and
    /// its correlation id. Replayed only when nothing can have been applied.
    pub async fn cancel_operation(&self, cvm_id: &str) -> Result<CancelOperationRequest, Error> {
        Self::check_id(cvm_id, "CVM id")?;
        let request = self.raw().cancel_cvm_operation().cvm_id(cvm_id);
        self.send("cancel_operation", Replay::IfNotApplied, || request.clone().send())
            .await
    }
}
