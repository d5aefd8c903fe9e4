//! The key-value store the workers keep their state in, as a small trait: get, put with
//! an optional expiry, delete, and list by prefix with a cursor. Workers KV implements it
//! in the worker crates; `MemoryStore` implements it here for tests and simulations, with
//! a manual clock for expiry and counters of every call.

use crate::time::Millis;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// Workers KV rejects an `expirationTtl` below 60 seconds.
pub const MIN_EXPIRATION_TTL_SECS: u64 = 60;

/// Workers KV returns at most 1,000 keys per list call.
pub const MAX_LIST_LIMIT: usize = 1_000;

/// A failed store operation; the text is for logs and never reaches a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key-value store error: {}", self.0)
    }
}

/// One page of a prefix listing, keys in ascending byte order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPage {
    pub keys: Vec<String>,
    /// The cursor for the next page, or `None` when the listing is complete.
    pub cursor: Option<String>,
}

/// The key-value store both workers share (bound as `STATE`).
///
/// Futures are not `Send`: the Workers runtime is single-threaded.
#[allow(async_fn_in_trait)]
pub trait KeyValueStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Stores `value` under `key`; with `expiration_ttl_secs` the key disappears after that
    /// many seconds (at least `MIN_EXPIRATION_TTL_SECS`).
    async fn put(&self, key: &str, value: &str, expiration_ttl_secs: Option<u64>) -> Result<(), StoreError>;

    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Lists up to `limit` keys starting with `prefix`, after `cursor` if given.
    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<KeyPage, StoreError>;
}

/// A clock a test moves by hand; cloned handles share one time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Rc<Cell<Millis>>);

impl ManualClock {
    pub fn new(now_ms: Millis) -> Self {
        ManualClock(Rc::new(Cell::new(now_ms)))
    }

    pub fn now_ms(&self) -> Millis {
        self.0.get()
    }

    pub fn set(&self, now_ms: Millis) {
        self.0.set(now_ms);
    }

    pub fn advance(&self, by_ms: Millis) {
        self.0.set(self.0.get() + by_ms);
    }
}

/// How many calls of each kind a `MemoryStore` has served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreCounts {
    pub gets: u64,
    pub puts: u64,
    pub deletes: u64,
    pub lists: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    value: String,
    expires_at_ms: Option<Millis>,
}

/// An in-memory `KeyValueStore` with expiry against a `ManualClock`, call counters, and
/// injectable failures for puts under a key prefix.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    entries: Rc<RefCell<BTreeMap<String, Entry>>>,
    clock: ManualClock,
    counts: Rc<Cell<StoreCounts>>,
    failing_put_prefixes: Rc<RefCell<Vec<String>>>,
}

impl MemoryStore {
    pub fn new(clock: ManualClock) -> Self {
        MemoryStore { clock, ..MemoryStore::default() }
    }

    pub fn counts(&self) -> StoreCounts {
        self.counts.get()
    }

    pub fn reset_counts(&self) {
        self.counts.set(StoreCounts::default());
    }

    /// Makes every later put of a key starting with `prefix` fail.
    pub fn fail_puts_with_prefix(&self, prefix: &str) {
        self.failing_put_prefixes.borrow_mut().push(prefix.to_owned());
    }

    /// Returns the live value under `key` without counting a call.
    pub fn peek(&self, key: &str) -> Option<String> {
        let now = self.clock.now_ms();
        self.entries
            .borrow()
            .get(key)
            .filter(|entry| entry.expires_at_ms.is_none_or(|at| at > now))
            .map(|entry| entry.value.clone())
    }

    /// Returns the live keys starting with `prefix` without counting a call.
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        let now = self.clock.now_ms();
        self.entries
            .borrow()
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter(|(_, entry)| entry.expires_at_ms.is_none_or(|at| at > now))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Returns the expiry time of `key`, if it has one.
    pub fn expires_at(&self, key: &str) -> Option<Millis> {
        self.entries.borrow().get(key).and_then(|entry| entry.expires_at_ms)
    }

