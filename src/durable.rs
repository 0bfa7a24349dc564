//! Small files replaced so that a crash or power loss leaves the old content or the new,
//! never a torn mix: JetStream's `meta.inf` files and the account resolver's JWTs.

use std::io::{self, Write};
use std::path::Path;

/// Writes `data` to `path` through a synced temporary file renamed over it, then syncs the
/// directory so the rename itself survives.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<(), String> {
    let io_err = |e: io::Error| e.to_string();
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io_err)?;
    f.write_all(data).map_err(io_err)?;
    f.sync_all().map_err(io_err)?;
    std::fs::rename(&tmp, path).map_err(io_err)?;
    sync_dir(dir).map_err(io_err)
}

/// Makes renames and removals in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all())
}
