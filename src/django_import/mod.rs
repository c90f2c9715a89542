//! `herald import-django`: moves the original Django system's notifications and preferences
//! into Herald without losing a row. Batches in id order, each one transaction with its users'
//! counts and the source's checkpoint (`crate::db::import`), so a run stopped anywhere (Ctrl-C
//! finishes the batch in flight; a kill rolls it back) continues where it stopped, and a later
//! run imports what the source created since and the read/unread/delete changes to what was
//! imported (`changes`). What Herald's rules would refuse is kept and remarked, what it cannot
//! hold is skipped (`review`); both go to the report file. `verify` compares both sides.

mod changes;
mod error;
mod progress;
pub mod review;
pub mod verify;

use crate::config::DatabaseUrl;
use crate::db::django::{self, quote_table};
use crate::db::import::{self, ImportedPreference};
use crate::db::DbConnection;
use crate::domain::TypeCatalog;
use changes::ChangeCounts;
pub use error::ImportError;
use progress::Progress;
use review::Reviewed;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What to import, from where, and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub from: DatabaseUrl,
    /// As given (`quote_table` checks it).
    pub notifications_table: String,
    pub preferences_table: String,
    /// Source rows per transaction.
    pub batch: i64,
    /// Read and review everything, write nothing.
    pub dry_run: bool,
    /// Where remarked and skipped rows are listed (appended to).
    pub report: PathBuf,
    /// The types Herald accepts: a row of another type is kept, remarked.
    pub types: TypeCatalog,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub read: u64,
    pub imported: u64,
    /// Kept although Herald's rules would refuse them in a new notification (in the report).
    pub remarked: u64,
    /// Not importable (in the report).
    pub skipped: u64,
    /// Their id was already taken in Herald (in the report).
    pub taken: u64,
    pub changes: ChangeCounts,
    pub preferences: u64,
    pub rows_per_second: f64,
    /// Stopped by Ctrl-C (or SIGTERM) after a whole batch: run again to continue.
    pub interrupted: bool,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.changes;
        write!(
            f,
            "read {} rows, imported {}, kept with remarks {}, skipped {}, id taken {}; changes since the last run: \
             {} read, {} unread, {} deleted; {} preferences; {:.0} rows/s{}",
            self.read,
            self.imported,
            self.remarked,
            self.skipped,
            self.taken,
            c.read,
            c.unread,
            c.deleted,
            self.preferences,
            self.rows_per_second,
            if self.interrupted { "; interrupted: run the same command again to continue" } else { "" }
        )
    }
}

/// The two databases, opened.
struct Databases {
    source: DbConnection,
    target: DbConnection,
    notifications: String,
    preferences: String,
}

impl Databases {
    fn open(target: &DatabaseUrl, options: &ImportOptions) -> Result<Databases, ImportError> {
        let quoted = |raw: &str| quote_table(raw).ok_or_else(|| ImportError::BadTable(raw.to_owned()));
        let (notifications, preferences) = (quoted(&options.notifications_table)?, quoted(&options.preferences_table)?);
        crate::db::migrate(target).map_err(ImportError::Migrate)?;
        let source = django::open_source(&options.from).map_err(ImportError::Source)?;
        let target = crate::db::establish(target, None).map_err(ImportError::Target)?;
        Ok(Databases { source, target, notifications, preferences })
    }
}

/// Imports (or with `dry_run` reviews) everything the source holds that Herald does not yet.
pub fn run(target: &DatabaseUrl, options: &ImportOptions) -> Result<Summary, ImportError> {
    let stop = watch_signals()?;
    let mut db = Databases::open(target, options)?;
    let mut report = Report::open(&options.report)?;
    let key = source_key(&options.from, &options.notifications_table);
    let (checkpoint, _) = import::checkpoint_of(&mut db.target, &key)?.unwrap_or((0, 0));
    let mut summary = Summary::default();
    if checkpoint > 0 {
        let range = (checkpoint, options.batch);
        summary.changes =
            changes::sync_changes(&mut db.source, &mut db.target, &db.notifications, range, options.dry_run)?;
    }
    let (rows, max_id) = django::span_after(&mut db.source, &db.notifications, checkpoint)?;
    if !options.dry_run {
        import::raise_id_sequence(&mut db.target, max_id)?;
    }
    let mut progress = Progress::new(rows.max(0) as u64);
    let mut after = checkpoint;
    while !stop.load(Ordering::SeqCst) {
        let page = django::notifications_after(&mut db.source, &db.notifications, after, options.batch)?;
        let Some(last) = page.last().map(|row| row.id) else { break };
        summary.read += page.len() as u64;
        progress.advance(page.len() as u64);
        let kept = review_page(page, &options.types, &mut report, &mut summary)?;
        if !options.dry_run {
            let outcome = import::import_batch(&mut db.target, &key, kept, last)?;
            summary.imported += outcome.inserted as u64;
            summary.taken += outcome.taken.len() as u64;
            for id in outcome.taken {
                report.line(id, "not imported", "the id is taken by a notification created in Herald")?;
            }
        }
        after = last;
    }
    progress.finish();
    summary.interrupted = stop.load(Ordering::SeqCst);
    summary.rows_per_second = progress.rate();
    if !summary.interrupted {
        summary.preferences = import_preferences(&mut db, options.batch, options.dry_run)?;
    }
    Ok(summary)
}

