//! Content-addressed file store (kho tệp): attachments are stored once under their SHA-256,
//! with their media type sniffed from the bytes (never trusted from the file name) and their
//! size limited. The local file system is the default backend.

use crate::db::{now_micros, Db};
use crate::exec::Exec;
use crate::native::Param;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tinhso_kernel::{AppError, Invalid};

/// Media types the platform accepts as attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MediaType {
    Pdf,
    Png,
    Jpeg,
}

impl MediaType {
    pub fn mime(self) -> &'static str {
        match self {
            MediaType::Pdf => "application/pdf",
            MediaType::Png => "image/png",
            MediaType::Jpeg => "image/jpeg",
        }
    }

    pub fn from_mime(s: &str) -> Option<Self> {
        match s {
            "application/pdf" => Some(MediaType::Pdf),
            "image/png" => Some(MediaType::Png),
            "image/jpeg" => Some(MediaType::Jpeg),
            _ => None,
        }
    }
}

/// Identify the type from the leading bytes (magic numbers).
pub fn sniff(bytes: &[u8]) -> Option<MediaType> {
    if bytes.starts_with(b"%PDF-") {
        Some(MediaType::Pdf)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(MediaType::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(MediaType::Jpeg)
    } else {
        None
    }
}

/// A stored file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileRef {
    pub sha256: String,
    pub size: i64,
    pub media_type: String,
}

/// The inline limit of the server's file store by default (64 KiB): see
/// [`FileStore::keeps_inline`].
pub const INLINE_MAX_DEFAULT: usize = 64 * 1024;

/// The file store.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
    max_size: usize,
    inline_max: usize,
}

impl FileStore {
    /// A store rooted at `root` (created on first write) accepting files up to `max_size` bytes,
    /// every one of them written here (no inline limit: see [`FileStore::with_inline_max`]).
    pub fn local(root: impl Into<PathBuf>, max_size: usize) -> Self {
        Self {
            root: root.into(),
            max_size,
            inline_max: 0,
        }
    }

    /// The same store, with callers that can keep a small file in their own database row
    /// told to do so for files up to `bytes` (giới hạn lưu trong cơ sở dữ liệu; 0: none).
    pub fn with_inline_max(mut self, bytes: usize) -> Self {
        self.inline_max = bytes;
        self
    }

    /// Whether a file of `len` bytes is small enough to be kept in the database, in the
    /// transaction that records it, rather than written here (dossier attachments:
    /// `dossier_files.content`): one inode, a temporary file and a rename less per file, and
    /// the file is in the database's snapshots. Larger files, and callers that keep no bytes
    /// (results, reports), use the store.
    pub fn keeps_inline(&self, len: usize) -> bool {
        len > 0 && len <= self.inline_max
    }

    /// Where a blob is written: `<root>/ab/<sha256>`, one level of 256 directories (thư mục
    /// phân tán), each created once by the first blob that needs it, so that after warm-up a
    /// new blob creates one inode (its own) and no directory.
    fn path_of(&self, sha: &str) -> PathBuf {
        self.root.join(&sha[0..2]).join(sha)
    }

    /// Where blobs stored before the one-level layout still are: `<root>/ab/cd/<sha256>`
    /// (read as a fallback, never written; the `ab/` directory is the same in both layouts).
    fn legacy_path_of(&self, sha: &str) -> PathBuf {
        self.root.join(&sha[0..2]).join(&sha[2..4]).join(sha)
    }

    /// Whether the blob `sha` is stored, in either layout.
    async fn is_stored(&self, sha: &str) -> bool {
        tokio::fs::try_exists(self.path_of(sha))
            .await
            .unwrap_or(false)
            || tokio::fs::try_exists(self.legacy_path_of(sha))
                .await
                .unwrap_or(false)
    }

