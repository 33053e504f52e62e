//! Keyset pagination: a page is "up to `limit` items after this key", which
//! stays stable while rows are inserted, unlike offsets.

/// Asks for one page of items ordered by key `K`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest<K> {
    /// Return items strictly after this key; `None` for the first page.
    pub after: Option<K>,
    limit: u32,
}

impl<K> PageRequest<K> {
    /// The default page size.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The largest page size; larger requests are clamped to it.
    pub const MAX_LIMIT: u32 = 500;

    /// A request, with `limit` clamped to `1..=MAX_LIMIT`.
    pub fn new(after: Option<K>, limit: u32) -> Self {
        Self {
            after,
            limit: limit.clamp(1, Self::MAX_LIMIT),
        }
    }

    /// The first page with the default size.
    pub fn first() -> Self {
        Self::new(None, Self::DEFAULT_LIMIT)
    }

    /// The (clamped) page size.
    pub fn limit(&self) -> u32 {
        self.limit
    }
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T, K> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// The key to pass as `after` for the next page; `None` on the last page.
    pub next: Option<K>,
}

impl<T, K> Page<T, K> {
    /// Builds a page from up to `limit + 1` fetched items: the extra item, if
    /// present, only signals that another page exists. Adapters fetch one row
    /// more than asked and call this.
    pub fn from_overfetch(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> K) -> Self {
        let limit = limit as usize;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(key)
        } else {
            None
        };
        Self { items, next }
    }

    /// Maps the items, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U, K> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_clamped() {
        assert_eq!(PageRequest::<u32>::new(None, 0).limit(), 1);
        assert_eq!(PageRequest::<u32>::new(None, 10_000).limit(), 500);
    }

    #[test]
    fn overfetch_sets_the_cursor_only_when_more_exist() {
        let page = Page::from_overfetch(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next, Some(2));
        let last = Page::from_overfetch(vec![1, 2], 2, |n| *n);
        assert_eq!(last.next, None);
    }
}
