//! The file layer under the file store: the few operations it needs, on the real file
//! system ([`StdFs`]) or, in tests, on a simulated disk that can crash (`sim::SimFs`):
//! what was not made durable by a sync is dropped, but for a torn piece.
//!
//! Durability follows POSIX as Linux file systems give it: file contents are durable once
//! the file is synced; that a file exists (was created, renamed or removed) once its
//! directory is synced.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// An open segment file.
pub trait FsFile: Send {
    /// Appends at the end.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Overwrites in place (a secure erase).
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Makes what was written durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
}

/// The directory-level operations.
pub trait Fs: Send + Sync {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// File names in `dir` (not paths).
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Opens for appending, creating the file when missing.
    fn open(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

struct StdFile(std::fs::File);

impl FsFile for StdFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.seek(SeekFrom::End(0))?;
        self.0.write_all(data)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.seek(SeekFrom::Start(offset))?;
        self.0.write_all(data)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.0.seek(SeekFrom::Start(offset))?;
        self.0.read_exact(buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Fs for StdFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir)? {
            if let Some(name) = e?.file_name().to_str() {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(Box::new(StdFile(f)))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.set_len(len)?;
        f.sync_data()
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }
}

/// A path's parent, for directory syncs.
pub fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

#[cfg(test)]
pub mod sim {
    //! A simulated disk for crash-consistency tests: every write is recorded; a crash keeps
    //! what was synced and, of what was not, a random prefix of the writes in order, the last
    //! of them possibly torn.

    use super::*;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    #[derive(Debug, Clone)]
    enum Op {
        /// Bytes written at an offset (appends are writes at the end).
        Write(u64, Vec<u8>),
    }

    #[derive(Debug, Clone, Default)]
    struct File {
        /// As the running process sees it.
        live: Vec<u8>,
        /// As of the last sync.
        durable: Vec<u8>,
        /// Since the last sync, in order.
        pending: Vec<Op>,
    }

    #[derive(Debug, Clone)]
    enum DirOp {
        Create(PathBuf, u64),
        Remove(PathBuf),
        Rename(PathBuf, PathBuf),
    }

    #[derive(Debug, Default)]
    struct Disk {
        /// Contents by identity (a rename moves the name, not the contents).
        files: BTreeMap<u64, File>,
        /// Names as the process sees them.
        live_names: BTreeMap<PathBuf, u64>,
        /// Names as of the last directory sync.
        durable_names: BTreeMap<PathBuf, u64>,
        /// Name changes since then.
        pending_dir: Vec<DirOp>,
        next_id: u64,
        syncs: u64,
        /// Writes fail as on a full disk.
        full: bool,
    }

    /// The simulated disk; clones share it.
    #[derive(Debug, Clone, Default)]
    pub struct SimFs(Arc<Mutex<Disk>>);

    fn apply(data: &mut Vec<u8>, op: &Op) {
        let Op::Write(at, bytes) = op;
        let at = *at as usize;
        if data.len() < at + bytes.len() {
            data.resize(at + bytes.len(), 0);
        }
        data[at..at + bytes.len()].copy_from_slice(bytes);
    }

    impl SimFs {
        pub fn new() -> SimFs {
            SimFs::default()
        }

        fn disk(&self) -> std::sync::MutexGuard<'_, Disk> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }

        /// From now on, writes fail with "no space left on device" (or work again).
        pub fn set_full(&self, full: bool) {
            self.disk().full = full;
        }

        /// File and directory syncs so far.
        pub fn syncs(&self) -> u64 {
            self.disk().syncs
        }

        /// The disk after a power loss: synced state, plus (chosen by `rng`) a prefix of
        /// what came after it, the last write of the prefix cut short.
        pub fn crash(&self, rng: &mut fastrand::Rng) -> SimFs {
            let d = self.disk();
            let mut names = d.durable_names.clone();
            let keep = rng.usize(..=d.pending_dir.len());
            for op in &d.pending_dir[..keep] {
                match op {
                    DirOp::Create(p, id) => {
                        names.insert(p.clone(), *id);
                    }
                    DirOp::Remove(p) => {
                        names.remove(p);
                    }
                    DirOp::Rename(from, to) => {
                        if let Some(id) = names.remove(from) {
                            names.insert(to.clone(), id);
                        }
                    }
                }
            }
            let mut files = BTreeMap::new();
            for id in names.values() {
                let Some(f) = d.files.get(id) else { continue };
                let mut data = f.durable.clone();
                let n = rng.usize(..=f.pending.len());
                for (i, op) in f.pending[..n].iter().enumerate() {
                    if i + 1 == n {
                        // The last write may be torn anywhere.
                        let Op::Write(at, bytes) = op;
                        let cut = rng.usize(..=bytes.len());
                        apply(&mut data, &Op::Write(*at, bytes[..cut].to_vec()));
                        continue;
                    }
                    apply(&mut data, op);
                }
                files.insert(
                    *id,
                    File {
                        live: data.clone(),
                        durable: data,
                        pending: Vec::new(),
                    },
                );
            }
            SimFs(Arc::new(Mutex::new(Disk {
                files,
                live_names: names.clone(),
                durable_names: names,
                pending_dir: Vec::new(),
                next_id: d.next_id,
                syncs: 0,
                full: false,
            })))
        }

        /// Flips one bit of a file as the process sees it (and durably).
        pub fn flip(&self, path: &Path, byte: usize, bit: u8) {
            let mut d = self.disk();
            let Some(id) = d.live_names.get(path).copied() else {
                return;
            };
            if let Some(f) = d.files.get_mut(&id) {
                if byte < f.live.len() {
                    f.live[byte] ^= 1 << bit;
                    f.durable = f.live.clone();
                    f.pending.clear();
                }
            }
        }

        /// The live length of a file.
        pub fn len(&self, path: &Path) -> Option<usize> {
            let d = self.disk();
            let id = d.live_names.get(path)?;
            d.files.get(id).map(|f| f.live.len())
        }
    }

    struct SimFile {
        fs: SimFs,
        id: u64,
    }

    impl SimFile {
        fn with<T>(&self, f: impl FnOnce(&mut File) -> T) -> io::Result<T> {
            let mut d = self.fs.disk();
            d.files
                .get_mut(&self.id)
                .map(f)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
    }

    fn no_space() -> io::Error {
        io::Error::from_raw_os_error(28)
    }

    impl FsFile for SimFile {
        fn append(&mut self, data: &[u8]) -> io::Result<()> {
            if self.fs.disk().full {
                return Err(no_space());
            }
            self.with(|f| {
                let op = Op::Write(f.live.len() as u64, data.to_vec());
                apply(&mut f.live, &op);
                f.pending.push(op);
            })
        }

        fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
            if self.fs.disk().full {
                return Err(no_space());
            }
            self.with(|f| {
                let op = Op::Write(offset, data.to_vec());
                apply(&mut f.live, &op);
                f.pending.push(op);
            })
        }

        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            self.with(|f| {
                let at = offset as usize;
                match f.live.get(at..at + buf.len()) {
                    Some(src) => {
                        buf.copy_from_slice(src);
                        Ok(())
                    }
                    None => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                }
            })?
        }

        fn sync(&mut self) -> io::Result<()> {
            self.fs.disk().syncs += 1;
            self.with(|f| {
                f.durable = f.live.clone();
                f.pending.clear();
            })
        }
    }

    impl Fs for SimFs {
        fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
            Ok(())
        }

        fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
            let d = self.disk();
            Ok(d.live_names
                .keys()
                .filter(|p| p.parent() == Some(dir))
                .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
                .collect())
        }

        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            let d = self.disk();
            let id = d
                .live_names
                .get(path)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            Ok(d.files.get(id).map(|f| f.live.clone()).unwrap_or_default())
        }

        fn open(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
            let mut d = self.disk();
            let id = match d.live_names.get(path) {
                Some(id) => *id,
                None => {
                    d.next_id += 1;
                    let id = d.next_id;
                    d.files.insert(id, File::default());
                    d.live_names.insert(path.to_path_buf(), id);
                    d.pending_dir.push(DirOp::Create(path.to_path_buf(), id));
                    id
                }
            };
            Ok(Box::new(SimFile {
                fs: self.clone(),
                id,
            }))
        }

        fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
            let mut d = self.disk();
            let id = *d
                .live_names
                .get(path)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            if let Some(f) = d.files.get_mut(&id) {
                f.live.truncate(len as usize);
                // Truncation is synced, as `StdFs::truncate` does.
                f.durable = f.live.clone();
                f.pending.clear();
            }
            Ok(())
        }

        fn remove(&self, path: &Path) -> io::Result<()> {
            let mut d = self.disk();
            d.live_names
                .remove(path)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            d.pending_dir.push(DirOp::Remove(path.to_path_buf()));
            Ok(())
        }

        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            let mut d = self.disk();
            let id = d
                .live_names
                .remove(from)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            d.live_names.insert(to.to_path_buf(), id);
            d.pending_dir
                .push(DirOp::Rename(from.to_path_buf(), to.to_path_buf()));
            Ok(())
        }

        fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
            let mut d = self.disk();
            d.syncs += 1;
            d.durable_names = d.live_names.clone();
            d.pending_dir.clear();
            Ok(())
        }
    }
}
