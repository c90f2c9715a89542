//! The admin API (`/admin/api/`): who may use it, the search across users on both backends,
//! keyset pages that hold while rows are added, and changes made as the owner's own (pushed to
//! their tabs on another node) and recorded in the audit log.

mod access;
mod changes;
mod console_page;
mod live;
mod search;
