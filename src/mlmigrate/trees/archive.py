"""``backup`` of a tree into a folder (``data.tar.gz``, named extra files such as ``.env``, and
``manifest.json`` with every object's key, size and SHA-256 and a digest of the manifest
itself), and ``restore``, which checks every digest before it writes anything.

Like the app_ef guide's ``backup.sh``: the archive holds the tree under its folder's name
(``data/…``), so ``tar -xzf data.tar.gz`` works without mlmigrate; the manifest's ``app``
part holds the guide's ``manifest.txt`` fields (environment and storage backend read from a
``.env`` given with ``--with``).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlmigrate.artifacts.backends import SMALL, Backends, Endpoints
from mlmigrate.artifacts.locations import UnsafeKeyError, safe_key
from mlmigrate.events import Event, Listener, ignore
from mlmigrate.exceptions import SourceFormatError, StoreError, UsageError
from mlmigrate.trees.pair import open_tree, probe, source_listing
from mlmigrate.trees.report import TreeReport
from mlmigrate.uris import mask

FORMAT = "mlmigrate-tree-backup"
MANIFEST = "manifest.json"
ARCHIVE = "data.tar.gz"
WITH_FOLDER = "with"


class _Stream(io.RawIOBase):
    """A stream of chunks as a file for :mod:`tarfile`, hashed and counted on the way."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._left = b""
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._left = bytes(chunk)
            self.digest.update(self._left)
            self.size += len(self._left)
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        return count


def _digest(document: dict[str, Any]) -> str:
    body = {key: value for key, value in document.items() if key != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return path.stat().st_size, digest.hexdigest()


def _app_fields(extra: list[Path]) -> dict[str, str | None]:
    """The guide's ``manifest.txt`` fields, from a ``.env`` among the extra files."""
    fields: dict[str, str | None] = {"environment": None, "storage_backend": None, "local_storage_path": None}
    for path in extra:
        if not path.name.endswith(".env") and path.name != ".env":
            continue
        from dotenv import dotenv_values

        values = {key.upper(): value for key, value in dotenv_values(path).items()}
        fields["environment"] = fields["environment"] or values.get("ENVIRONMENT")
        fields["storage_backend"] = fields["storage_backend"] or values.get("STORAGE_BACKEND")
        fields["local_storage_path"] = fields["local_storage_path"] or values.get("LOCAL_STORAGE_PATH")
    return fields


def _new_folder(folder: Path) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"the backup folder {folder} exists and is not empty; name a new one")
    folder.mkdir(parents=True, exist_ok=True)


def backup_tree(
    source_uri: str,
    folder: Path,
    *,
    with_files: Iterable[Path] = (),
    s3_endpoint: str | None = None,
    listener: Listener = ignore,
) -> dict[str, Any]:
    """Back up the tree ``source_uri`` into the new ``folder``; ``with_files`` (``.env``, say) are
    kept beside the archive. The manifest is written last: a folder without it is no backup."""
    from mlmigrate import __version__

    extra = [Path(path) for path in with_files]
    for path in extra:
        if not path.is_file():
            raise UsageError(f"--with {path}: no such file")
    names = [path.name for path in extra]
    if len(set(names)) != len(names):
        raise UsageError(f"--with names two files of one name: {', '.join(names)}")
    tree = open_tree(source_uri, Backends(Endpoints(s3_endpoint)))
    probe(tree, role="source")
    listing = source_listing(tree)
    _new_folder(folder)
    started = time.perf_counter()
    root_name = tree.location.prefix.rsplit("/", 1)[-1] or "data"
    objects = []
    partial = folder / (ARCHIVE + ".partial")
    with tarfile.open(partial, "w:gz", compresslevel=6) as archive:
        for key in sorted(listing):
            info = tarfile.TarInfo(f"{root_name}/{key}")
            info.size, info.mtime, info.mode = listing[key].size, int(time.time()), 0o644
            stream = _Stream(tree.backend.read(tree.location.key(key)))
            archive.addfile(info, stream)  # type: ignore[arg-type]
            if stream.size != info.size:
                raise StoreError(
                    f"{key} changed while it was backed up: {info.size} bytes listed, {stream.size} read"
                )
            objects.append({"key": key, "size": info.size, "sha256": stream.digest.hexdigest()})
            listener(Event("artifact_bytes", {"bytes": info.size, "objects": 1}))
    os.replace(partial, folder / ARCHIVE)
    kept = []
    if extra:
        (folder / WITH_FOLDER).mkdir(exist_ok=True)
    for path in extra:
        shutil.copyfile(path, folder / WITH_FOLDER / path.name)
        size, digest = _file_digest(folder / WITH_FOLDER / path.name)
        kept.append({"name": path.name, "path": str(path.resolve()), "size": size, "sha256": digest})
    archive_size, archive_digest = _file_digest(folder / ARCHIVE)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": 1,
        "created": created,
        "tool": "mlmigrate",
        "tool_version": __version__,
        "source": mask(tree.uri),
        "archive": {"file": ARCHIVE, "root": root_name, "size": archive_size, "sha256": archive_digest},
        "objects": objects,
        "object_count": len(objects),
        "bytes": sum(entry["size"] for entry in objects),
        "with": kept,
        "app": {"backup_created": created, **_app_fields(extra)},
    }
    manifest["manifest_sha256"] = _digest(manifest)
    temporary = folder / (MANIFEST + ".partial")
    temporary.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, folder / MANIFEST)
    return {
        "command": "backup",
        "kind": "tree",
        "status": "done",
        "source": mask(tree.uri),
        "folder": str(folder),
        "objects": len(objects),
        "bytes": manifest["bytes"],
        "archive_bytes": archive_size,
        "with": [entry["name"] for entry in kept],
        "seconds": round(time.perf_counter() - started, 3),
    }