    fn count(&self, update: impl FnOnce(&mut StoreCounts)) {
        let mut counts = self.counts.get();
        update(&mut counts);
        self.counts.set(counts);
    }
}

impl KeyValueStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.count(|counts| counts.gets += 1);
        Ok(self.peek(key))
    }

    async fn put(&self, key: &str, value: &str, expiration_ttl_secs: Option<u64>) -> Result<(), StoreError> {
        self.count(|counts| counts.puts += 1);
        if self.failing_put_prefixes.borrow().iter().any(|prefix| key.starts_with(prefix.as_str())) {
            return Err(StoreError(format!("injected failure writing {key}")));
        }
        if let Some(seconds) = expiration_ttl_secs {
            if seconds < MIN_EXPIRATION_TTL_SECS {
                return Err(StoreError(format!("expiration_ttl {seconds} is below the 60 second minimum")));
            }
        }
        let expires_at_ms = expiration_ttl_secs.map(|seconds| self.clock.now_ms() + seconds * 1_000);
        self.entries.borrow_mut().insert(key.to_owned(), Entry { value: value.to_owned(), expires_at_ms });
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.count(|counts| counts.deletes += 1);
        self.entries.borrow_mut().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>, limit: usize) -> Result<KeyPage, StoreError> {
        self.count(|counts| counts.lists += 1);
        let limit = limit.clamp(1, MAX_LIST_LIMIT);
        let now = self.clock.now_ms();
        let entries = self.entries.borrow();
        let start = cursor.unwrap_or(prefix).to_owned();

        let mut keys: Vec<String> = entries
            .range(start..)
            .skip_while(|(key, _)| Some(key.as_str()) == cursor)
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter(|(_, entry)| entry.expires_at_ms.is_none_or(|at| at > now))
            .map(|(key, _)| key.clone())
            .take(limit + 1)
            .collect();
        let cursor = if keys.len() > limit {
            keys.truncate(limit);
            keys.last().cloned()
        } else {
            None
        };
        Ok(KeyPage { keys, cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn put_get_delete_round_trip() {
        let store = MemoryStore::new(ManualClock::new(0));

        block_on(store.put("a", "1", None)).unwrap();
        assert_eq!(block_on(store.get("a")).unwrap(), Some("1".to_owned()));
        block_on(store.delete("a")).unwrap();
        assert_eq!(block_on(store.get("a")).unwrap(), None);
        assert_eq!(store.counts(), StoreCounts { gets: 2, puts: 1, deletes: 1, lists: 0 });
    }

    #[test]
    fn expired_keys_disappear() {
        let clock = ManualClock::new(1_000);
        let store = MemoryStore::new(clock.clone());

        block_on(store.put("a", "1", Some(60))).unwrap();
        clock.advance(59_999);
        assert_eq!(store.peek("a"), Some("1".to_owned()));
        clock.advance(1);
        assert_eq!(store.peek("a"), None);
    }

    #[test]
    fn put_rejects_short_expiry() {
        let store = MemoryStore::new(ManualClock::new(0));

        assert!(block_on(store.put("a", "1", Some(59))).is_err());
    }

    #[test]
    fn list_pages_through_prefix_in_order() {
        let store = MemoryStore::new(ManualClock::new(0));
        for index in 0..25 {
            block_on(store.put(&format!("expiry:{index:03}"), "", None)).unwrap();
        }
        block_on(store.put("project:x", "", None)).unwrap();

        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = block_on(store.list("expiry:", cursor.as_deref(), 10)).unwrap();
            seen.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }

        let expected: Vec<String> = (0..25).map(|index| format!("expiry:{index:03}")).collect();
        assert_eq!(seen, expected);
        assert_eq!(store.counts().lists, 3);
    }

    #[test]
    fn injected_put_failure_applies_to_prefix_only() {
        let store = MemoryStore::new(ManualClock::new(0));
        store.fail_puts_with_prefix("expiry:");

        assert!(block_on(store.put("expiry:1", "", None)).is_err());
        assert!(block_on(store.put("project:1", "", None)).is_ok());
    }
}
