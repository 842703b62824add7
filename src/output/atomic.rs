//! Whole-file writes that a crash never leaves half done.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

/// Writes `dir/name` through a temporary file in `dir`, synced, then renamed over it.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(name))
    })();
    if written.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", dir.join(name).display())))
}