/// Compares the source and Herald per user: the users compared, and those that differ.
pub fn verify(target: &DatabaseUrl, options: &ImportOptions) -> Result<(usize, Vec<verify::Difference>), ImportError> {
    let mut db = Databases::open(target, options)?;
    verify::verify(&mut db.source, &mut db.target, &db.notifications)
}

/// Reviews a page of source rows: what to store, with remarks and skips reported and counted.
fn review_page(
    page: Vec<django::DjangoNotification>,
    types: &TypeCatalog,
    report: &mut Report,
    summary: &mut Summary,
) -> Result<Vec<import::ImportedNotification>, ImportError> {
    let mut kept = Vec::with_capacity(page.len());
    for row in page {
        match review::review(row, types) {
            Reviewed::Kept { row, remarks } => {
                if !remarks.is_empty() {
                    summary.remarked += 1;
                    report.line(row.id, "kept", &remarks.join("; "))?;
                }
                kept.push(row);
            }
            Reviewed::Skipped { id, reason } => {
                summary.skipped += 1;
                report.line(id, "skipped", &reason)?;
            }
        }
    }
    Ok(kept)
}

/// Every preference of the source, as it is; how many.
fn import_preferences(db: &mut Databases, batch: i64, dry_run: bool) -> Result<u64, ImportError> {
    let (mut after, mut count) = (0, 0);
    loop {
        let page = django::preferences_after(&mut db.source, &db.preferences, after, batch)?;
        let Some(last) = page.last().map(|p| p.id) else { return Ok(count) };
        let rows: Vec<ImportedPreference> = page
            .into_iter()
            .filter(|p| p.user_id >= 1)
            .map(|p| ImportedPreference {
                user_id: p.user_id,
                notification_type: p.notification_type,
                enabled: p.enabled != 0,
                realtime: p.realtime != 0,
            })
            .collect();
        count += rows.len() as u64;
        if !dry_run {
            import::import_preferences(&mut db.target, &rows)?;
        }
        after = last;
    }
}

/// The checkpoint's name for a source: its URL without credentials, and the table.
fn source_key(from: &DatabaseUrl, table: &str) -> String {
    let place = match from {
        DatabaseUrl::Postgres(raw) => match url::Url::parse(raw) {
            Ok(mut url) => {
                let _ = url.set_password(None);
                let _ = url.set_username("");
                url.set_query(None);
                url.to_string()
            }
            Err(_) => "postgres".to_owned(),
        },
        DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
    };
    format!("{place} {table}")
}

/// Ctrl-C or SIGTERM sets the flag (the batch in flight finishes); a second one exits at once
/// (status 130; the open transaction rolls back).
fn watch_signals() -> Result<Arc<AtomicBool>, ImportError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone()).map_err(ImportError::Signals)?;
        signal_hook::flag::register(signal, stop.clone()).map_err(ImportError::Signals)?;
    }
    Ok(stop)
}

/// The report file: one CSV line per remarked, skipped or not imported row.
struct Report {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl Report {
    fn open(path: &std::path::Path) -> Result<Report, ImportError> {
        let fail = |source| ImportError::Report { path: path.to_owned(), source };
        let new = !path.exists();
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(fail)?;
        let mut report = Report { path: path.to_owned(), file: std::io::BufWriter::new(file) };
        if new {
            writeln!(report.file, "id,outcome,reason").map_err(fail)?;
        }
        Ok(report)
    }

    fn line(&mut self, id: i64, outcome: &str, reason: &str) -> Result<(), ImportError> {
        let quoted = reason.replace('"', "\"\"");
        writeln!(self.file, "{id},{outcome},\"{quoted}\"")
            .and_then(|()| self.file.flush())
            .map_err(|source| ImportError::Report { path: self.path.clone(), source })
    }
}
