"""Time mlmigrate against MLflow's own migration tool and a raw PostgreSQL COPY, in one run.

    .venv/bin/python benchmarks/run_benchmarks.py                 # generate a store, run all
    .venv/bin/python benchmarks/run_benchmarks.py --store mlruns  # an existing FileStore
    .venv/bin/python benchmarks/run_benchmarks.py --scale 3 --json-out out.json

Rows (each one a child process, timed for wall time and peak RSS):

* ``mlflow migrate-filestore``: MLflow's own FileStore -> SQLite tool (the reference);
* ``mlmigrate copy -> sqlite``: ``python -m mlmigrate copy STORE sqlite:///... --json``;
* ``mlmigrate copy -> postgresql``: same, into a private PostgreSQL this script starts;
* ``raw COPY -> postgresql``: binary COPY of the store's metrics/params/tags rows,
  parsed beforehand (see ``raw_copy.py``); its seconds are the COPY alone.

See benchmarks/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
STEPS = ("mlflow", "mm-sqlite", "mm-sqlite-noverify", "mm-pg", "raw-copy", "raw-copy-keys")


@dataclass
class Result:
    """One timed command."""

    name: str
    argv: list[str]
    seconds: float | None = None
    wall_seconds: float | None = None
    rows: int | None = None
    peak_rss_mb: float | None = None  # largest single process (kernel's ru_maxrss)
    tree_rss_mb: float | None = None  # largest sampled sum over the process tree
    returncode: int | None = None
    error: str | None = None
    tables: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def rows_per_second(self) -> float | None:
        if self.rows and self.seconds:
            return self.rows / self.seconds
        return None


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants (for worker pools)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.peak = max(self.peak, self.tree_rss())

    def tree_rss(self) -> int:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        total, todo = 0, [self.pid]
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            try:
                with open(f"/proc/{pid}/statm") as f:
                    total += int(f.read().split()[1]) * PAGE_SIZE
            except OSError:
                pass
        return total


def measure(result: Result, *, env: dict | None, log_dir: Path) -> tuple[str, str]:
    """Run ``result.argv``; fill wall time, RSS and return code; return (stdout, stderr)."""
    slug = re.sub(r"[^a-z0-9]+", "-", result.name.lower()).strip("-")
    out_path, err_path = log_dir / f"{slug}.out", log_dir / f"{slug}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(result.argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        result.wall_seconds = time.perf_counter() - started
        sampler.stopped.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    result.returncode = proc.returncode
    result.seconds = result.wall_seconds
    result.peak_rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
    result.tree_rss_mb = max(sampler.peak / 2**20, result.peak_rss_mb)
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    if proc.returncode != 0:
        tail = " | ".join(stderr.strip().splitlines()[-3:]) or stdout.strip()[-300:]
        result.error = f"exit {proc.returncode}: {tail[:400]}"
    return stdout, stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A private PostgreSQL 15, run as OS user postgres, as a direct child (servers.md)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.proc: subprocess.Popen | None = None
        self.log = None
        self.port = free_port()

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self.base.mkdir(parents=True)
        as_postgres: dict = {}
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.base, "postgres", "postgres")
            as_postgres = {"user": "postgres", "group": "postgres", "extra_groups": []}
        data = self.base / "data"
        initdb = ["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]
        subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(data), *initdb],
            check=True,
            capture_output=True,
            cwd=self.base,
            **as_postgres,
        )
        settings = "fsync=off synchronous_commit=off full_page_writes=off max_wal_size=4GB"
        server = ["-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.base)]
        server += [arg for setting in settings.split() for arg in ("-c", setting)]
        self.log = open(self.base / "postgres.log", "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(data), *server],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.base,
            **as_postgres,
        )
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.admin_url, connect_timeout=1).close()
                return
            except psycopg.OperationalError as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log_path = self.base / "postgres.log"
                    raise RuntimeError(f"PostgreSQL did not start; see {log_path}") from exc
                time.sleep(0.05)

    def recreate(self, database: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')

    def count_rows(self, database: str) -> int:
        import psycopg

        with psycopg.connect(self.url(database)) as conn:
            return count_tables(conn, "SELECT tablename FROM pg_tables WHERE schemaname='public'")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()


def count_tables(conn, list_sql: str) -> int:
    """Total rows in every table but alembic_version."""
    names = [row[0] for row in conn.execute(list_sql).fetchall()]
    return sum(
        conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
        for name in names
        if name != "alembic_version"
    )


def count_sqlite_rows(path: Path) -> int | None:
    import sqlite3

    if not path.exists():
        return None
    with sqlite3.connect(path) as conn:
        return count_tables(conn, "SELECT name FROM sqlite_master WHERE type='table'")


def parse_mlflow_summary(stdout: str) -> dict[str, int]:
    """The 'in DB' column of migrate-filestore's summary table."""
    counts = {}
    for line in stdout.splitlines():
        match = re.fullmatch(r"\s+([a-z_]+)\s+(\d+)\s+(\d+)\s*", line)
        if match:
            counts[match.group(1)] = int(match.group(3))
    return counts


