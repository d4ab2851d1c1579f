//! Keep a SQLite connection's memory map across transactions (giữ ánh xạ bộ nhớ giữa các giao
//! dịch): a thin VFS over SQLite's own `unix` VFS.
//!
//! In WAL mode SQLite begins every read transaction by asking whether another connection has
//! committed since this one last read. When one has, it empties the connection's page cache and
//! **unmaps the whole database file** (`pagerBeginReadTransaction` → `sqlite3OsUnfetch(fd, 0,
//! 0)` → `unixUnmapfile`). The next page read maps the file again, and every page touched faults
//! in anew. On a node that commits and reads in turn all day (the border gate's simulated days,
//! webhook deliveries) that is a `munmap`, an `mmap` and hundreds of page faults per read
//! transaction: a third of the 30-day simulation's CPU was system time, and turning the map off
//! altogether saved about 7 s of it (`docs/benchmarks.md`, fourteenth round).
//!
//! The unmap is there because the file's size may have changed: `unix` maps the size the file had
//! when it mapped, and only a fresh map covers pages added since. The contents need no new map:
//! the map is `MAP_SHARED`, so it shows the file as it is now, whoever wrote it. This VFS passes
//! every call through to `unix` except that unmap request, which it passes on only when the
//! file has **shrunk**, has **grown** by more than [`remap_growth`] past the size mapped, or
//! [`PAST_MAP_BUDGET`] pages have been read past the map's end since it was made. Otherwise it
//! keeps the map: the pages keep their page-table entries, and pages past the map's end are read
//! with `pread` by `unix` itself (its `xFetch` only returns pages inside its own map), so a kept
//! map is never wrong, at worst a little short.
//!
//! Other files (WAL, journals, temporary files) are opened by `unix` directly, in place.
//! Registered as the default VFS before the first SQLite connection opens ([`register`]), so
//! sqlx's and rusqlite's connections both use it. `TINHSO_SQLITE_KEEP_MAP=0` (or `false`,
//! `off`) does not register it: SQLite's own behaviour, for comparison.
//!
//! The only `unsafe` of the crate outside `sql_profile` is here: the VFS is a table of C
//! callbacks over SQLite's C structures.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The VFS's name (`sqlite3_vfs_find`).
pub const VFS_NAME: &CStr = c"tinhso-keep-map";

/// How far the file may grow past the size mapped before a changed read maps it again: an
/// eighth of the mapped size, at least 4 MiB. Pages past the map are read with `pread`; a new
/// map costs an `munmap`, an `mmap` and a page fault for every page touched again.
pub fn remap_growth(mapped: i64) -> i64 {
    (mapped / 8).max(4 << 20)
}

/// How many pages read past the map's end (with `pread`, each time again after another
/// connection's commit empties the page cache) make the next changed read map the file again:
/// 4 MiB of copies, about what a new map costs in page faults on a large file. So a connection
/// whose recent rows lie past its map does not read them with `pread` for ever.
pub const PAST_MAP_BUDGET: u64 = 1024;

/// Unmap requests kept (the map stayed) and passed on (the map was dropped), process-wide.
static KEPT: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Counts of this process's unmap requests from SQLite: `(kept, dropped)`.
pub fn counts() -> (u64, u64) {
    (
        KEPT.load(Ordering::Relaxed),
        DROPPED.load(Ordering::Relaxed),
    )
}

/// The `unix` VFS this one passes calls to (a `*mut sqlite3_vfs`, set once by [`register`]).
static REAL_VFS: AtomicUsize = AtomicUsize::new(0);

/// A main database file: this header, then the `unix` file object in the same allocation.
#[repr(C)]
struct KeepMapFile {
    base: ffi::sqlite3_file,
    /// The `unix` VFS's file object, right after this header.
    real: *mut ffi::sqlite3_file,
    /// The file's size when `unix` last mapped it; -1 when there is no map this header knows of.
    mapped_size: i64,
    /// Pages asked for past that size since: `unix` read them with `pread`.
    past_map: u64,
}

const HEADER: usize = std::mem::size_of::<KeepMapFile>();
const _: () = assert!(HEADER.is_multiple_of(8));

