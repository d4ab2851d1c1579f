-- Small attachments kept in the database (tệp nhỏ lưu trong cơ sở dữ liệu): the bytes of an
-- attachment no larger than the file store's inline limit (`[services] inline_file_max_kib`,
-- 64 KiB by default) are written on its `dossier_files` row, in the transaction that records
-- the dossier, instead of as one file each in the file store; larger ones stay in the file
-- store (`content` NULL, registered in `files` as before). Snapshots of the database (SQLite
-- `VACUUM INTO`, `pg_dump`) therefore carry the small attachments themselves.
ALTER TABLE dossier_files ADD COLUMN content {blob};