def mlmigrate_env(state_dir: Path) -> dict:
    env = dict(os.environ)
    env["MLMIGRATE_STATE_DIR"] = str(state_dir)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    return env


def run_mlmigrate(name: str, store: Path, target: str, work: Path, *extra: str) -> Result:
    command = [sys.executable, "-m", "mlmigrate", "copy", str(store), target, "--json", *extra]
    result = Result(name, command)
    state_dir = Path(tempfile.mkdtemp(prefix="state-", dir=work))
    stdout, _ = measure(result, env=mlmigrate_env(state_dir), log_dir=work)
    if result.ok:
        try:
            report = json.loads(stdout)
            result.tables = {table: entry.get("written", 0) for table, entry in report["tables"].items()}
            result.rows = sum(result.tables.values())
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            result.error = f"could not read the --json report: {exc!r}: {stdout[:200]!r}"
    return result


def run_mlflow_reference(store: Path, work: Path) -> Result:
    db = work / "mlflow_ref.db"
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    result = Result(
        "mlflow migrate-filestore -> sqlite",
        [
            str(mlflow_cli),
            "migrate-filestore",
            "--source",
            str(store),
            "--target",
            f"sqlite:///{db}",
            "--no-progress",
        ],
    )
    stdout, _ = measure(result, env=None, log_dir=work)
    if result.ok:
        result.tables = parse_mlflow_summary(stdout)
        result.rows = sum(result.tables.values()) or count_sqlite_rows(db)
    return result


def run_raw_copy(store: Path, url: str, work: Path, *, mlflow_keys: bool = False) -> Result:
    name = "raw COPY -> postgresql, MLflow keys" if mlflow_keys else "raw COPY -> postgresql"
    command = [sys.executable, str(HERE / "raw_copy.py"), str(store), url]
    result = Result(name, command + (["--with-mlflow-keys"] if mlflow_keys else []))
    stdout, _ = measure(result, env=None, log_dir=work)
    if result.ok:
        report = json.loads(stdout)
        result.seconds = report["seconds"]  # the COPY itself; wall_seconds includes parsing
        result.rows = report["rows"]
        result.tables = report["tables"]
    return result


def generate(out: Path, args: argparse.Namespace, *, experiments: int) -> dict:
    argv = [
        sys.executable,
        str(HERE / "generate_store.py"),
        "--out",
        str(out),
        "--json",
        "--experiments",
        str(experiments),
        "--runs",
        str(args.runs),
        "--metric-points",
        str(args.metric_points),
    ]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"generate_store.py failed:\n{done.stderr}\n{done.stdout}")
    report = json.loads(done.stdout)
    report["wall_seconds"] = time.perf_counter() - started
    counts = report["counts"]
    print(
        f"generated {out}: {counts['runs']:,} runs, {counts['metrics']:,} metric points "
        f"in {report['seconds']:.2f} s (+{report['validate_seconds'] or 0:.2f} s validation)",
        file=sys.stderr,
    )
    return report