/// Registers the VFS as SQLite's default, once per process, unless `TINHSO_SQLITE_KEEP_MAP` is
/// off or the default VFS is not `unix`. Returns whether it is registered. Call it before the
/// first SQLite connection opens: a connection keeps the VFS it was opened with.
pub fn register() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        let wanted = crate::db::switch_from_env("TINHSO_SQLITE_KEEP_MAP").unwrap_or(true);
        // SAFETY: `sqlite3_vfs_find` returns a registered VFS, which lives as long as the
        // process; the copy made here is leaked, so it does too, as `sqlite3_vfs_register`
        // requires.
        wanted && unsafe { register_over_unix() }
    })
}

unsafe fn register_over_unix() -> bool {
    let real = ffi::sqlite3_vfs_find(ptr::null());
    if real.is_null() || (*real).zName.is_null() || CStr::from_ptr((*real).zName) != c"unix" {
        tracing::warn!("SQLite's default VFS is not `unix`: the memory map is not kept");
        return false;
    }
    let mut vfs = *real;
    vfs.pNext = ptr::null_mut();
    vfs.zName = VFS_NAME.as_ptr();
    vfs.szOsFile = (*real).szOsFile + HEADER as c_int;
    vfs.xOpen = Some(keep_map_open);
    REAL_VFS.store(real as usize, Ordering::Release);
    let vfs: &'static mut ffi::sqlite3_vfs = Box::leak(Box::new(vfs));
    let rc = ffi::sqlite3_vfs_register(vfs, 1);
    if rc != ffi::SQLITE_OK {
        tracing::warn!(rc, "SQLite VFS `tinhso-keep-map` not registered");
    }
    rc == ffi::SQLITE_OK
}

fn real_vfs() -> *mut ffi::sqlite3_vfs {
    REAL_VFS.load(Ordering::Acquire) as *mut ffi::sqlite3_vfs
}

/// `xOpen`: main database files get the header; every other file is `unix`'s own, in place (the
/// object is large enough: `szOsFile` is `unix`'s plus the header).
unsafe extern "C" fn keep_map_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let real_vfs = real_vfs();
    let Some(real_open) = (*real_vfs).xOpen else {
        return ffi::SQLITE_ERROR;
    };
    if flags & ffi::SQLITE_OPEN_MAIN_DB == 0 {
        return real_open(real_vfs, name, file, flags, out_flags);
    }
    let shim = file.cast::<KeepMapFile>();
    let real = file.cast::<u8>().add(HEADER).cast::<ffi::sqlite3_file>();
    (*real).pMethods = ptr::null();
    (*shim).base.pMethods = ptr::null();
    let rc = real_open(real_vfs, name, real, flags, out_flags);
    // SQLite calls `xClose` whenever `pMethods` is set, even after an error: set it exactly when
    // `unix` set its own.
    if !(*real).pMethods.is_null() {
        (*shim).real = real;
        (*shim).mapped_size = -1;
        (*shim).past_map = 0;
        (*shim).base.pMethods = &KEEP_MAP_METHODS;
    }
    rc
}

unsafe fn parts(file: *mut ffi::sqlite3_file) -> (*mut KeepMapFile, *mut ffi::sqlite3_file) {
    let shim = file.cast::<KeepMapFile>();
    (shim, (*shim).real)
}

/// The size of the `unix` file `real` (an `fstat`), if it can be read.
unsafe fn file_size(real: *mut ffi::sqlite3_file) -> Option<i64> {
    let mut size = 0i64;
    let size_of = (*(*real).pMethods).xFileSize?;
    (size_of(real, &mut size) == ffi::SQLITE_OK).then_some(size)
}

