//! What the store's own statements need from each dialect: placeholders, as the dialect's
//! profile (`view_sync_core::profile`) writes them, as it writes the ledger's table and upsert.

pub use view_sync_core::dialect::Dialect;
use view_sync_core::profile;

/// The placeholders of the store's statements in each dialect.
pub trait LedgerSql {
    /// The placeholder for the `n`th (1-based) bound value.
    fn param(self, n: usize) -> String;
}

impl LedgerSql for Dialect {
    fn param(self, n: usize) -> String {
        profile::of(self).placeholder(n)
    }
}