def fmt(value, spec: str) -> str:
    """``format(value, spec)``, or a dash as wide as ``spec`` asks when there is no value."""
    if value is None:
        width = re.match(r"\d*", spec).group()
        return "-".rjust(int(width or 1))
    return format(value, spec)


def print_table(results: list[Result]) -> None:
    header = (
        f"{'command':<38} {'seconds':>9} {'rows':>10} {'rows/s':>10} {'peak RSS MB':>11} {'tree RSS MB':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<38} {fmt(r.seconds, '9.2f')} {fmt(r.rows, '10,d')} "
            f"{fmt(r.rows_per_second, '10,.0f')} {fmt(r.peak_rss_mb, '11.0f')} "
            f"{fmt(r.tree_rss_mb, '11.0f')}"
        )
        if r.error:
            print(f"    FAILED: {r.error}")


def ratios(by_name: dict[str, Result]) -> dict[str, float | None]:
    def ok(name: str) -> Result | None:
        result = by_name.get(name)
        return result if result and result.ok and result.seconds else None

    ref, mm_sqlite = ok("mlflow migrate-filestore -> sqlite"), ok("mlmigrate copy -> sqlite")
    mm_pg, raw = ok("mlmigrate copy -> postgresql"), ok("raw COPY -> postgresql")
    mm_noverify = ok("mlmigrate copy --no-verify -> sqlite")
    raw_keys = ok("raw COPY -> postgresql, MLflow keys")
    return {
        "speedup_vs_mlflow": ref.seconds / mm_sqlite.seconds if ref and mm_sqlite else None,
        "speedup_vs_mlflow_without_verify": ref.seconds / mm_noverify.seconds
        if ref and mm_noverify
        else None,
        "mlmigrate_pg_rows_per_s": mm_pg.rows_per_second if mm_pg else None,
        "mlmigrate_pg_over_raw_copy": mm_pg.seconds / raw.seconds if mm_pg and raw else None,
        "mlmigrate_pg_over_raw_copy_with_keys": mm_pg.seconds / raw_keys.seconds
        if mm_pg and raw_keys
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="existing FileStore (default: generate one)")
    parser.add_argument("--experiments", type=int, default=20, help="for the generated store")
    parser.add_argument("--runs", type=int, default=25, help="runs per experiment (generated)")
    parser.add_argument("--metric-points", type=int, default=200, help="points per metric key")
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        metavar="N",
        help="also copy a store N times larger with mlmigrate; compare peak RSS",
    )
    parser.add_argument(
        "--only", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)}"
    )
    parser.add_argument("--workdir", type=Path, help="where temp files go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--json-out", type=Path, help="write all figures to this JSON file")
    args = parser.parse_args(argv)
    steps = set(args.only.split(","))
    if steps - set(STEPS):
        parser.error(f"--only: unknown {sorted(steps - set(STEPS))}; choose from {STEPS}")

    work = Path(tempfile.mkdtemp(prefix="mlmigrate-bench-", dir=args.workdir))
    os.chmod(work, 0o755)  # the postgres user must reach its data dir below
    pg: PostgresServer | None = None
    results: list[Result] = []
    figures: dict = {"work_dir": str(work)}
    try:
        if args.store:
            store = args.store.resolve()
        else:
            store = work / "mlruns"
            figures["generated"] = generate(store, args, experiments=args.experiments)
        figures["store"] = str(store)

        if "mlflow" in steps:
            results.append(run_mlflow_reference(store, work))
        if "mm-sqlite" in steps:
            results.append(run_mlmigrate("mlmigrate copy -> sqlite", store, f"sqlite:///{work}/mm.db", work))
        if "mm-sqlite-noverify" in steps:
            results.append(
                run_mlmigrate(
                    "mlmigrate copy --no-verify -> sqlite",
                    store,
                    f"sqlite:///{work}/mm2.db",
                    work,
                    "--no-verify",
                )
            )
        if steps & {"mm-pg", "raw-copy", "raw-copy-keys"} or (args.scale and "mm-pg" in steps):
            pg = PostgresServer(work / "pg")
            pg.start()
        if "mm-pg" in steps:
            pg.recreate("bench")
            results.append(run_mlmigrate("mlmigrate copy -> postgresql", store, pg.url("bench"), work))
        if "raw-copy" in steps:
            pg.recreate("bench")
            results.append(run_raw_copy(store, pg.url("bench"), work))
        if "raw-copy-keys" in steps:
            pg.recreate("bench")
            results.append(run_raw_copy(store, pg.url("bench"), work, mlflow_keys=True))

        print()
        print_table(results)
        by_name = {r.name: r for r in results}
        figures["ratios"] = ratios(by_name)
        print()
        labels = {
            "speedup_vs_mlflow": "speed-up vs MLflow (migrate-filestore s / mlmigrate-sqlite s)",
            "speedup_vs_mlflow_without_verify": "speed-up vs MLflow, mlmigrate --no-verify",
            "mlmigrate_pg_rows_per_s": "mlmigrate -> postgresql rows/s",
            "mlmigrate_pg_over_raw_copy": "mlmigrate-pg s / raw COPY s",
            "mlmigrate_pg_over_raw_copy_with_keys": "mlmigrate-pg s / raw COPY with MLflow's keys s",
        }
        for key, label in labels.items():
            value = figures["ratios"][key]
            print(f"{label:<66} {fmt(value, ',.2f')}")

        if args.scale:
            figures["scale"] = run_scale(args, store, work, pg, steps, by_name)
    finally:
        if pg:
            pg.stop()
        if args.json_out:
            figures["results"] = [asdict(r) | {"rows_per_second": r.rows_per_second} for r in results]
            args.json_out.write_text(json.dumps(figures, indent=2, default=str))
            print(f"\nfigures written to {args.json_out}", file=sys.stderr)
        if args.keep:
            print(f"work dir kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r.ok for r in results) else 1


def run_scale(args, store, work, pg, steps, by_name) -> dict:
    """Copy a store N times larger (N times the experiments) and compare peak RSS."""
    if args.store:
        print("\n--scale needs a generated store (omit --store); skipped", file=sys.stderr)
        return {}
    big = work / f"mlruns-x{args.scale}"
    generated = generate(big, args, experiments=args.experiments * args.scale)
    rows = []
    targets = []
    if "mm-sqlite" in steps:
        targets.append(("sqlite", f"sqlite:///{work}/mm-x{args.scale}.db"))
    if "mm-pg" in steps and pg:
        pg.recreate("bench")
        targets.append(("postgresql", pg.url("bench")))
    for label, target in targets:
        small = by_name.get(f"mlmigrate copy -> {label}")
        large = run_mlmigrate(f"mlmigrate copy -> {label} (x{args.scale})", big, target, work)
        rows.append((label, small, large))
    print(f"\nscale: 1x vs {args.scale}x store ({generated['counts']['metrics']:,} metric points)")
    print(f"{'target':<12} {'size':>5} {'seconds':>9} {'rows':>11} {'peak RSS MB':>11} {'tree RSS MB':>11}")
    out = {"factor": args.scale, "generated": generated, "runs": []}
    for label, small, large in rows:
        for size, r in (("1x", small), (f"{args.scale}x", large)):
            if r is None:
                continue
            print(
                f"{label:<12} {size:>5} {fmt(r.seconds, '9.2f')} {fmt(r.rows, '11,d')} "
                f"{fmt(r.peak_rss_mb, '11.0f')} {fmt(r.tree_rss_mb, '11.0f')}"
                + (f"  FAILED: {r.error}" if r.error else "")
            )
            out["runs"].append({"target": label, "size": size} | asdict(r))
    return out


if __name__ == "__main__":
    sys.exit(main())
