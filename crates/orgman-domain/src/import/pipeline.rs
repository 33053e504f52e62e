//! Running a whole import: chunks as the caller reads them, two in the
//! database at once, committed in file order, stopping at the first chunk
//! that cannot be applied.

use futures_util::future::join;
use futures_util::{Stream, StreamExt, pin_mut};

use crate::errors::use_case::OrgError;
use crate::import::member_import::{ImportEntry, ImportOutcome, MemberImport, StagedChunk};

/// A chunk staged and not yet committed, with what its caller reports it by.
struct Open<T> {
    tag: T,
    entries: Vec<ImportEntry>,
    /// `None` for a chunk without entries (nothing to write).
    staged: Option<StagedChunk>,
}

impl MemberImport<'_> {
    /// Applies every chunk of `chunks` (each with a `tag` the caller
    /// reports it by, such as its line numbers) and hands each committed
    /// chunk's outcomes to `committed`, in the order of `chunks`.
    ///
    /// While one chunk is being committed, the next is staged beside it
    /// (unless the two name a user in common: then it waits for the
    /// commit), so the storage always works on two; the caller may read
    /// and parse the chunk after them meanwhile, as `chunks` is polled only
    /// when a chunk is wanted. Outcomes are those of applying the chunks
    /// one after the other. A chunk without entries commits nothing and is
    /// reported in its turn.
    ///
    /// # Errors
    /// The first chunk that cannot be staged or committed stops the run
    /// with its error ([`MemberImport::apply`]): the chunks before it stay
    /// committed (and were reported), it and those after it write nothing,
    /// and `chunks` is not read further.
    pub async fn run<T, S>(
        &self,
        chunks: S,
        mut committed: impl FnMut(T, Vec<ImportOutcome>),
    ) -> Result<(), OrgError>
    where
        S: Stream<Item = (T, Vec<ImportEntry>)>,
    {
        pin_mut!(chunks);
        let mut open: Option<Open<T>> = None;
        while let Some((tag, entries)) = chunks.next().await {
            let next = match open.take() {
                None => {
                    let staged = self.stage_entries(&entries).await?;
                    Open {
                        tag,
                        entries,
                        staged,
                    }
                }
                Some(before) if Self::overlap(&before.entries, &entries) => {
                    committed(before.tag, self.commit_staged(before.staged).await?);
                    let staged = self.stage_entries(&entries).await?;
                    Open {
                        tag,
                        entries,
                        staged,
                    }
                }
                Some(before) => {
                    let (staged, outcomes) = join(
                        self.stage_entries(&entries),
                        self.commit_staged(before.staged),
                    )
                    .await;
                    // A failed commit drops the chunk staged beside it
                    // uncommitted; a failed stage leaves the one before
                    // committed, and reported.
                    committed(before.tag, outcomes?);
                    Open {
                        tag,
                        entries,
                        staged: staged?,
                    }
                }
            };
            open = Some(next);
        }
        if let Some(last) = open {
            committed(last.tag, self.commit_staged(last.staged).await?);
        }
        Ok(())
    }

    async fn stage_entries(
        &self,
        entries: &[ImportEntry],
    ) -> Result<Option<StagedChunk>, OrgError> {
        if entries.is_empty() {
            return Ok(None);
        }
        self.stage(entries).await.map(Some)
    }

    async fn commit_staged(
        &self,
        staged: Option<StagedChunk>,
    ) -> Result<Vec<ImportOutcome>, OrgError> {
        match staged {
            None => Ok(Vec::new()),
            Some(staged) => self.commit(staged).await,
        }
    }
}
