"""Passwords never leave the process: every URI form is masked by parsing, not by a pattern,
and nothing a run writes (journal, log file, reports, ``--json``, ``status --json``) holds one."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run_cli, show

from mlmigrate.exceptions import UsageError
from mlmigrate.stores.kinds import canonical, kind_of
from mlmigrate.uris import mask, mask_uri

SECRET = "Zq7-secret-Vw3x"


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("postgresql://app:s3cretpw@db:5432/mlflow", "postgresql://app:***@db:5432/mlflow"),
        ("postgresql+psycopg://app:s3cretpw@db/mlflow", "postgresql+psycopg://app:***@db/mlflow"),
        ("postgresql://app@db/mlflow?password=s3cretpw", "postgresql://app@db/mlflow?password=***"),
        (
            "postgresql://app@db/mlflow?sslmode=require&password=s3cretpw&application_name=x",
            "postgresql://app@db/mlflow?sslmode=require&password=***&application_name=x",
        ),
        ("sqlite:///d3.db: empty", "sqlite:///d3.db: empty"),
        (
            "postgresql://app:s3cretpw@db/mlflow: connection refused",
            "postgresql://app:***@db/mlflow: connection refused",
        ),
        ("mysql://root:p@ss@db:3306/mlflow", "mysql://root:***@db:3306/mlflow"),
        ("postgresql://app:pa/ss@db/mlflow", "postgresql://app:***@db/mlflow"),
        ("postgresql://app:pa ss word@db/mlflow", "postgresql://app:***@db/mlflow"),
        ("postgresql://app:p%40ss@db/mlflow", "postgresql://app:***@db/mlflow"),
        ("postgresql//app:s3cretpw@db/mlflow", "postgresql//app:***@db/mlflow"),
        ("postgresql:/app:s3cretpw@db/mlflow", "postgresql:/app:***@db/mlflow"),
        ("postgresql:app:s3cretpw@db/mlflow", "postgresql:***@db/mlflow"),
        ("app:s3cretpw@db/mlflow", "app:***@db/mlflow"),
        (
            "mongodb://app:s3cretpw@h1:27017,h2:27017/db?replicaSet=rs",
            "mongodb://app:***@h1:27017,h2:27017/db?replicaSet=rs",
        ),
        ("mongodb+srv://app:p@ss/w@cluster.example.com/db", "mongodb+srv://app:***@cluster.example.com/db"),
        ("https://app:s3cretpw@mlflow.example.com:5000", "https://app:***@mlflow.example.com:5000"),
        ("s3://bucket/prefix?secret_access_key=s3cretpw", "s3://bucket/prefix?secret_access_key=***"),
        ("az://container/prefix?sig=s3cretpw&sv=2020", "az://container/prefix?sig=***&sv=2020"),
        ("gs://bucket/prefix?token=s3cretpw", "gs://bucket/prefix?token=***"),
        ("sqlite:///relative.db", "sqlite:///relative.db"),
        ("file:///tmp/user@host/mlruns", "file:///tmp/user@host/mlruns"),
        ("mysql://root@127.0.0.1:3306/db", "mysql://root@127.0.0.1:3306/db"),
    ],
)
def test_every_uri_form_is_masked_whole(uri: str, masked: str) -> None:
    assert mask_uri(uri) == masked
    assert mask(uri) == masked
    for piece in ("s3cretpw", "ss@", "pa/ss", "pa ss", "p%40ss"):
        assert piece not in mask(uri)


def test_uris_inside_a_message_and_remembered_passwords_are_masked() -> None:
    mask_uri("postgresql://app:Remembered-9@db/mlflow")
    text = (
        "cannot copy postgresql://a:first-pw1@h/db into mysql://b@h/db?password=second-pw2 "
        "(driver said: authentication failed for password 'Remembered-9')"
    )

    masked = mask(text)

    for secret in ("first-pw1", "second-pw2", "Remembered-9"):
        assert secret not in masked, masked
    assert "postgresql://a:***@h/db" in masked and "mysql://b@h/db?password=***" in masked


def test_a_password_that_is_also_the_user_or_database_name_leaves_other_text_alone() -> None:
    assert mask("postgresql://mlflow:mlflow@db/mlflow") == "postgresql://mlflow:***@db/mlflow"
    assert mask("upgrading the mlflow schema") == "upgrading the mlflow schema"


def test_canonical_holds_no_query_password() -> None:
    assert SECRET not in canonical(f"postgresql://app@db/mlflow?password={SECRET}")


@pytest.mark.parametrize(
    "uri",
    [
        f"postgresql://app:p@{SECRET}@db/mlflow",
        f"postgresql://app:pa/{SECRET}@db/mlflow",
        f"mysql://app:pa {SECRET}@db/mlflow",
        f"mongodb://app:pa:{SECRET}@db:27017/mlflow",
    ],
)
def test_a_raw_character_the_driver_would_misread_is_refused_with_the_encoding(uri: str) -> None:
    with pytest.raises(UsageError) as raised:
        kind_of(uri)

    assert "percent-encode" in str(raised.value)
    assert SECRET not in str(raised.value) and SECRET[2:] not in str(raised.value)


def _files_holding(root: Path, secret: str) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]


def test_nothing_a_run_writes_holds_a_query_password(
    minimal_store: Path, postgres_db: str, tmp_path: Path
) -> None:
    destination = f"{postgres_db}?password={SECRET}"  # the test server trusts loopback: any password does
    state, out = tmp_path / "state", tmp_path / "out"
    out.mkdir()

    copied = run_cli(
        "copy", str(minimal_store), destination, "--json", "--state-dir", str(state),
        "--report", str(out / "r.html"), "--report", str(out / "r.json"),
        "--log-file", str(out / "log.jsonl"),
    )  # fmt: skip
    status = run_cli("status", "--json", "--state-dir", str(state))
    verified = run_cli("verify", str(minimal_store), destination, "--json", "--state-dir", str(state))
    again = run_cli("copy", str(minimal_store), destination, "--json", "--state-dir", str(state))

    assert copied.returncode == 0, show(copied)
    assert status.returncode == 0 and verified.returncode == 0 and again.returncode == 0
    for result in (copied, status, verified, again):
        assert SECRET not in result.stdout + result.stderr, show(result)
    assert {p.name for p in out.iterdir()} == {"r.html", "r.json", "log.jsonl"}
    assert _files_holding(tmp_path, SECRET) == []
    assert _files_holding(Path.cwd(), SECRET) == []


@pytest.mark.parametrize("password", [f"p@{SECRET}", f"p/{SECRET}", f"p {SECRET}"])
def test_a_misreadable_password_is_refused_before_anything_is_written(
    password: str, minimal_store: Path, postgres_db: str, tmp_path: Path
) -> None:
    destination = postgres_db.replace("postgres@", f"postgres:{password}@")
    log = tmp_path / "log.jsonl"

    copied = run_cli(
        "copy", str(minimal_store), destination, "--state-dir", str(tmp_path / "s"), "--log-file", str(log)
    )

    assert copied.returncode == 2, show(copied)
    assert "percent-encode" in copied.stderr
    assert SECRET not in copied.stdout + copied.stderr and SECRET[3:] not in copied.stderr
    assert _files_holding(tmp_path, SECRET[3:]) == []
