//! The idle footprint: code that only start-up needed does not stay in the process's
//! resident set.
//!
//! Of natrium's idle RSS, nine tenths are file-backed pages of executable code: the
//! binary's and the shared libraries' text that parsing the configuration, setting up TLS
//! and binding the listeners touched once (and the kernel's fault-around mapped in 64 KiB
//! around each of those touches). Once the server is ready, [`drop_startup_text`] unmaps
//! those pages from this process; the kernel keeps them in its page cache, reclaimable,
//! and the next use of any of them (a reload, a new kind of request) maps it back with a
//! minor fault. What stays resident is what the running server actually executes.
//!
//! This is the crate's only `unsafe` (the lint denies it everywhere else): `madvise` has no
//! safe form, because on memory that holds Rust objects it would destroy them.
#![allow(unsafe_code)]

use std::fs;

/// Drops this process's page-table entries for every executable file mapping (the binary,
/// libc, the loader). Errors are ignored: this only ever saves memory.
pub fn drop_startup_text() {
    let Ok(maps) = fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for (start, len) in maps.lines().filter_map(executable_file_mapping) {
        // SAFETY: the range is a whole mapping the kernel listed as read-only, executable,
        // private and backed by a file: its pages are never modified by this process, so
        // MADV_DONTNEED only removes the page-table entries, and the next access faults
        // in the identical page from the file. No Rust object lives in that range.
        unsafe {
            let _ = rustix::mm::madvise(
                start as *mut std::ffi::c_void,
                len,
                rustix::mm::Advice::LinuxDontNeed,
            );
        }
    }
}

/// `(start, length)` of a `/proc/self/maps` line that maps a file `r-xp`.
fn executable_file_mapping(line: &str) -> Option<(usize, usize)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?;
    let path = fields.nth(3)?;
    if perms != "r-xp" || !path.starts_with('/') {
        return None;
    }
    let (a, b) = range.split_once('-')?;
    let start = usize::from_str_radix(a, 16).ok()?;
    let end = usize::from_str_radix(b, 16).ok()?;
    (end > start).then(|| (start, end - start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_executable_file_mappings() {
        let text = "55d0c0a00000-55d0c0f00000 r-xp 00020000 fd:01 123 /usr/sbin/natrium";
        assert_eq!(
            executable_file_mapping(text),
            Some((0x55d0c0a00000, 0x500000))
        );
        for line in [
            "55d0c0f00000-55d0c0f80000 r--p 00520000 fd:01 123 /usr/sbin/natrium",
            "55d0c0f80000-55d0c0f90000 rw-p 005a0000 fd:01 123 /usr/sbin/natrium",
            "7ffd1b9f0000-7ffd1b9f2000 r-xp 00000000 00:00 0 [vdso]",
            "7f0000000000-7f0000021000 rw-p 00000000 00:00 0",
            "garbage",
        ] {
            assert_eq!(executable_file_mapping(line), None, "{line}");
        }
    }
}
