//! A value refreshed at most once per interval, shared by concurrent
//! callers: scrapes and health checks may arrive at any rate, the
//! dependencies they look at are asked at a bounded one.

use std::future::Future;
use std::time::{Duration, Instant};

/// The last value of something expensive to ask, and when it was asked.
#[derive(Debug)]
pub(crate) struct Throttled<T> {
    every: Duration,
    last: tokio::sync::Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Throttled<T> {
    /// Asks again at most once per `every`.
    pub(crate) fn new(every: Duration) -> Self {
        Self {
            every,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The value asked less than `every` ago, or a new one from `ask`.
    /// Callers that arrive while one asks wait for its answer and share
    /// it, so a burst of callers costs one question.
    pub(crate) async fn get<F, Fut>(&self, ask: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, value)) = last.as_ref() {
            if at.elapsed() < self.every {
                return value.clone();
            }
        }
        let value = ask().await;
        *last = Some((Instant::now(), value.clone()));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_question_per_interval() {
        let throttled = Throttled::new(Duration::from_millis(200));
        let asked = AtomicUsize::new(0);
        let ask = || async {
            tokio::task::yield_now().await;
            asked.fetch_add(1, Ordering::SeqCst)
        };
        let answers = futures_util::future::join_all((0..50).map(|_| throttled.get(ask))).await;
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        assert!(answers.iter().all(|a| *a == 0), "{answers:?}");
        // Once the interval is over, the next caller asks again.
        tokio::time::sleep(Duration::from_millis(250)).await; // the interval itself
        assert_eq!(throttled.get(ask).await, 1);
        assert_eq!(asked.load(Ordering::SeqCst), 2);
    }
}