    /// Store `bytes` if their sniffed type is in `allowed`. Idempotent: the same bytes give
    /// the same [`FileRef`] and are stored once.
    pub async fn put(
        &self,
        db: &Db,
        field: &str,
        bytes: &[u8],
        allowed: &[MediaType],
    ) -> Result<FileRef, AppError> {
        let r = self.write_checked(field, bytes, allowed).await?;
        let mut tx = db.begin_write().await?;
        record_in(&mut tx, &r).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// The file part of [`FileStore::put`]: check `bytes` (not empty, within the size limit,
    /// sniffed type in `allowed`; errors on `field`) and write them to the store, without the
    /// database. The caller then records them with [`record_in`] in its own transaction
    /// (a file is always written before its record; one never recorded is harmless).
    pub async fn write_checked(
        &self,
        field: &str,
        bytes: &[u8],
        allowed: &[MediaType],
    ) -> Result<FileRef, AppError> {
        if bytes.is_empty() {
            return Err(AppError::field(
                field,
                Invalid::new("file_empty", "Tệp rỗng", "The file is empty"),
            ));
        }
        if bytes.len() > self.max_size {
            return Err(AppError::field(
                field,
                Invalid::new(
                    "file_too_large",
                    format!(
                        "Tệp quá lớn: {} KB, tối đa {} KB",
                        bytes.len() / 1024,
                        self.max_size / 1024
                    ),
                    format!(
                        "File too large: {} KB, at most {} KB",
                        bytes.len() / 1024,
                        self.max_size / 1024
                    ),
                ),
            ));
        }
        let kind = sniff(bytes)
            .filter(|k| allowed.contains(k))
            .ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|m| m.mime()).collect();
                AppError::field(
                    field,
                    Invalid::new(
                        "file_type",
                        format!(
                            "Loại tệp không được chấp nhận; chỉ nhận: {}",
                            names.join(", ")
                        ),
                        format!("File type not accepted; allowed: {}", names.join(", ")),
                    ),
                )
            })?;
        self.write(bytes, kind).await
    }

    /// Write `bytes` of a known type to the store (nothing in the database).
    async fn write(&self, bytes: &[u8], kind: MediaType) -> Result<FileRef, AppError> {
        let sha = hex::encode(Sha256::digest(bytes));
        if !self.is_stored(&sha).await {
            write_atomic(&self.path_of(&sha), bytes)
                .await
                .map_err(AppError::internal)?;
        }
        Ok(FileRef {
            sha256: sha,
            size: bytes.len() as i64,
            media_type: kind.mime().to_string(),
        })
    }

    /// Store `bytes` of a known type (made by the platform itself, e.g. a generated PDF) and
    /// record them inside the caller's transaction. The file is written first: if the
    /// transaction rolls back, an unreferenced file remains, which is harmless (content
    /// addressed) and never a record without its file.
    pub async fn put_in(
        &self,
        tx: &mut impl Exec,
        bytes: &[u8],
        kind: MediaType,
    ) -> Result<FileRef, AppError> {
        let r = self.write(bytes, kind).await?;
        record_in(tx, &r).await?;
        Ok(r)
    }

    /// Read a stored file, checking its content still matches its address.
    pub async fn get(&self, sha: &str) -> Result<Vec<u8>, AppError> {
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::not_found());
        }
        let bytes = match tokio::fs::read(self.path_of(sha)).await {
            Ok(bytes) => bytes,
            Err(_) => tokio::fs::read(self.legacy_path_of(sha))
                .await
                .map_err(|_| AppError::not_found())?,
        };
        check_address(sha, &bytes)?;
        Ok(bytes)
    }

    /// The SHA-256 of every stored blob (danh sách tệp), in either layout, sorted: what a
    /// check of the store against the `files` table or a copy to a backup walks.
    pub async fn list(&self) -> Result<Vec<String>, AppError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || walk_blobs(&root))
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)
    }
}

/// Check that `bytes` still match their address `sha` (a stored file or a file kept in the
/// database): an internal error naming the file when they do not.
pub fn check_address(sha: &str, bytes: &[u8]) -> Result<(), AppError> {
    if hex::encode(Sha256::digest(bytes)) != sha {
        return Err(AppError::internal(format!("file {sha} is corrupted")));
    }
    Ok(())
}

/// Record a file written by [`FileStore::write_checked`] in the caller's transaction (once per
/// content: recording it again changes nothing).
pub async fn record_in(tx: &mut impl Exec, r: &FileRef) -> Result<(), AppError> {
    tx.execute(
        "INSERT INTO files (sha256, size, media_type, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (sha256) DO NOTHING",
        &[
            Param::Text(&r.sha256),
            Param::Int(r.size),
            Param::Text(&r.media_type),
            Param::Int(now_micros()),
        ],
    )
    .await?;
    Ok(())
}

/// Write `bytes` to `path` through a temporary file in the same directory (the rename is then
/// atomic and cheap). The directory is created only when the temporary file cannot be made for
/// want of it: with the one-level layout that is at most 256 times in a store's life, not a
/// `mkdir` call per blob.
async fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
    match tokio::fs::write(&tmp, bytes).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            tokio::fs::write(&tmp, bytes).await?;
        }
        other => other?,
    }
    tokio::fs::rename(&tmp, path).await
}

/// Whether `name` is a stored blob's name (64 lowercase hex digits).
fn is_blob_name(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `name` is a fan-out directory's name (two lowercase hex digits).
fn is_fan_out_name(name: &str) -> bool {
    name.len() == 2
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every blob under `root` in either layout (`ab/<sha>` and the older `ab/cd/<sha>`), sorted,
/// each once; temporary files are skipped.
fn walk_blobs(root: &Path) -> std::io::Result<Vec<String>> {
    let mut found = std::collections::BTreeSet::new();
    let top = match std::fs::read_dir(root) {
        Ok(top) => top,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for first in top {
        let first = first?;
        if !is_fan_out_name(&first.file_name().to_string_lossy()) || !first.file_type()?.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(first.path())? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type()?;
            if kind.is_file() && is_blob_name(&name) {
                found.insert(name);
            } else if kind.is_dir() && is_fan_out_name(&name) {
                for legacy in std::fs::read_dir(entry.path())? {
                    let legacy = legacy?;
                    let name = legacy.file_name().to_string_lossy().into_owned();
                    if legacy.file_type()?.is_file() && is_blob_name(&name) {
                        found.insert(name);
                    }
                }
            }
        }
    }
    Ok(found.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(MediaType::Pdf));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nxxxx"), Some(MediaType::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(MediaType::Jpeg));
        assert_eq!(sniff(b"MZ\x90\x00"), None);
        assert_eq!(sniff(b"<html>"), None);
    }
}
