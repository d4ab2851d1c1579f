-- A dossier's attachment totals (tổng dung lượng và số tệp đính kèm), kept on its row by the
-- writer of `dossier_files` (`dossier::write_links`) so that an upload checks the limits with
-- the one statement that locks the dossier instead of summing its files. Filled here for the
-- dossiers that already have files.
ALTER TABLE dossiers ADD COLUMN files_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dossiers ADD COLUMN files_count BIGINT NOT NULL DEFAULT 0;
UPDATE dossiers
SET files_bytes = (SELECT COALESCE(SUM(f.size), 0) FROM dossier_files f WHERE f.dossier_code = dossiers.code),
    files_count = (SELECT COUNT(*) FROM dossier_files f WHERE f.dossier_code = dossiers.code)
WHERE EXISTS (SELECT 1 FROM dossier_files f WHERE f.dossier_code = dossiers.code);
