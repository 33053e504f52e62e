//! Bulk member imports: a file's rows judged in chunks by the rules of a
//! single addition, each chunk one unit of work.

pub(crate) mod member_import;
