//! Domain events: what every change emits, the relay that hands committed
//! events to each sink, and reading them back as the audit trail.

pub(crate) mod audit;
pub(crate) mod event;
pub(crate) mod relay;
