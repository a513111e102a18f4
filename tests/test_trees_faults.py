"""Tree copies under faults: SIGKILL mid-copy then resume, and bad input (a missing bucket,
refused credentials, unsafe keys, an unreadable file, a destination inside the source, a full
disk), each named, with nothing half-written at the destination."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke, json_stdout, show
from tree_data import files_of, make_app_ef_tree

_KILL_AFTER = """
import os, signal, sys
import mlmigrate.artifacts.phase as phase
from mlmigrate.cli import main

original, seen, after = phase.copy_object, [0], int(sys.argv[1])

def die_after(*args, **kwargs):
    outcome = original(*args, **kwargs)
    seen[0] += 1
    if seen[0] == after:
        os.kill(os.getpid(), signal.SIGKILL)
    return outcome

phase.copy_object = die_after
sys.argv = ["mlmigrate", *sys.argv[2:]]
main()
"""


def test_sigkill_mid_copy_resumes_to_a_verified_copy(tree_bucket: Any, tmp_path: Path) -> None:
    server, bucket = tree_bucket
    source = make_app_ef_tree(tmp_path / "data")
    state = ["--state-dir", str(tmp_path / "state")]
    args = ["copy", f"tree://{source}", f"tree+s3://{bucket}/data", *state, "--workers", "1", "-q"]

    killed = subprocess.run(
        [sys.executable, "-c", _KILL_AFTER, "10", *args], capture_output=True, text=True, timeout=120
    )

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    listed = server.client().list_objects_v2(Bucket=bucket, Prefix="data/").get("Contents", [])
    assert 10 <= len(listed) < len(files_of(source))
    resumed = invoke(*args[:-1], "--json")
    assert resumed.returncode == 0, show(resumed)
    report = json_stdout(resumed)
    assert report["resumed"] and report["verify"]["ok"]
    assert report["already_there"] >= 10 and report["copied"] + report["already_there"] == report["objects"]
    status = invoke("status", *state)
    assert report["migration_id"] in status.stdout and "done" in status.stdout, show(status)


def test_a_missing_bucket_is_named_and_nothing_is_written(tree_bucket: Any, tmp_path: Path) -> None:
    source = make_app_ef_tree(tmp_path / "data")
    failed = invoke(
        "copy", f"tree://{source}", "tree+s3://no-such-bucket-here/data", "--state-dir", str(tmp_path)
    )
    assert failed.returncode == 1, show(failed)
    assert "'no-such-bucket-here' does not exist" in failed.stderr, show(failed)
    back = invoke("copy", "tree+s3://no-such-bucket-here/data", f"tree://{tmp_path / 'out'}")
    assert back.returncode == 1 and "does not exist" in back.stderr, show(back)
    assert not (tmp_path / "out").exists()


def test_refused_credentials_are_named_with_the_secret_masked(
    azure_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(azure_server.connection_string).create_container("creds")
    wrong = azure_server.connection_string.replace(azure_server.key, "d3Jvbmcta2V5LWZvci10ZXN0cw==")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", wrong)
    source = make_app_ef_tree(tmp_path / "data")

    failed = invoke("copy", f"tree://{source}", "tree+az://creds/data", "--state-dir", str(tmp_path))

    assert failed.returncode == 1, show(failed)
    assert "credentials were refused" in failed.stderr, show(failed)
    assert "d3Jvbmcta2V5" not in failed.stderr


@pytest.mark.parametrize("key", ["data/../escape.txt", "data/a\x00b.txt", "data//abs.txt"])
def test_an_unsafe_source_key_is_refused_by_name_before_anything_is_written(
    tree_bucket: Any, tmp_path: Path, key: str
) -> None:
    server, bucket = tree_bucket
    client = server.client()
    client.put_object(Bucket=bucket, Key="data/fine.txt", Body=b"fine")
    client.put_object(Bucket=bucket, Key=key, Body=b"evil")

    refused = invoke("copy", f"tree+s3://{bucket}/data", f"tree://{tmp_path / 'out'}")

    assert refused.returncode == 2, show(refused)
    assert "safe relative key" in refused.stderr, show(refused)
    assert key.split("/", 1)[1].split("\x00")[0] in refused.stderr
    assert not (tmp_path / "out").exists()


def test_a_destination_inside_the_source_is_refused(tree_bucket: Any, tmp_path: Path) -> None:
    _, bucket = tree_bucket
    source = make_app_ef_tree(tmp_path / "data")
    local = invoke("copy", f"tree://{source}", f"tree://{source}/backup")
    assert local.returncode == 2 and "overlap" in local.stderr, show(local)
    remote = invoke("copy", f"tree+s3://{bucket}/data", f"tree+s3://{bucket}/data/again")
    assert remote.returncode == 2 and "overlap" in remote.stderr, show(remote)
    assert not (source / "backup").exists()


def test_an_unreadable_file_is_named_before_anything_is_written(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv, to run the copy as an unprivileged user")
    base = Path(f"/tmp/mlmigrate-unreadable-{uuid.uuid4().hex[:8]}")
    base.mkdir(mode=0o777)
    try:
        source = make_app_ef_tree(base / "data")
        for path in [base, *base.rglob("*")]:
            path.chmod(0o777 if path.is_dir() else 0o644)
        secret = next(source.glob("*/pipelines/default.json"))
        secret.chmod(0o000)
        env = {**os.environ, "MLMIGRATE_LOCK_DIR": str(base / "locks"), "HOME": str(base)}
        command = [
            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "mlmigrate",
            "copy", f"tree://{source}", f"tree://{base / 'out'}", "--state-dir", str(base / "state"),
        ]  # fmt: skip
        failed = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=base)
        assert failed.returncode == 1, failed.stderr
        assert f"cannot read {secret}" in failed.stderr and "Permission denied" in failed.stderr, (
            failed.stderr
        )
        assert not (base / "out").exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_full_disk_is_named_and_leaves_no_partial_object(tmp_path: Path, small_disk: Path) -> None:
    source = make_app_ef_tree(tmp_path / "data")
    (source / "zz-big.bin").write_bytes(os.urandom(1_500_000))  # more than the disk holds

    failed = invoke("copy", f"tree://{source}", f"tree://{small_disk / 'data'}", "--state-dir", str(tmp_path))

    assert failed.returncode == 1, show(failed)
    # the object named is the one that met the full disk: the big one, or a small one written
    # beside it (32 objects go at once)
    assert "No space left on device" in failed.stderr and "cannot write" in failed.stderr, show(failed)
    written = files_of(small_disk / "data")
    wanted = files_of(source)
    assert "zz-big.bin" not in written
    assert all(wanted[key] == data for key, data in written.items())  # every object whole, or absent


def test_a_restore_that_meets_a_full_disk_leaves_nothing(tmp_path: Path, small_disk: Path) -> None:
    source = make_app_ef_tree(tmp_path / "data")
    (source / "zz-big.bin").write_bytes(os.urandom(1_500_000))
    folder = tmp_path / "backup"
    assert invoke("backup", f"tree://{source}", str(folder)).returncode == 0

    failed = invoke("restore", str(folder), f"tree://{small_disk / 'data'}")

    assert failed.returncode == 1 and "No space left on device" in failed.stderr, show(failed)
    assert list(small_disk.iterdir()) == []  # the tree written aside was removed


def test_check_of_a_tree_copy_says_go_or_names_what_stops_it_and_repair_points_at_copy(
    tree_bucket: Any, tmp_path: Path
) -> None:
    """``check`` of two trees said the source "cannot be read from" (it knew MLflow stores only)."""
    server, bucket = tree_bucket
    source = make_app_ef_tree(tmp_path / "data")

    ready = invoke("check", f"tree://{source}", f"tree+s3://{bucket}/checked", "--json")

    assert ready.returncode == 0, show(ready)
    result = json_stdout(ready)
    assert result["go"] and result["estimate"]["objects_to_copy"] == len(files_of(source)), result
    written = server.client().list_objects_v2(Bucket=bucket, Prefix="checked/").get("Contents", [])
    assert written == []  # the write probe was removed again
    missing = invoke("check", f"tree://{source}", "tree+s3://no-such-bucket-here/data", "--json")
    assert missing.returncode == 1 and "'no-such-bucket-here' does not exist" in missing.stdout, show(missing)
    inside = invoke("check", f"tree://{source}", f"tree://{source}/copy", "--json")
    assert inside.returncode == 1 and "overlap" in inside.stdout, show(inside)
    mixed = invoke("check", f"tree://{source}", str(tmp_path / "mlruns"), "--json")
    assert mixed.returncode == 1 and "is not a tree URI" in mixed.stdout, show(mixed)
    repaired = invoke("repair", f"tree://{source}", f"tree+s3://{bucket}/checked")
    assert repaired.returncode == 2 and "copy again" in repaired.stderr, show(repaired)
