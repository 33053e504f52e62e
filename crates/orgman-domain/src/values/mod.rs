//! Value types every part shares: ids, validated names and addresses,
//! and keyset pages. Each holds only valid values: its constructor checks.

pub(crate) mod actor;
pub(crate) mod id;
pub(crate) mod name;
pub(crate) mod page;
