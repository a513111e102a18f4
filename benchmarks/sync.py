"""Time ``mlmigrate sync`` against the first copy: a catch-up after 1% of the runs gained metrics,
and a pass with nothing changed, on the medium store and on a larger one.

    .venv/bin/python benchmarks/sync.py                 # 1x and 3x generated stores, FileStore -> SQLite
    .venv/bin/python benchmarks/sync.py --scales 1 --json-out out.json

For each scale a FileStore is generated (``generate_store.py``, 20 x scale experiments of 25 runs;
not timed), then, each a ``python -m mlmigrate sync … --json`` child process:

1. the first pass: the bulk copy, with its verify;
2. 1% of the runs gain metrics (100 points on each of their metric keys, appended to the files
   as MLflow does), the runs of one experiment (``--spread``: one run in each of as many
   experiments), then a ``sync``;
3. a ``sync`` with nothing changed.

Printed per scale: each step's seconds as the whole process (start-up of about a second
included), as the pass itself (the engine's own time, from the journal's pass record) and as
CPU seconds of the process and its helpers (what a shared, loaded machine inflates least),
and the ratios of steps 2 and 3 to step 1 (targets: at most 5% and 2%).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGETS = {"catch-up": 0.05, "no change": 0.02}


def generate(out: Path, experiments: int) -> dict[str, Any]:
    """A generated FileStore of ``experiments`` experiments (the medium store at 20)."""
    argv = [sys.executable, str(HERE / "generate_store.py"), "--out", str(out), "--json", "--no-validate"]
    done = subprocess.run([*argv, "--experiments", str(experiments)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"generate_store.py failed:\n{done.stderr}")
    counts: dict[str, Any] = json.loads(done.stdout)["counts"]
    return counts


def grow_runs(mlruns: Path, share: float, *, spread: bool, points: int = 100) -> int:
    """Append ``points`` metric points to every metric of ``share`` of the runs; return how many
    runs. The runs of as few experiments as hold them (``spread``: one per experiment)."""
    experiments = sorted(p for p in mlruns.iterdir() if p.name.isdigit() and p.name != "0")
    runs = {e: sorted(r for r in e.iterdir() if (r / "metrics").is_dir()) for e in experiments}
    total = sum(len(found) for found in runs.values())
    wanted = max(1, round(total * share))
    if spread:
        chosen = [found[0] for found in runs.values() if found][:wanted]
    else:
        chosen = [run for found in runs.values() for run in found][:wanted]
    stamp = int(time.time() * 1000)
    for run in chosen:
        for metric in (run / "metrics").rglob("*"):
            if metric.is_file():
                with open(metric, "a") as history:
                    history.writelines(f"{stamp + i} {i * 0.5} {10_000 + i}\n" for i in range(points))
    return len(chosen)


def sync_process(source: Path, destination: str, state: Path) -> dict[str, Any]:
    """One ``mlmigrate sync`` child process: its wall time and its pass record."""
    argv = [sys.executable, "-m", "mlmigrate", "sync", str(source), destination, "--json", "-q"]
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, "MLMIGRATE_STATE_DIR": str(state)}
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the child and its helper processes
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"sync failed ({done.returncode}):\n{done.stderr}")
    passed = json.loads(done.stdout)["passes"][-1]
    return {"process_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), **passed}


def run_scale(scale: int, work: Path, spread: bool) -> dict[str, Any]:
    """The three steps on a store of ``scale`` times the medium one."""
    store = work / f"mlruns-x{scale}"
    counts = generate(store, 20 * scale)
    destination = f"sqlite:///{work}/sync-x{scale}.db"
    state = work / f"state-x{scale}"
    steps = {"first copy": sync_process(store, destination, state)}
    grown = grow_runs(store, 0.01, spread=spread)
    steps["catch-up"] = sync_process(store, destination, state)
    steps["no change"] = sync_process(store, destination, state)
    first = steps["first copy"]
    print(
        f"\n{scale}x store: {counts['runs']:,} runs, {counts['metrics']:,} metric points; "
        f"catch-up after {grown} run(s) gained metrics ({'spread' if spread else 'one experiment'})"
    )
    header = f"{'step':<12} {'process s':>10} {'pass s':>8} {'CPU s':>8} {'units':>6} {'rows':>10}"
    print(f"{header} {'ratio (process)':>16} {'ratio (pass)':>13} {'ratio (CPU)':>12}")
    for name, step in steps.items():
        units = step["units_changed"] + step["units_new"]
        ratio_process = step["process_seconds"] / first["process_seconds"]
        ratio_pass = step["seconds"] / first["seconds"]
        ratio_cpu = step["cpu_seconds"] / first["cpu_seconds"]
        target = f"  target <= {TARGETS[name]:.0%}" if name in TARGETS else ""
        print(
            f"{name:<12} {step['process_seconds']:>10.2f} {step['seconds']:>8.2f} "
            f"{step['cpu_seconds']:>8.2f} {units:>6} {step['rows']:>10,} {ratio_process:>16.1%} "
            f"{ratio_pass:>13.1%} {ratio_cpu:>12.1%}{target}"
        )
    return {"scale": scale, "counts": counts, "runs_grown": grown, "spread": spread, "steps": steps}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table (and write ``--json-out``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 3], help="store sizes (x medium)")
    parser.add_argument("--spread", action="store_true", help="the grown runs in different experiments")
    parser.add_argument("--json-out", type=Path, help="write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mlmigrate-sync-bench-"))
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; work folder {work}")
    try:
        figures = [run_scale(scale, work, args.spread) for scale in args.scales]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json_out:
        args.json_out.write_text(json.dumps({"load_average": load, "scales": figures}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
