//! The fleet as a stream, over the paged list: callers see CVMs, never
//! pages. Memory is bounded by the pages in flight (plus 8 bytes per CVM
//! seen, to drop duplicates), not by the size of the answer.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use futures::{Stream, StreamExt, TryStreamExt};

use crate::client::{ListFilter, Replay};
use crate::cvm::Cvm;
use crate::raw::types::{CvmId, ListCvmsPaginatedResponse};
use crate::{Client, Error};

/// CVMs per page: the most the API gives.
pub const PAGE_SIZE: u64 = 100;

/// One page: its CVMs and how many pages the listing has now.
struct Page {
    items: Vec<Cvm>,
    pages: u64,
}

/// Where a listing stands between pages.
struct Listing {
    filter: ListFilter,
    /// The next page to fetch (from 1).
    next: u64,
    /// Pages there are, as the latest answer says; unknown before the first.
    pages: Option<u64>,
    /// Hashes of the CVMs yielded, so that one seen twice (the fleet shifted
    /// between pages) is yielded once.
    seen: HashSet<u64>,
    hasher: RandomState,
    done: bool,
}

impl Listing {
    /// The key a CVM is told apart by: its id, else its VM UUID, else its
    /// name. A listed CVM's id is hashed where it lies (no copy per CVM;
    /// one listing has one id form, so integer and text ids never meet).
    fn first_time(&mut self, cvm: &Cvm) -> bool {
        let hash = match cvm {
            Cvm::Info(c) => match &c.id {
                CvmId::String(s) => self.hasher.hash_one(s.as_str()),
                CvmId::Integer(n) => self.hasher.hash_one(n),
            },
            other => {
                let key = other
                    .id()
                    .or_else(|| other.vm_uuid().map(str::to_string))
                    .unwrap_or_else(|| other.name().to_string());
                self.hasher.hash_one(key)
            }
        };
        self.seen.insert(hash)
    }
}

impl Client {
    /// Every CVM of the workspace (or the admin `filter`'s), as a stream
    /// over `GET /cvms/paginated`: the first page says how many there are,
    /// the next ones are fetched up to the client's concurrency ahead and
    /// yielded in order. Each page has the retry policy; a page that still
    /// fails ends the stream with its error (never a silent gap). Dropping
    /// the stream cancels what is in flight.
    ///
    /// The fleet may change while it is listed. A CVM is never yielded
    /// twice, and one that exists for the whole listing is yielded unless
    /// deletions moved it onto a page already read; CVMs added or deleted
    /// meanwhile may or may not appear. Pages appearing while listing (the
    /// fleet grew) are read too.
    ///
    /// ```no_run
    /// # async fn run(client: phala_cloud::Client) -> Result<(), phala_cloud::Error> {
    /// use futures::TryStreamExt;
    /// let mut cvms = std::pin::pin!(client.cvms(&Default::default()));
    /// while let Some(cvm) = cvms.try_next().await? {
    ///     println!("{} {}", cvm.name(), cvm.status());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn cvms(&self, filter: &ListFilter) -> impl Stream<Item = Result<Cvm, Error>> + Send + '_ {
        let start = Listing {
            filter: filter.clone(),
            next: 1,
            pages: None,
            seen: HashSet::new(),
            hasher: RandomState::new(),
            done: false,
        };
        futures::stream::unfold(start, move |mut at| async move {
            if at.done || at.pages.is_some_and(|p| at.next > p) {
                return None;
            }
            // The first page alone (it says how many there are), then a window.
            let window = match at.pages {
                None => 1,
                Some(pages) => (pages - at.next + 1).min(self.inner.concurrency as u64),
            };
            let fetched =
                futures::future::join_all((at.next..at.next + window).map(|n| self.page(&at.filter, n))).await;
            at.next += window;
            // CVMs are moved once, into `out`, and wrapped in `Ok` as they
            // are yielded (about 1.8 KB each: every move shows, bench 1).
            let (mut out, mut failed) = (Vec::new(), None);
            for page in fetched {
                match page {
                    Ok(page) => {
                        at.pages = Some(at.pages.unwrap_or(0).max(page.pages));
                        out.reserve(page.items.len());
                        out.extend(page.items.into_iter().filter(|c| at.first_time(c)));
                    }
                    Err(e) => {
                        failed = Some(Err(e));
                        at.done = true;
                        break;
                    }
                }
            }
            let items = futures::stream::iter(out).map(Ok).chain(futures::stream::iter(failed));
            Some((items, at))
        })
        .flatten()
    }

    /// One page of the list.
    async fn page(&self, filter: &ListFilter, n: u64) -> Result<Page, Error> {
        let set = [
            ("user_id", filter.user_id.is_some()),
            ("teepod_id", filter.teepod_id.is_some()),
            ("family", filter.family.is_some()),
            ("instance_types", !filter.instance_types.is_empty()),
        ];
        let version = self.inner.api_version;
        if let Some(why) = set
            .into_iter()
            .find_map(|(name, set)| set.then(|| version.list_filter_refusal(name))?)
        {
            return Err(Error::InvalidInput(why));
        }
        let mut request = self.raw().list_cvms_paginated().page(n).page_size(PAGE_SIZE);
        if let Some(u) = &filter.user_id {
            request = request.user_id(u.as_str());
        }
        if let Some(t) = filter.teepod_id {
            request = request.teepod_id(t);
        }
        if let Some(f) = filter.family {
            request = request.family(f);
        }
        if !filter.instance_types.is_empty() {
            request = request.instance_types(filter.instance_types.clone());
        }
        let answer = self
            .send("list_cvms_paginated", Replay::Idempotent, || request.clone().send())
            .await?;
        let (items, pages) = match answer {
            ListCvmsPaginatedResponse::HostedCvms(p) => (p.items.into_iter().map(Cvm::Hosted).collect(), p.pages),
            ListCvmsPaginatedResponse::CvmInfos(p) => (p.items.into_iter().map(Cvm::Info).collect(), p.pages),
        };
        Ok(Page {
            items,
            pages: u64::try_from(pages).unwrap_or(0),
        })
    }

    /// Every CVM of the workspace (or the admin `filter`'s), collected from
    /// [`Client::cvms`]. The unpaginated `GET /cvms` stays reachable through
    /// [`Client::raw`].
    pub async fn list_cvms(&self, filter: &ListFilter) -> Result<Vec<Cvm>, Error> {
        self.cvms(filter).try_collect().await
    }
}
