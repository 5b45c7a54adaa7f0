"""A local copy of each table's S3 objects, laid out as the engine reads them, kept in step with S3 before each query.

DuckDB cannot read S3 here (its httpfs extension downloads at run time), so every table a query reads is mirrored
into `<root>/<table directory>/<key>=<value>/…/<file>`. A sync downloads only objects whose ETag or size changed
since the last one (a manifest beside the files remembers them, also across restarts) and deletes the copies of
objects S3 no longer has, so the next query sees exactly what S3 holds.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from sandbox.athena.catalog import RemoteObject

logger = logging.getLogger(__name__)

MANIFEST = ".mirror.json"  # a dot name: the engine never reads it as data
_PARTIAL_SUFFIX = ".part"
_CHUNK = 1024 * 1024
_GONE = frozenset({"NoSuchKey", "404", "NotFound"})


@dataclass(frozen=True)
class SyncReport:
    """What one sync did to a table's mirror."""

    kept: int
    downloaded: int
    removed: int


class LakeMirror:
    """Per-table mirrors of S3 objects under one root directory (the engine's lake root)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def sync(self, s3: Any, directory: str, objects: Sequence[RemoteObject]) -> SyncReport:
        """Make `<root>/<directory>` hold exactly these objects (not thread-safe: callers serialise syncs)."""
        table_dir = self.root / directory
        table_dir.mkdir(parents=True, exist_ok=True)
        manifest_path = table_dir / MANIFEST
        previous = _read_manifest(manifest_path)
        wanted: dict[str, dict[str, Any]] = {}
        kept = downloaded = 0
        for item in objects:
            target = table_dir / item.local_path
            entry = {"bucket": item.bucket, "key": item.key, "etag": item.etag, "size": item.size}
            if previous.get(item.local_path) == entry and target.is_file() and target.stat().st_size == item.size:
                kept += 1
            elif not _download(s3, item, target):
                continue  # deleted since it was listed: not part of the table any more
            else:
                downloaded += 1
            wanted[item.local_path] = entry
        removed = _remove_others(table_dir, set(wanted))
        _write_manifest(manifest_path, wanted)
        if downloaded or removed:
            logger.info("mirror %s: %d kept, %d downloaded, %d removed", directory, kept, downloaded, removed)
        return SyncReport(kept, downloaded, removed)


def _read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _write_manifest(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    partial = path.with_name(path.name + _PARTIAL_SUFFIX)
    partial.write_text(json.dumps(entries, sort_keys=True), encoding="utf-8")
    partial.replace(path)


def _download(s3: Any, item: RemoteObject, target: Path) -> bool:
    """Copy one object to its mirror path (atomically); False if S3 no longer has it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name("." + target.name + _PARTIAL_SUFFIX)
    try:
        response = s3.get_object(Bucket=item.bucket, Key=item.key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _GONE:
            return False
        raise
    with partial.open("wb") as out:
        shutil.copyfileobj(response["Body"], out, _CHUNK)
    partial.replace(target)
    return True


def _remove_others(table_dir: Path, wanted: set[str]) -> int:
    """Delete every file but the wanted ones and the manifest, then the directories left empty."""
    removed = 0
    for path in sorted(table_dir.rglob("*"), reverse=True):  # children before their directories
        relative = path.relative_to(table_dir).as_posix()
        if path.is_dir():
            if not any(path.iterdir()):
                path.rmdir()
        elif relative != MANIFEST and relative not in wanted:
            path.unlink()
            removed += 1
    return removed
