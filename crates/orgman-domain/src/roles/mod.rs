//! Custom roles and the permission catalog: the use cases that define
//! roles, give them to members and keep anyone from granting more than
//! they hold.

pub(crate) mod service;