def is_tree_backup(folder: Path) -> bool:
    """Whether ``folder`` holds a tree backup's manifest (not an MLflow backup's)."""
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


@dataclass
class _Checked:
    manifest: dict[str, Any]
    sizes: dict[str, int]


def check_backup(folder: Path) -> _Checked:
    """Check the manifest's own digest, the archive's, every extra file's and every object's
    (read from the archive) against the manifest; a damaged or edited file is refused by name."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceFormatError(
            f"{folder / MANIFEST} cannot be read as a tree backup manifest: {exc}"
        ) from exc
    if manifest.get("format") != FORMAT:
        raise SourceFormatError(f"{folder / MANIFEST} is not a tree backup's manifest")
    if manifest.get("manifest_sha256") != _digest(manifest):
        raise SourceFormatError(f"{folder / MANIFEST} was edited or damaged: its digest does not match")
    archive = folder / manifest["archive"]["file"]
    if not archive.is_file():
        raise SourceFormatError(f"{archive} is missing")
    size, digest = _file_digest(archive)
    if (size, digest) != (manifest["archive"]["size"], manifest["archive"]["sha256"]):
        raise SourceFormatError(f"{archive} is damaged: its size or SHA-256 differs from the manifest's")
    for entry in manifest["with"]:
        path = folder / WITH_FOLDER / entry["name"]
        if not path.is_file() or _file_digest(path) != (entry["size"], entry["sha256"]):
            raise SourceFormatError(f"{path} is missing or damaged: its SHA-256 differs from the manifest's")
    expected = {entry["key"]: entry for entry in manifest["objects"]}
    seen: dict[str, int] = {}
    for key, handle, member in _members(archive, manifest["archive"]["root"]):
        entry = expected.get(key)
        if entry is None:
            raise SourceFormatError(f"{archive}: {member.name} is not in the manifest")
        stream = _Stream(iter(functools.partial(handle.read, 1 << 20), b""))
        while stream.read(1 << 20):
            pass
        if (stream.size, stream.digest.hexdigest()) != (entry["size"], entry["sha256"]):
            raise SourceFormatError(f"{archive}: {key} is damaged: its SHA-256 differs from the manifest's")
        seen[key] = stream.size
    missing = sorted(set(expected) - set(seen))
    if missing:
        raise SourceFormatError(
            f"{archive} lacks {len(missing)} object(s) of the manifest: {', '.join(missing[:5])}"
        )
    return _Checked(manifest, seen)


def _members(archive: Path, root: str) -> Iterator[tuple[str, IO[bytes], tarfile.TarInfo]]:
    """``(key, file, member)`` of every file in the archive, keys checked safe."""
    with tarfile.open(archive, "r:gz") as opened:
        for member in opened:
            if not member.isfile():
                continue
            name = member.name
            if not name.startswith(root + "/"):
                raise SourceFormatError(f"{archive}: {name} is outside the archive's root {root}/")
            try:
                key = safe_key(name[len(root) + 1 :])
            except UnsafeKeyError as exc:
                raise SourceFormatError(f"{archive}: {exc}") from exc
            handle = opened.extractfile(member)
            assert handle is not None
            yield key, handle, member


def _extras_wanted(folder: Path, manifest: dict[str, Any], with_files: Iterable[Path]) -> dict[Path, Path]:
    """Where each ``--with`` file of a restore goes (the path given) -> the backup's copy of the
    file of that name; a name the backup does not hold is refused before anything is written."""
    kept = {entry["name"]: folder / WITH_FOLDER / entry["name"] for entry in manifest["with"]}
    wanted: dict[Path, Path] = {}
    for path in with_files:
        if path.name not in kept:
            held = ", ".join(sorted(kept)) or "none"
            raise UsageError(
                f"--with {path}: the backup holds no file named {path.name!r} (it holds: {held})"
            )
        if path.is_dir():
            raise UsageError(
                f"--with {path}: a folder; name the file to put back (such as {path / path.name})"
            )
        wanted[path] = kept[path.name]
    return wanted


def _put_back(wanted: dict[Path, Path], report: TreeReport) -> None:
    """Write each backed-up extra file to its place, replacing what is there in one rename."""
    for path, backed_up in wanted.items():
        staging = path.with_name(f".{path.name}.restoring-{os.getpid()}")
        shutil.copyfile(backed_up, staging)
        existed = path.exists()
        os.replace(staging, path)
        report.notes.append(
            f"{path.name} put back at {path}" + (" (replacing the file there)" if existed else "")
        )


def restore_tree(
    folder: Path,
    destination_uri: str,
    *,
    with_files: Iterable[Path] = (),
    s3_endpoint: str | None = None,
    listener: Listener = ignore,
) -> TreeReport:
    """Check the whole backup, then write its tree into the empty (or new) ``destination_uri``,
    and each of ``with_files`` (``.env``, say) from the backup's file of that name. A folder is
    written aside and renamed into place; in a bucket, what was written is removed again if
    the restore fails."""
    started = time.perf_counter()
    checked = check_backup(folder)
    manifest = checked.manifest
    wanted = _extras_wanted(folder, manifest, with_files)
    tree = open_tree(destination_uri, Backends(Endpoints(s3_endpoint)))
    probe(tree, role="destination")
    local = tree.location.service == "file"
    if _nonempty_folder(tree.location.prefix) if local else not tree.is_empty():
        raise UsageError(f"{mask(tree.uri)} is not empty; restore writes only into an empty or new tree")
    report = TreeReport("restore", str(folder), tree.uri)
    target = tree
    aside: Path | None = None
    if tree.location.service == "file":
        final = Path("/" + tree.location.prefix)
        aside = final.with_name(f".{final.name}.restoring-{os.getpid()}")
        shutil.rmtree(aside, ignore_errors=True)
        target = open_tree(f"tree://{aside}", tree.backends)
    written: list[str] = []
    try:
        archive = folder / manifest["archive"]["file"]
        for key, handle, member in _members(archive, manifest["archive"]["root"]):
            full = target.location.key(key)
            chunks = iter(functools.partial(handle.read, 8 << 20), b"")
            written.append(full)
            target.backend.write(full, chunks, small=member.size <= SMALL)
            report.copied += 1
            report.bytes_copied += member.size
            listener(Event("artifact_bytes", {"bytes": member.size, "objects": 1}))
        if aside is not None:
            aside.mkdir(parents=True, exist_ok=True)
            final = Path("/" + tree.location.prefix)
            if final.exists():
                final.rmdir()
            os.replace(aside, final)
    except BaseException:
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        else:
            for full in written:
                tree.backend.delete(full)
        raise
    report.objects, report.bytes = len(checked.sizes), sum(checked.sizes.values())
    report.status = "done"
    report.seconds = time.perf_counter() - started
    report.notes.append(f"every digest checked against {folder / MANIFEST} before writing")
    _put_back(wanted, report)
    put_back = {path.name for path in wanted}
    for entry in manifest["with"]:
        if entry["name"] in put_back:
            continue
        report.notes.append(
            f"{entry['name']} (from {entry['path']}) is kept in {folder / WITH_FOLDER / entry['name']}; "
            "put it back with restore --with PATH, or by hand"
        )
    return report


def _nonempty_folder(prefix: str) -> bool:
    path = Path("/" + prefix)
    return path.exists() and (not path.is_dir() or any(path.iterdir()))
