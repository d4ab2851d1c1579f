#!/usr/bin/env python3
"""Which tables and indexes a SQLite workload writes to the write-ahead log, for the benchmarks.

Usage: wal_frames.py 'DB_GLOB' [SNAPSHOT_AFTER_S]

Follows the `-wal` file of the first database matching DB_GLOB (e.g. '/tmp/wb/*/tinhso.db',
waits for it to appear) while another process writes it, and counts the log's frames (one
page written by a commit) per page number, across the log's restarts (a new salt in its
header): the tail of a generation is read before the new one overwrites it, so only frames
overwritten within one poll (5 ms) are missed. When the log has been gone for 3 s (the
writer closed the database) it maps page numbers to tables and indexes with SQLite's `dbstat`
(the `sqlite3` command-line tool) and prints frames per b-tree. A throw-away database is often
deleted at the end: SNAPSHOT_AFTER_S copies it that many seconds after the log appeared, and
the map is read from that copy (pages allocated later show as `?`).

Standard library only; `sqlite3` on the PATH (Debian: package sqlite3). docs/benchmarks.md,
twentieth round, has its use.
"""
import collections
import glob
import shutil
import struct
import subprocess
import sys
import tempfile
import time


def main():
    pattern = sys.argv[1]
    snapshot_after = float(sys.argv[2]) if len(sys.argv) > 2 else None
    while not glob.glob(pattern + "-wal"):
        time.sleep(0.01)
    wal = glob.glob(pattern + "-wal")[0]
    db = wal[: -len("-wal")]
    print("following", wal, flush=True)
    snapshot = None
    snap_at = time.time() + snapshot_after if snapshot_after is not None else None
    pages = collections.Counter()
    frames = commits = 0
    page_size = 4096
    generation, next_frame, last_seen = None, 0, None

    def read_generation(f, salt, start):
        nonlocal frames, commits
        i = start
        while True:
            f.seek(32 + i * (24 + page_size))
            header = f.read(24)
            if len(header) < 24:
                return i
            page, db_size, s1, s2, _, _ = struct.unpack(">IIIIII", header)
            if (s1, s2) != salt or page == 0:
                return i
            pages[page] += 1
            frames += 1
            commits += 1 if db_size else 0
            i += 1

    while True:
        try:
            with open(wal, "rb") as f:
                header = f.read(32)
                if len(header) < 32:
                    raise FileNotFoundError
                _, _, size, _, s1, s2, _, _ = struct.unpack(">IIIIIIII", header)
                if size == 0:
                    raise FileNotFoundError
                page_size, last_seen = size, time.time()
                if generation is not None and generation != (s1, s2):
                    read_generation(f, generation, next_frame)
                    next_frame = 0
                generation = (s1, s2)
                next_frame = read_generation(f, generation, next_frame)
        except FileNotFoundError:
            if last_seen and time.time() - last_seen > 3:
                break
        if snap_at is not None and time.time() > snap_at:
            snap_at = None
            snapshot = tempfile.mkdtemp() + "/copy.db"
            shutil.copy(db, snapshot)
        time.sleep(0.005)

    source = snapshot or db
    rows = subprocess.run(
        ["sqlite3", source, "SELECT pageno, name FROM dbstat"],
        capture_output=True, text=True, check=True,
    ).stdout
    name = {}
    for line in rows.splitlines():
        page, tree = line.split("|", 1)
        name[int(page)] = tree
    by_tree = collections.Counter()
    for page, n in pages.items():
        by_tree[name.get(page, "?")] += n
    print(f"frames {frames}, commits {commits}, frames per commit {frames / max(1, commits):.1f}")
    for tree, n in by_tree.most_common(40):
        print(f"{n:9d} {100 * n / max(1, frames):5.1f} %  {tree}")


if __name__ == "__main__":
    main()
