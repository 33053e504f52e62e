//! Running a whole import: chunks as the caller reads them, two in the
//! database at once, committed in file order, stopping at the first chunk
//! that cannot be applied.

use std::future::Future;
use std::pin::Pin;

use futures_channel::oneshot;
use futures_util::future::{Either, select};
use futures_util::stream::FuturesOrdered;
use futures_util::{Stream, StreamExt, pin_mut};

use crate::errors::use_case::OrgError;
use crate::import::member_import::{ImportEntry, ImportOutcome, MemberImport};

/// A chunk on its way: staged, waiting for the chunk before it, committed.
type Applying<'a, T> =
    Pin<Box<dyn Future<Output = (T, Result<Vec<ImportOutcome>, OrgError>)> + Send + 'a>>;

/// The most chunks in the database at once.
const IN_FLIGHT: usize = 2;

impl MemberImport<'_> {
    /// Applies every chunk of `chunks` (each with a `tag` the caller
    /// reports it by, such as its line numbers) and hands each committed
    /// chunk's outcomes to `committed`, in the order of `chunks`.
    ///
    /// Two chunks are in the database at once: a chunk is staged as soon as
    /// it arrives, beside the one before it, and commits once that one has
    /// committed (a chunk naming a user of the chunk before waits for its
    /// commit before it is staged). The caller may read and parse the next
    /// chunk meanwhile: `chunks` is polled while the two are at work.
    /// Outcomes are those of applying the chunks one after the other. A
    /// chunk without entries commits nothing and is reported in its turn.
    ///
    /// # Errors
    /// The first chunk that cannot be staged or committed stops the run
    /// with its error ([`MemberImport::apply`]): the chunks before it stay
    /// committed (and were reported), it and those after it write nothing,
    /// and `chunks` is not read further (at most one chunk was read ahead
    /// of the failed one).
    pub async fn run<T, S>(
        &self,
        chunks: S,
        mut committed: impl FnMut(T, Vec<ImportOutcome>),
    ) -> Result<(), OrgError>
    where
        T: Send,
        S: Stream<Item = (T, Vec<ImportEntry>)>,
    {
        pin_mut!(chunks);
        let mut applying: FuturesOrdered<Applying<'_, T>> = FuturesOrdered::new();
        // The entries of the chunk started last, and whether it committed.
        let mut last: Option<(Vec<ImportEntry>, oneshot::Receiver<bool>)> = None;
        let mut reading = true;
        let mut report = |(tag, outcomes): (T, Result<Vec<ImportOutcome>, OrgError>)| {
            outcomes.map(|outcomes| committed(tag, outcomes))
        };
        loop {
            // Two chunks at work (or nothing more to read): wait for the
            // oldest. Otherwise read on, reporting whatever finishes first.
            if !reading || applying.len() >= IN_FLIGHT {
                match applying.next().await {
                    Some(done) => report(done)?,
                    None => break,
                }
                continue;
            }
            let chunk = if applying.is_empty() {
                chunks.next().await
            } else {
                match select(chunks.next(), applying.next()).await {
                    Either::Left((chunk, _)) => chunk,
                    Either::Right((done, _)) => {
                        report(done.expect("a chunk in flight"))?;
                        continue;
                    }
                }
            };
            let Some((tag, entries)) = chunk else {
                reading = false;
                continue;
            };
            let before = match last.take() {
                // Sharing a user with the chunk before: staged once every
                // chunk before it has committed.
                Some((ref previous, _)) if Self::overlap(previous, &entries) => {
                    while let Some(done) = applying.next().await {
                        report(done)?;
                    }
                    None
                }
                Some((_, committed)) => Some(committed),
                None => None,
            };
            let (done, committed_signal) = oneshot::channel();
            applying.push_back(Box::pin(self.apply_in_turn(
                tag,
                entries.clone(),
                before,
                done,
            )));
            last = Some((entries, committed_signal));
        }
        Ok(())
    }

    /// Stages `entries` (beside the chunk before, which may still be in
    /// the database), commits them once the chunk before has committed,
    /// and says whether this one did. If the chunk before failed, this one
    /// is dropped uncommitted.
    async fn apply_in_turn<T>(
        &self,
        tag: T,
        entries: Vec<ImportEntry>,
        before: Option<oneshot::Receiver<bool>>,
        done: oneshot::Sender<bool>,
    ) -> (T, Result<Vec<ImportOutcome>, OrgError>) {
        let staged = if entries.is_empty() {
            None
        } else {
            Some(self.stage(&entries).await)
        };
        let before_committed = match before {
            Some(committed) => committed.await.unwrap_or(false),
            None => true,
        };
        let result = match staged {
            _ if !before_committed => Err(OrgError::Internal(
                "not committed: an earlier chunk of the import failed".into(),
            )),
            None => Ok(Vec::new()),
            Some(Ok(staged)) => self.commit(staged).await,
            Some(Err(error)) => Err(error),
        };
        let _ = done.send(result.is_ok());
        (tag, result)
    }
}
