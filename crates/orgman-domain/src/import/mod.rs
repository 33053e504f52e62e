//! Bulk member imports: a file's rows judged in chunks by the rules of a
//! single addition, each chunk one unit of work ([`member_import`]), and
//! the run of a whole file, two chunks in the database at once ([`pipeline`]).

pub(crate) mod member_import;
pub(crate) mod pipeline;
