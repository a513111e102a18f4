"""The verifier reads a registry back on a thread of the copy's own process, from the store
object the writer writes through (the registry family never reads back in a helper process).
A read that came while a model was being written once filled the store's cache with the file
as it was before that write, and the cache was kept after it: the model just written then read
back with no rows (the flaky ``verify`` mismatch of ``test_rollback_then_conflicts[registry]``:
2 of 3 models held). A second process that reads as the first writes is covered too."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pyarrow as pa
from registry_fixtures import clean_registry

from mlmigrate.stores import open_store
from mlmigrate.stores.base import Unit
from mlmigrate.stores.registry.json_store import sidecar_path
from mlmigrate.stores.registry.layout import VERSIONS
from mlmigrate.stores.registry.store import MODEL, RegistryStore

MODELS = 40


def _rows(store: RegistryStore, name: str) -> int:
    return sum(batch.num_rows for _, batch in store.read_unit(Unit(MODEL, name, name)))


def test_a_read_beside_each_write_never_keeps_the_file_from_before_it(tmp_path: Path) -> None:
    root = tmp_path / "models"
    clean_registry(root, models=MODELS, versions=1)
    source = open_store(str(root / "registry.json"))
    destination = open_store(str(tmp_path / "out" / "registry.json"))
    assert isinstance(source, RegistryStore) and isinstance(destination, RegistryStore)
    destination.prepare()
    units = source.units()
    destination.write_unit(units[0], units[0].source_id, source.read_unit(units[0]))
    stop = threading.Event()

    def read_back_while_writing() -> None:  # as BackgroundVerifier's thread does
        while not stop.is_set():
            _rows(destination, units[0].source_id)

    reader = threading.Thread(target=read_back_while_writing)
    reader.start()
    missing = []
    try:
        for unit in units[1:]:
            destination.write_unit(unit, unit.source_id, source.read_unit(unit))
            if _rows(destination, unit.source_id) == 0:
                missing.append(unit.source_id)
    finally:
        stop.set()
        reader.join()
    assert missing == [], f"{len(missing)} of {MODELS - 1} models read back empty just after their write"


def _with_description(rows: list, text: str) -> list:
    return [
        (
            table,
            batch.set_column(
                batch.schema.get_field_index("description"), "description", pa.array([text] * batch.num_rows)
            ),
        )
        if table == VERSIONS
        else (table, batch)
        for table, batch in rows
    ]


def _description(store: RegistryStore, name: str) -> str:
    rows = dict(store.read_unit(Unit(MODEL, name, name)))
    return str(rows[VERSIONS].column("description")[0])


def test_another_process_reading_committed_sees_every_write_however_fast(tmp_path: Path) -> None:
    """A second process that reads as the first writes (``read_committed``): files replaced
    within one tick of a coarse clock, at the same size, on a reused inode, are still seen as
    rewritten (the clock's tick is played by setting the old times back)."""
    root = tmp_path / "models"
    clean_registry(root, models=2, versions=1)
    path = root / "registry.json"
    reader, writer = open_store(str(path)), open_store(str(path))
    assert isinstance(reader, RegistryStore) and isinstance(writer, RegistryStore)
    reader.read_committed()
    second = reader.units()[1]
    kept = list(writer.read_unit(second))
    files = (path, sidecar_path(path))
    writer.write_unit(second, second.source_id, iter(_with_description(kept, "text-00")))
    reused = 0
    for turn in range(1, 11):
        assert _description(reader, second.source_id) == f"text-{turn - 1:02}"
        before = [(p.stat().st_ino, p.stat().st_atime_ns, p.stat().st_mtime_ns) for p in files]
        for between in ("-", "+"):  # three writes: each file is back on the inode it had (ext4)
            writer.write_unit(second, second.source_id, iter(_with_description(kept, between)))
        writer.write_unit(second, second.source_id, iter(_with_description(kept, f"text-{turn:02}")))
        for file, (_, atime, mtime) in zip(files, before, strict=True):
            os.utime(file, ns=(atime, mtime))
        reused += all(p.stat().st_ino == inode for p, (inode, _, _) in zip(files, before, strict=True))
        assert _description(reader, second.source_id) == f"text-{turn:02}", f"inodes reused {reused} times"
