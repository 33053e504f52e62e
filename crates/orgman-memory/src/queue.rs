//! The member-mirror queue in memory, with the semantics of the
//! PostgreSQL one: marks counted, claims leased, a mark made during a
//! claim kept.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use orgman_domain::ports::{MemberMirrorQueue, QueuedOrganization};
use orgman_domain::{OrganizationId, StoreError};

use crate::MemoryStore;
use crate::outbox_state::Mark;

#[async_trait]
impl MemberMirrorQueue for MemoryStore {
    async fn mark(&self, organizations: &[OrganizationId]) -> Result<(), StoreError> {
        self.available()?;
        let state = self.outbox_state();
        let mut marks = state.marks.lock().unwrap_or_else(|e| e.into_inner());
        let mut marked = state.marked.lock().unwrap_or_else(|e| e.into_inner());
        for organization in organizations {
            let mark = marks.entry(*organization).or_insert_with(|| {
                *marked += 1;
                Mark {
                    order: *marked,
                    marks: 0,
                    claimed_until: None,
                }
            });
            mark.marks += 1;
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
