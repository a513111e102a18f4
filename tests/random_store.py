"""Seeded random FileStores made with the real MLflow client: odd names, odd values, odd histories.

Each seed gives a different mix, so the differential test meets shapes nobody wrote down.
"""

from __future__ import annotations

import math
import random
import string
from pathlib import Path

ODD_TEXT = [
    "",
    " ",
    "  leading and trailing  ",
    "tab\there",
    "new\nline",
    "crlf\r\nline",
    "é",
    "日本語",
    "🚀",
    "'single'",
    '"double"',
    "back\\slash",
    "semi;colon",
    "percent%",
    "a" * 300,
    "null",
    "NaN",
    "None",
    "=",
    "#hash",
    "{json: 1}",
    "- list",
    "key: value",
    "\u00a0nbsp",
    "zero\u200bwidth",
]
ODD_FLOATS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    1e-300,
    5e-324,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    math.inf,
    -math.inf,
    math.nan,
    0.1,
    1 / 3,
    123456789.123456789,
    -2.5e-10,
]


def _text(rng: random.Random, allow_empty: bool = True) -> str:
    value = rng.choice(ODD_TEXT)
    if not value and not allow_empty:
        value = "x"
    return value + "".join(rng.choices(string.ascii_letters, k=rng.randint(0, 4)))


def _key(rng: random.Random) -> str:
    """A key MLflow accepts: letters, digits, _ - . and space; a '/' only after a ``g_`` group,
    so no key is both a file and a folder. No segment starts or ends with a dot or space."""
    alphabet = string.ascii_letters + string.digits + "_-. "

    def segment() -> str:
        return "".join(rng.choices(alphabet, k=rng.randint(1, 8))).strip(" .") or "k"

    return f"g_{segment()}/{segment()}" if rng.random() < 0.3 else f"k_{segment()}"


def make_random_store(root: Path, seed: int) -> Path:
    """A FileStore at ``root/mlruns`` with a random mix of everything the client can log."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    rng = random.Random(seed)
    mlruns = root / "mlruns"
    uri = mlruns.as_uri()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    base = 1_700_000_000_000 + seed * 1000
    run_ids: list[str] = []
    for e in range(rng.randint(1, 4)):
        # the FileStore cannot look up a name with a single quote (it builds an unescaped filter)
        # and PostgreSQL holds names up to 256 characters (see test_bad_input for longer ones)
        name = f"exp-{seed}-{e}-{_text(rng)}".replace("'", "").strip()[:200]
        exp_id = client.create_experiment(
            name, tags={_key(rng): _text(rng) for _ in range(rng.randint(0, 3))}
        )
        for r in range(rng.randint(0, 6)):
            run = client.create_run(exp_id, start_time=base + r, run_name=_text(rng, allow_empty=False)[:200])
            run_id = run.info.run_id
            run_ids.append(run_id)
            params = {_key(rng): _text(rng) for _ in range(rng.randint(0, 5))}
            tags = {_key(rng): _text(rng) for _ in range(rng.randint(0, 5))}
            metrics = []
            for key in {_key(rng) for _ in range(rng.randint(0, 4))}:
                for _ in range(rng.randint(1, 40)):
                    metrics.append(
                        Metric(
                            key,
                            rng.choice(ODD_FLOATS + [rng.uniform(-1e6, 1e6)]),
                            base + rng.randint(-5, 500),
                            rng.randint(-3, 30),
                        )
                    )
            client.log_batch(
                run_id,
                metrics=metrics,
                params=[Param(k, v) for k, v in params.items()],
                tags=[RunTag(k, v) for k, v in tags.items()],
            )
            status = rng.choice(["FINISHED", "FAILED", "KILLED", "RUNNING"])
            if status != "RUNNING":
                client.set_terminated(run_id, status=status, end_time=base + 1000 + r)
            if rng.random() < 0.2:
                client.delete_run(run_id)
        if rng.random() < 0.25:
            client.delete_experiment(exp_id)
    for m in range(rng.randint(0, 2)):
        label = _text(rng, allow_empty=False).strip().translate({ord(c): "-" for c in "/:%"})[:60]
        model = f"model-{seed}-{m}-{label or 'm'}"
        client.create_registered_model(model, description=_text(rng))
        versions = []
        for _ in range(rng.randint(1, 4)):
            run_id = rng.choice(run_ids) if run_ids else None
            version = client.create_model_version(
                model, source=f"runs:/{run_id}/model", run_id=run_id, description=_text(rng)
            )
            versions.append(version.version)
            if rng.random() < 0.5:
                client.set_model_version_tag(model, version.version, _key(rng), _text(rng))
        if len(versions) > 1 and rng.random() < 0.5:
            client.delete_model_version(model, versions[0])
            versions = versions[1:]
        client.set_registered_model_alias(model, "champion", versions[-1])
    return mlruns
