//! The mirror queue in memory, with the semantics of the
//! PostgreSQL one: marks counted, claims leased, a mark made during a
//! claim kept.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use orgman_domain::StoreError;
use orgman_domain::ports::{MirrorMark, MirrorQueue, QueuedOrganization};

use crate::MemoryStore;
use crate::outbox_state::Mark;

#[async_trait]
impl MirrorQueue for MemoryStore {
    async fn mark(&self, organizations: &[MirrorMark]) -> Result<(), StoreError> {
        self.available()?;
        let state = self.outbox_state();
        let mut marks = state.marks.lock().unwrap_or_else(|e| e.into_inner());
        let mut marked = state.marked.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = std::collections::BTreeSet::new();
        for wanted in organizations {
            let mark = marks.entry(wanted.organization).or_insert_with(|| {
                *marked += 1;
                Mark {
                    order: *marked,
                    marks: 0,
                    members: false,
                    claimed_until: None,
                }
            });
            if seen.insert(wanted.organization) {
                mark.marks += 1;
            }
            mark.members |= wanted.members;
        }
        Ok(())
    }

    async fn take(&self, lease: Duration) -> Result<Option<QueuedOrganization>, StoreError> {
        self.available()?;
        let now = Instant::now();
        let mut marks = self
            .outbox_state()
            .marks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some((organization, mark)) = marks
            .iter_mut()
            .filter(|(_, m)| m.claimed_until.is_none_or(|until| until <= now))
            .min_by_key(|(_, m)| m.order)
        else {
            return Ok(None);
        };
        mark.claimed_until = Some(now + lease);
        Ok(Some(QueuedOrganization {
            organization: *organization,
            members: mark.members,
            marks: mark.marks,
        }))
    }

    async fn finish(&self, claimed: QueuedOrganization) -> Result<(), StoreError> {
        self.available()?;
        let mut marks = self
            .outbox_state()
            .marks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(mark) = marks.get_mut(&claimed.organization) else {
            return Ok(());
        };
        if mark.marks == claimed.marks {
            marks.remove(&claimed.organization);
        } else {
            mark.claimed_until = None;
        }
        Ok(())
    }

    async fn release(&self, taken: QueuedOrganization, after: Duration) -> Result<(), StoreError> {
        self.available()?;
        let mut marks = self
            .outbox_state()
            .marks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(mark) = marks.get_mut(&taken.organization) {
            mark.claimed_until = Some(Instant::now() + after);
        }
        Ok(())
    }

    async fn marked(&self) -> Result<u64, StoreError> {
        self.available()?;
        let marks = self
            .outbox_state()
            .marks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Ok(marks.len() as u64)
    }
}