/// Calls the `unix` file's method `$m` with the given arguments.
macro_rules! pass {
    ($file:expr, $m:ident $(, $arg:expr)*) => {{
        let (_, real) = parts($file);
        match (*(*real).pMethods).$m {
            Some(f) => f(real $(, $arg)*),
            None => ffi::SQLITE_IOERR,
        }
    }};
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    pass!(f, xClose)
}
unsafe extern "C" fn x_read(f: *mut ffi::sqlite3_file, b: *mut c_void, n: c_int, o: i64) -> c_int {
    pass!(f, xRead, b, n, o)
}
unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    b: *const c_void,
    n: c_int,
    o: i64,
) -> c_int {
    pass!(f, xWrite, b, n, o)
}
unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
    pass!(f, xTruncate, size)
}
unsafe extern "C" fn x_sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    pass!(f, xSync, flags)
}
unsafe extern "C" fn x_file_size(f: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    pass!(f, xFileSize, size)
}
unsafe extern "C" fn x_lock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    pass!(f, xLock, level)
}
unsafe extern "C" fn x_unlock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    pass!(f, xUnlock, level)
}
unsafe extern "C" fn x_check_reserved_lock(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    pass!(f, xCheckReservedLock, out)
}
unsafe extern "C" fn x_file_control(
    f: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    let rc = pass!(f, xFileControl, op, arg);
    if op == ffi::SQLITE_FCNTL_MMAP_SIZE {
        // `unix` may have mapped the file again at another size.
        (*parts(f).0).mapped_size = -1;
    }
    rc
}
unsafe extern "C" fn x_sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    let (_, real) = parts(f);
    (*(*real).pMethods).xSectorSize.map_or(4096, |m| m(real))
}
unsafe extern "C" fn x_device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    let (_, real) = parts(f);
    (*(*real).pMethods)
        .xDeviceCharacteristics
        .map_or(0, |m| m(real))
}
unsafe extern "C" fn x_shm_map(
    f: *mut ffi::sqlite3_file,
    page: c_int,
    page_size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    pass!(f, xShmMap, page, page_size, extend, out)
}
unsafe extern "C" fn x_shm_lock(
    f: *mut ffi::sqlite3_file,
    off: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    pass!(f, xShmLock, off, n, flags)
}
unsafe extern "C" fn x_shm_barrier(f: *mut ffi::sqlite3_file) {
    let (_, real) = parts(f);
    if let Some(m) = (*(*real).pMethods).xShmBarrier {
        m(real);
    }
}
unsafe extern "C" fn x_shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    pass!(f, xShmUnmap, delete)
}

/// `xFetch`: notes the file's size before `unix` maps it (it maps only when it holds no map),
/// and counts the pages `unix` could not give from its map.
unsafe extern "C" fn x_fetch(
    f: *mut ffi::sqlite3_file,
    off: i64,
    n: c_int,
    out: *mut *mut c_void,
) -> c_int {
    let (shim, real) = parts(f);
    if (*shim).mapped_size < 0 {
        if let Some(size) = file_size(real) {
            (*shim).mapped_size = size;
            (*shim).past_map = 0;
        }
    }
    let rc = pass!(f, xFetch, off, n, out);
    if rc == ffi::SQLITE_OK && (*out).is_null() {
        (*shim).past_map += 1;
    }
    rc
}

/// `xUnfetch`: a page's release goes to `unix`; a request to drop the whole map (`p` null) is
/// kept back unless the file shrank, grew past [`remap_growth`], or too many pages were read
/// past the map ([`PAST_MAP_BUDGET`]).
unsafe extern "C" fn x_unfetch(f: *mut ffi::sqlite3_file, off: i64, p: *mut c_void) -> c_int {
    let (shim, real) = parts(f);
    if p.is_null() {
        let mapped = (*shim).mapped_size;
        let keep = mapped >= 0
            && (*shim).past_map < PAST_MAP_BUDGET
            && file_size(real)
                .is_some_and(|size| size >= mapped && size - mapped <= remap_growth(mapped));
        if keep {
            KEPT.fetch_add(1, Ordering::Relaxed);
            return ffi::SQLITE_OK;
        }
        (*shim).mapped_size = -1;
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    pass!(f, xUnfetch, off, p)
}

static KEEP_MAP_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: Some(x_fetch),
    xUnfetch: Some(x_unfetch),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_growth_allowed_is_an_eighth_and_at_least_four_mib() {
        assert_eq!(remap_growth(0), 4 << 20);
        assert_eq!(remap_growth(16 << 20), 4 << 20);
        assert_eq!(remap_growth(800 << 20), 100 << 20);
    }
}
