"""Artifact objects through a slow object store: the local pool against a 3-node Ray cluster.

    .venv/bin/python benchmarks/ray_artifacts.py                       # 600 objects, 20 ms a request
    .venv/bin/python benchmarks/ray_artifacts.py --objects 2000 --threads 8 --latency-ms 50

A FileStore holds one run with ``--objects`` small artifacts (2 KiB each, written as files
beside a run the MLflow client made). moto's S3 server runs in a process of its own, behind a
loopback proxy (another process) that holds every HTTP request ``--latency-ms`` before
forwarding it (as a remote store's round trip would). Then, into fresh buckets:

* ``local``: ``mlmigrate.copy(STORE, sqlite:///…, artifacts_to="s3://…")`` with the local
  pool, ``--threads`` objects at a time;
* ``ray``: the same with ``executor="ray"`` on a ``ray.cluster_utils.Cluster`` of three
  nodes (one CPU each), each task copying its batch ``--threads`` objects at a time.

Each side copies twice and the second copy is measured (moto, the clients and the cluster's
workers warm, as a long-lived cluster's are; the cluster's first copy is printed too).
Throughput is objects over the artifact phase's seconds. The ratio ray/local is printed. The
point is that when waits dominate, throughput grows with the workers, not with CPU speed:
on this 2-core machine the three nodes share the same two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
KEY, SECRET = "bench", "bench-secret"
_METHODS = (b"GET ", b"PUT ", b"HEAD", b"POST", b"DELE")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pipe(source: socket.socket, target: socket.socket, delay: float) -> None:
    """Forward ``source`` to ``target``; a chunk that starts a request waits ``delay`` first."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            if delay and data[:4] in _METHODS:
                time.sleep(delay)
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


@contextmanager
def latency_proxy(upstream: int, delay: float) -> Iterator[int]:
    """A loopback TCP proxy to ``upstream`` that holds each HTTP request ``delay`` seconds."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    stopped = threading.Event()

    def accept() -> None:
        while not stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", upstream))
            for args in ((client, server, delay), (server, client, 0.0)):
                threading.Thread(target=_pipe, args=args, daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stopped.set()
        listener.close()


def serve_proxy(upstream: int, delay: float) -> None:
    """Run :func:`latency_proxy` until killed (in a process of its own: its threads do not share
    the copies' interpreter), printing its port."""
    with latency_proxy(upstream, delay) as port:
        print(port, flush=True)
        threading.Event().wait()


@contextmanager
def proxy_process(upstream: int, delay: float) -> Iterator[int]:
    """:func:`serve_proxy` in a child process; its port."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-proxy", str(upstream), str(delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def moto_server() -> Iterator[int]:
    """moto's S3 server in a process of its own."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def make_store(root: Path, objects: int) -> Path:
    """A FileStore with one run holding ``objects`` artifact files of 2 KiB."""
    import mlflow

    mlruns = root / "mlruns"
    client = mlflow.MlflowClient(tracking_uri=mlruns.as_uri())
    experiment = client.create_experiment("bench")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "m", 1.0)
    artifacts = mlruns / experiment / run.info.run_id / "artifacts"
    for index in range(objects):
        folder = artifacts / f"part-{index // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"object-{index:05d}.bin").write_bytes(os.urandom(2048))
    return mlruns


def _bucket(endpoint: str) -> str:
    import boto3

    name = f"b-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    ).create_bucket(Bucket=name)
    return name


def run_copy(store: Path, root: Path, endpoint: str, threads: int, executor: str | None) -> dict[str, Any]:
    """One copy into a fresh bucket; its artifact phase's objects, seconds and nodes."""
    import mlmigrate

    bucket = _bucket(endpoint)
    name = executor or "local"
    report = mlmigrate.copy(
        str(store),
        f"sqlite:///{root / f'{name}-{bucket}.db'}",
        artifacts_to=f"s3://{bucket}/mlflow",
        s3_endpoint=endpoint,
        artifact_workers=threads,
        state_dir=root / f"state-{name}-{bucket}",
        executor=executor,
        verify=False,
    ).as_dict()
    assert report["status"] == "done", report
    phase = report["artifacts"]
    objects = sum(kind["objects"] for kind in phase["kinds"].values())
    return {
        "executor": report["options"]["executor"],
        "objects": objects,
        "seconds": phase["seconds"],
        "objects_per_second": round(objects / phase["seconds"], 1),
        "nodes": phase["nodes"],
    }


def main() -> None:
    """Parse the options, run both copies, print the figures and the ratio."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=600)
    parser.add_argument("--threads", type=int, default=4, help="objects at once per process (local) or task")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve-proxy", nargs=2, metavar=("UPSTREAM", "SECONDS"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_proxy:
        serve_proxy(int(options.serve_proxy[0]), float(options.serve_proxy[1]))
        return
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}
    )
    import ray
    from ray.cluster_utils import Cluster

    with tempfile.TemporaryDirectory() as folder, moto_server() as port:
        root = Path(folder)
        store = make_store(root, options.objects)
        with proxy_process(port, options.latency_ms / 1000) as proxied:
            endpoint = f"http://127.0.0.1:{proxied}"
            # each side copies twice, the second measured: moto, the proxy's connections and the
            # clients are warm, and so are the cluster's workers (Python, imports, clients)
            run_copy(store, root, endpoint, options.threads, None)
            local = run_copy(store, root, endpoint, options.threads, None)
            cluster = Cluster(
                initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
            )
            try:
                for _ in range(options.nodes - 1):
                    cluster.add_node(num_cpus=1)
                cluster.wait_for_nodes()
                ray.init(address=cluster.address, log_to_driver=False)
                cold = run_copy(store, root, endpoint, options.threads, "ray")
                distributed = run_copy(store, root, endpoint, options.threads, "ray")
            finally:
                ray.shutdown()
                cluster.shutdown()
    ratio = distributed["objects_per_second"] / local["objects_per_second"]
    result = {
        "objects": options.objects,
        "latency_ms": options.latency_ms,
        "threads": options.threads,
        "local": local,
        "ray": distributed,
        "ray_first_copy_seconds": cold["seconds"],
        "ratio": round(ratio, 2),
    }
    if options.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{options.objects} objects of 2 KiB, {options.latency_ms:g} ms a request, "
        f"{options.threads} at once per process or task"
    )
    for row in (local, distributed):
        print(f"{row['executor']:<50} {row['seconds']:8.2f} s {row['objects_per_second']:10.1f} objects/s")
        for node, entry in row["nodes"].items():
            print(f"    {node:<44} {entry['objects']:6d} objects")
    print(f"(the cluster's first copy, workers starting: {cold['seconds']:.2f} s)")
    print(f"ratio ray / local: {ratio:.2f}")


if __name__ == "__main__":
    main()
