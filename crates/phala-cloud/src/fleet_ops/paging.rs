//! The API's other paged listings as streams: callers see items, never a
//! page number or an offset. A page is fetched when the one before it has
//! been read, with the retry policy; a page that still fails ends the
//! stream with its error (never a silent gap); a page shorter than asked
//! for is the last.

use std::future::Future;

use futures::{Stream, StreamExt};

use crate::client::Replay;
use crate::raw::types;
use crate::{Client, Error};

/// Items asked for per page.
pub const PAGED_SIZE: u64 = 100;

/// The items of page after page (`fetch(n)`, `n` from 0), until one comes
/// back shorter than [`PAGED_SIZE`] or fails.
pub(crate) fn paged<'a, T, F, Fut>(fetch: F) -> impl Stream<Item = Result<T, Error>> + Send + 'a
where
    T: Send + 'a,
    F: Fn(u64) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Vec<T>, Error>> + Send + 'a,
{
    futures::stream::unfold((0u64, false), move |(n, done)| {
        let page = (!done).then(|| fetch(n));
        async move {
            let items = match page?.await {
                Ok(items) => items,
                Err(e) => return Some((futures::stream::iter(vec![Err(e)]), (n, true))),
            };
            let last = (items.len() as u64) < PAGED_SIZE;
            Some((
                futures::stream::iter(items.into_iter().map(Ok).collect::<Vec<_>>()),
                (n + 1, last),
            ))
        }
    })
    .flatten()
}

impl Client {
    /// Every revision of an app (what each of its CVMs ran, newest first as
    /// the API orders them), over `GET /apps/{app_id}/revisions`.
    ///
    /// ```no_run
    /// # async fn run(client: phala_cloud::Client) -> Result<(), phala_cloud::Error> {
    /// use futures::TryStreamExt;
    /// let revisions: Vec<_> = client.app_revisions("2fecce73...").try_collect().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn app_revisions<'a>(
        &'a self,
        app_id: &'a str,
    ) -> impl Stream<Item = Result<types::AppRevisionResponse, Error>> + Send + 'a {
        paged(move |n| async move {
            let request = self
                .raw()
                .get_app_revisions()
                .app_id(app_id)
                .page(n + 1)
                .page_size(PAGED_SIZE);
            let page = self
                .send("get_app_revisions", Replay::Idempotent, || request.clone().send())
                .await?;
            Ok(page.revisions)
        })
    }

    /// Every delivery of a webhook (feature `webhooks`), over `GET
    /// /workspace/webhooks/{webhook_id}/deliveries`.
    #[cfg(feature = "webhooks")]
    pub fn webhook_deliveries<'a>(
        &'a self,
        webhook_id: &'a str,
    ) -> impl Stream<Item = Result<types::WebhookDeliveryResponse, Error>> + Send + 'a {
        paged(move |n| async move {
            let (limit, offset) = (PAGED_SIZE as i64, (n * PAGED_SIZE) as i64);
            let request = self
                .raw()
                .list_deliveries()
                .webhook_id(webhook_id)
                .limit(limit)
                .offset(offset);
            self.send("list_deliveries", Replay::Idempotent, || request.clone().send())
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn pages_until_a_short_one_and_stop_at_an_error() {
        let full = |n: u64| (0..PAGED_SIZE).map(move |i| n * PAGED_SIZE + i).collect::<Vec<_>>();
        let items: Vec<u64> = paged(|n| async move {
            Ok(match n {
                0 | 1 => full(n),
                2 => vec![200, 201],
                _ => panic!("page {n} asked for after a short page"),
            })
        })
        .try_collect()
        .await
        .unwrap();
        assert_eq!(items.len() as u64, 2 * PAGED_SIZE + 2);
        assert_eq!(items.last(), Some(&201));

        let got: Vec<Result<u64, Error>> = paged(|n| async move {
            match n {
                0 => Ok(full(0)),
                1 => Err(Error::Stream("page 2 failed".into())),
                _ => panic!("page {n} asked for after an error"),
            }
        })
        .collect()
        .await;
        assert_eq!(got.len() as u64, PAGED_SIZE + 1);
        assert!(matches!(got.last(), Some(Err(Error::Stream(_)))));
    }
}
