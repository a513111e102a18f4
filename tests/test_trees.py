"""Tree copies between local disk, S3 (moto), GCS (gcp-storage-emulator) and Azure (Azurite):
copy, verify, re-run, --delete-extra, rollback, app_ef checks, backup and restore."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import invoke, json_stdout, show
from tree_data import ORPHAN, PROJECTS, files_of, make_app_ef_tree

from mlmigrate.stores.kinds import canonical, kind_of


@pytest.fixture(scope="session")
def app_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app_ef data/ tree, with a 9 MiB file (multipart across services); read-only."""
    return make_app_ef_tree(tmp_path_factory.mktemp("app") / "data", big=9 * 1024 * 1024 + 5)


def _s3_objects(server: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    client = server.client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[item["Key"][len(prefix) + 1 :]] = body
    return found


def _state(tmp_path: Path) -> list[str]:
    return ["--state-dir", str(tmp_path / "state")]


def test_tree_uris_are_their_own_kind_and_a_plain_folder_stays_mlflow(tmp_path: Path) -> None:
    assert kind_of("tree:///data").name == "tree"
    assert kind_of("tree+s3://bucket/data").name == "tree"
    assert kind_of(str(tmp_path)).name == "filestore"  # a plain folder is never a tree
    assert canonical("tree+s3://b/data/") != canonical("tree+gs://b/data")
    assert canonical("tree://./x") == f"tree+file://{Path.cwd() / 'x'}"
    listed = invoke("stores")
    assert "tree+s3://bucket/prefix" in listed.stdout, show(listed)
    helped = invoke("copy", "--help")
    assert "tree+gs://bucket/prefix" in helped.stdout.replace("\n", "").replace(" ", ""), show(helped)
    plain = invoke("copy", str(tmp_path), f"tree://{tmp_path}-copy")
    assert plain.returncode == 2 and "is not a tree URI" in plain.stderr, show(plain)
    mlflow_side = invoke("plan", str(tmp_path))
    assert f"write tree://{tmp_path}" in mlflow_side.stderr.replace("\n", ""), show(mlflow_side)
    ignored = invoke("copy", "tree:///a", "tree:///b", "--on-conflict", "merge", "--report", "r.html")
    assert (
        ignored.returncode == 2 and "--on-conflict, --report: not an option of tree copies" in ignored.stderr
    )
    refused = invoke("copy", "tree:///nowhere-such", str(tmp_path / "mlruns"))
    assert refused.returncode == 2 and "is not a tree URI" in refused.stderr, show(refused)


def test_local_to_s3_to_gcs_streams_without_staging_and_verifies(
    app_tree: Path, tree_bucket: Any, gcs_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, bucket = tree_bucket
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server)
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    gcs = storage.Client(credentials=AnonymousCredentials(), project="test")
    gcs.create_bucket(bucket)
    staging = tmp_path / "tmp"
    staging.mkdir()
    monkeypatch.setenv("TMPDIR", str(staging))
    wanted = files_of(app_tree)

    up = invoke("copy", f"tree://{app_tree}", f"tree+s3://{bucket}/data", *_state(tmp_path), "--json")
    assert up.returncode == 0, show(up)
    assert json_stdout(up)["copied"] == len(wanted) and json_stdout(up)["verify"]["ok"]
    assert _s3_objects(server, bucket, "data") == wanted

    across = invoke(
        "copy", f"tree+s3://{bucket}/data", f"tree+gs://{bucket}/data", *_state(tmp_path), "--json"
    )
    assert across.returncode == 0, show(across)
    report = json_stdout(across)
    assert (report["copied"], report["server_side"]) == (len(wanted), 0)
    held = {blob.name[5:]: blob.download_as_bytes() for blob in gcs.list_blobs(bucket, prefix="data/")}
    assert held == wanted
    assert list(staging.iterdir()) == []  # nothing staged on local disk
    checked = invoke("verify", f"tree+s3://{bucket}/data", f"tree+gs://{bucket}/data")
    assert checked.returncode == 0, show(checked)
    direct = invoke("copy", f"tree://{app_tree}", f"tree+gs://{bucket}/direct", *_state(tmp_path), "--json")
    assert direct.returncode == 0 and json_stdout(direct)["verify"]["ok"], show(direct)
    assert {b.name[7:]: b.download_as_bytes() for b in gcs.list_blobs(bucket, prefix="direct/")} == wanted


def test_within_one_bucket_the_copy_is_server_side_and_azure_round_trips(
    app_tree: Path, tree_bucket: Any, azure_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, bucket = tree_bucket
    wanted = files_of(app_tree)
    assert invoke("copy", f"tree://{app_tree}", f"tree+s3://{bucket}/data", *_state(tmp_path)).returncode == 0
    inside = mlmigrate_copy(f"tree+s3://{bucket}/data", f"tree+s3://{bucket}/copy", tmp_path)
    assert inside["server_side"] == len(wanted) and inside["verify"]["ok"]
    assert _s3_objects(server, bucket, "copy") == wanted

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azure_server.connection_string)
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(azure_server.connection_string).create_container(bucket)
    to_azure = mlmigrate_copy(f"tree+s3://{bucket}/copy", f"tree+az://{bucket}/data", tmp_path)
    assert to_azure["copied"] == len(wanted) and to_azure["verify"]["ok"]
    back = tmp_path / "back"
    home = mlmigrate_copy(
        f"tree+wasbs://{bucket}@{azure_server.account}.blob.core.windows.net/data", f"tree://{back}", tmp_path
    )
    assert home["verify"]["ok"] and files_of(back) == wanted


def mlmigrate_copy(source: str, destination: str, tmp_path: Path, *extra: str) -> dict[str, Any]:
    """``mlmigrate copy --json`` of two trees, its report (asserting exit 0)."""
    ran = invoke("copy", source, destination, *_state(tmp_path), "--json", *extra)
    assert ran.returncode == 0, show(ran)
    return dict(json_stdout(ran))


def test_a_rerun_copies_only_what_changed_and_extra_objects_stay_unless_asked(
    app_tree: Path, tree_bucket: Any, tmp_path: Path
) -> None:
    server, bucket = tree_bucket
    source = tmp_path / "data"
    make_app_ef_tree(source)
    first = mlmigrate_copy(f"tree://{source}", f"tree+s3://{bucket}/data", tmp_path)
    total = first["objects"]

    pipeline = source / PROJECTS[2] / "pipelines" / "default.json"
    pipeline.write_bytes(pipeline.read_bytes().replace(b"lines", b"LINES"))  # same size, other bytes
    (source / PROJECTS[2] / "sources" / "new.meta.json").write_text("{}")
    server.client().put_object(Bucket=bucket, Key="data/only-at-destination.txt", Body=b"theirs")

    again = mlmigrate_copy(f"tree://{source}", f"tree+s3://{bucket}/data", tmp_path)
    assert (again["copied"], again["already_there"]) == (2, total - 1), again
    assert again["extra_at_destination"] == 1 and again["verify"]["ok"]
    assert "only-at-destination.txt" in _s3_objects(server, bucket, "data")

    alone = invoke("plan", f"tree://{source}", "--app-ef")
    assert alone.returncode == 0 and f"{total + 1} objects" in alone.stdout, show(alone)
    assert "4 project(s), 3 metadata.json parsed" in alone.stdout
    plan = invoke("plan", f"tree://{source}", f"tree+s3://{bucket}/data", "--json")
    assert json_stdout(plan)["extra_keys"] == ["only-at-destination.txt"], show(plan)
    synced = mlmigrate_copy(f"tree://{source}", f"tree+s3://{bucket}/data", tmp_path, "--delete-extra")
    assert synced["deleted_extra"] == ["only-at-destination.txt"] and synced["copied"] == 0
    assert _s3_objects(server, bucket, "data") == files_of(source)


def test_verify_names_each_missing_extra_and_different_object(
    app_tree: Path, tree_bucket: Any, tmp_path: Path
) -> None:
    server, bucket = tree_bucket
    mlmigrate_copy(f"tree://{app_tree}", f"tree+s3://{bucket}/data", tmp_path)
    client = server.client()
    corrupted = f"{PROJECTS[0]}/metadata.json"
    body = client.get_object(Bucket=bucket, Key=f"data/{corrupted}")["Body"].read()
    client.put_object(Bucket=bucket, Key=f"data/{corrupted}", Body=body.replace(b"memory", b"MEMORY"))
    client.delete_object(Bucket=bucket, Key="data/README.txt")
    client.put_object(Bucket=bucket, Key="data/stray.bin", Body=b"x")

    found = invoke("verify", f"tree://{app_tree}", f"tree+s3://{bucket}/data", "--json")

    assert found.returncode == 3, show(found)
    report = json_stdout(found)
    assert [(d["key"], d["kind"]) for d in report["differences"]] == [
        (corrupted, "different"),
        ("README.txt", "missing"),
        ("stray.bin", "extra"),
    ]
    assert "sha256" in report["differences"][0]["problem"]  # same size: caught by the hash, not an ETag


def test_rollback_removes_exactly_what_the_copy_wrote(
    app_tree: Path, tree_bucket: Any, tmp_path: Path
) -> None:
    server, bucket = tree_bucket
    client = server.client()
    client.put_object(Bucket=bucket, Key="data/README.txt", Body=(app_tree / "README.txt").read_bytes())
    client.put_object(Bucket=bucket, Key="data/before.txt", Body=b"there before")
    report = mlmigrate_copy(f"tree://{app_tree}", f"tree+s3://{bucket}/data", tmp_path)
    assert report["already_there"] == 1

    undone = invoke("rollback", "--last", f"tree+s3://{bucket}/data", *_state(tmp_path), "--json")

    assert undone.returncode == 0, show(undone)
    assert json_stdout(undone)["removed"] == len(files_of(app_tree)) - 1
    assert _s3_objects(server, bucket, "data") == {
        "README.txt": (app_tree / "README.txt").read_bytes(),
        "before.txt": b"there before",
    }
    again = mlmigrate_copy(f"tree://{app_tree}", f"tree+s3://{bucket}/data", tmp_path)
    assert not again["resumed"] and again["copied"] == len(files_of(app_tree)) - 1  # a new copy, whole


def test_rollback_refuses_when_an_object_it_wrote_changed_since(
    app_tree: Path, tree_bucket: Any, tmp_path: Path
) -> None:
    server, bucket = tree_bucket
    report = mlmigrate_copy(f"tree://{app_tree}", f"tree+s3://{bucket}/data", tmp_path)
    server.client().put_object(Bucket=bucket, Key="data/README.txt", Body=b"edited after the copy")

    refused = invoke("rollback", report["migration_id"], *_state(tmp_path))

    assert refused.returncode == 1 and "README.txt" in refused.stderr, show(refused)
    assert len(_s3_objects(server, bucket, "data")) == report["objects"]  # nothing removed


def test_app_ef_checks_and_project_path_rewrite(app_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = mlmigrate_copy(
        f"tree://{app_tree}",
        f"tree://{out}",
        tmp_path,
        "--app-ef",
        "--project-path",
        "rewrite",
        "--project-root",
        "/app/data",
    )
    app = report["app_ef"]
    assert (app["projects"], app["metadata_ok"], app["rewritten"]) == (4, 3, 3)
    assert app["projects_without_metadata"] == [ORPHAN]
    assert "rewritten to /app/data/<project id>" in app["project_path_note"]
    assert (out / ORPHAN / "sources" / "left.meta.json").is_file()  # reported, not dropped
    for project in PROJECTS:
        metadata = json.loads((out / project / "metadata.json").read_text())
        original = json.loads((app_tree / project / "metadata.json").read_text())
        assert metadata == {**original, "project_path": f"/app/data/{project}"}
    plain = invoke("verify", f"tree://{app_tree}", f"tree://{out}", "--json")
    assert plain.returncode == 3 and json_stdout(plain)["different"] == 3, show(plain)
    checked = invoke(
        "verify", f"tree://{app_tree}", f"tree://{out}", "--app-ef", "--project-path", "rewrite",
        "--project-root", "/app/data",
    )  # fmt: skip
    assert checked.returncode == 0, show(checked)
    kept = mlmigrate_copy(f"tree://{app_tree}", f"tree://{tmp_path / 'kept'}", tmp_path, "--app-ef")
    assert kept["app_ef"]["project_path_note"].startswith("project_path kept")
    assert files_of(tmp_path / "kept") == files_of(app_tree)


def test_backup_then_restore_gives_a_byte_identical_tree(app_tree: Path, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("STORAGE_BACKEND=filesystem\nENVIRONMENT=production\nLOCAL_STORAGE_PATH=../data\n")
    folder = tmp_path / "backups" / "20250116"

    saved = invoke("backup", f"tree://{app_tree}", str(folder), "--with", str(env_file), "--json")

    assert saved.returncode == 0, show(saved)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (
        manifest["app"]["storage_backend"] == "filesystem" and manifest["app"]["environment"] == "production"
    )
    assert {entry["key"] for entry in manifest["objects"]} == set(files_of(app_tree))
    assert (
        manifest["with"][0]["name"] == ".env"
        and (folder / "with" / ".env").read_bytes() == env_file.read_bytes()
    )
    original = env_file.read_bytes()
    env_file.write_text("STORAGE_BACKEND=s3\n")  # the failed migration's settings, to roll back
    restored = tmp_path / "restored" / "data"
    wrong = invoke("restore", str(folder), f"tree://{restored}", "--with", str(tmp_path / "secrets.txt"))
    assert wrong.returncode == 2 and "holds no file named 'secrets.txt'" in wrong.stderr, show(wrong)
    assert not restored.exists()  # refused before anything was written
    back = invoke("restore", str(folder), f"tree://{restored}", "--with", str(env_file), "--json")
    assert back.returncode == 0, show(back)
    assert files_of(restored) == files_of(app_tree)
    assert env_file.read_bytes() == original  # the guide's cp backups/…/.env.backup .env
    assert any(".env put back at" in note for note in json_stdout(back)["notes"]), show(back)


def test_restore_refuses_a_damaged_backup_and_writes_nothing(app_tree: Path, tmp_path: Path) -> None:
    folder = tmp_path / "backup"
    assert invoke("backup", f"tree://{app_tree}", str(folder)).returncode == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["objects"][0]["sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))

    refused = invoke("restore", str(folder), f"tree://{tmp_path / 'out'}")

    assert refused.returncode == 1 and "edited or damaged" in refused.stderr, show(refused)
    assert not (tmp_path / "out").exists()
    os.remove(folder / "manifest.json")


def test_restore_into_a_bucket_and_unparsable_metadata_is_reported(tree_bucket: Any, tmp_path: Path) -> None:
    server, bucket = tree_bucket
    source = make_app_ef_tree(tmp_path / "data")
    broken = f"{PROJECTS[1]}/metadata.json"
    (source / broken).write_text('{"name": "cut short",')
    folder = tmp_path / "backup"
    assert invoke("backup", f"tree://{source}", str(folder)).returncode == 0

    restored = invoke("restore", str(folder), f"tree+s3://{bucket}/data", "--json")

    assert restored.returncode == 0, show(restored)
    assert _s3_objects(server, bucket, "data") == files_of(source)
    again = invoke("restore", str(folder), f"tree+s3://{bucket}/data")
    assert again.returncode == 2 and "not empty" in again.stderr, show(again)
    checked = invoke("verify", f"tree://{source}", f"tree+s3://{bucket}/data", "--app-ef", "--json")
    assert checked.returncode == 0, show(checked)
    app = json_stdout(checked)["app_ef"]
    assert app["metadata_ok"] == 2 and [entry["key"] for entry in app["unparsable_metadata"]] == [broken]


def test_gcs_to_azure_and_back_and_gcs_to_s3_verify_byte_for_byte(
    app_tree: Path,
    tree_bucket: Any,
    gcs_server: str,
    azure_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pairs the other tests leave out: GCS to Azure, Azure to GCS and GCS to S3, each
    streamed across services (the 9 MiB file in parts) and verified by the other side's digests."""
    server, bucket = tree_bucket
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azure_server.connection_string)
    from azure.storage.blob import BlobServiceClient
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    gcs = storage.Client(credentials=AnonymousCredentials(), project="test")
    name = f"{bucket}-pairs"
    gcs.create_bucket(name)
    azure = BlobServiceClient.from_connection_string(azure_server.connection_string)
    azure.create_container(name)
    wanted = files_of(app_tree)

    assert mlmigrate_copy(f"tree://{app_tree}", f"tree+gs://{name}/data", tmp_path)["verify"]["ok"]
    to_azure = mlmigrate_copy(f"tree+gs://{name}/data", f"tree+az://{name}/data", tmp_path)
    assert (to_azure["copied"], to_azure["server_side"]) == (len(wanted), 0) and to_azure["verify"]["ok"]
    container = azure.get_container_client(name)
    held = {b.name[5:]: container.download_blob(b.name).readall() for b in container.list_blobs("data/")}
    assert held == wanted
    back = mlmigrate_copy(f"tree+az://{name}/data", f"tree+gs://{name}/back", tmp_path)
    assert back["copied"] == len(wanted) and back["verify"]["ok"]
    assert {b.name[5:]: b.download_as_bytes() for b in gcs.list_blobs(name, prefix="back/")} == wanted
    to_s3 = mlmigrate_copy(f"tree+gs://{name}/back", f"tree+s3://{bucket}/from-gcs", tmp_path)
    assert to_s3["copied"] == len(wanted) and to_s3["verify"]["ok"]
    assert _s3_objects(server, bucket, "from-gcs") == wanted
    checked = invoke("verify", f"tree+az://{name}/data", f"tree+s3://{bucket}/from-gcs")
    assert checked.returncode == 0, show(checked)
