"""A Ray cluster of three nodes on this machine (``ray.cluster_utils.Cluster``), one CPU each,
shared by the session; and a PostgreSQL database reached with a password."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers import PostgresServer, ServerStartError, free_port

#: the password of the test role: it must never show in Ray's logs
PASSWORD = "Ray-Secret-7c1e9f"


@dataclass
class RayCluster:
    """The running cluster: its address (``RAY_ADDRESS``) and its session folder."""

    address: str
    session_dir: Path
    cluster: Any
    #: the dashboard's URL, where Ray's state API answers
    dashboard: str

    def logs_holding(self, text: str) -> list[str]:
        """The files under the session folder whose bytes hold ``text``."""
        found = []
        for path in self.session_dir.rglob("*"):
            if path.is_file() and not path.is_symlink():
                with contextlib.suppress(OSError):
                    if text.encode() in path.read_bytes():
                        found.append(str(path))
        return found


@contextlib.contextmanager
def start_ray_cluster(nodes: int = 3) -> Iterator[RayCluster]:
    """A head and ``nodes - 1`` workers, one CPU each (this machine has two cores, shared);
    this process joins it as a driver."""
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError as exc:
        raise ServerStartError(f"ray is not installed: {exc}") from exc
    # the dashboard serves Ray's state API (the tests find a worker's pid through it)
    head = {"num_cpus": 1, "include_dashboard": True, "dashboard_port": free_port()}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes(timeout=180)  # a loaded 2-core machine takes its time
        joined = ray.init(address=cluster.address, log_to_driver=False)
        session = Path(cluster.head_node.get_session_dir_path())
        yield RayCluster(cluster.address, session, cluster, f"http://{joined.dashboard_url}")
    finally:
        ray.shutdown()
        cluster.shutdown()


def database_with_password(server: PostgresServer) -> Iterator[str]:
    """A fresh database owned by a role that logs in with :data:`PASSWORD`; its URL holds it."""
    import psycopg

    url = server.create_database()
    name = url.rsplit("/", 1)[1]
    role = f"r_{name}"[:60]
    with psycopg.connect(server.url, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        connection.execute(f"ALTER DATABASE {name} OWNER TO {role}")
        connection.execute(f"GRANT ALL ON SCHEMA public TO {role}")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"ALTER SCHEMA public OWNER TO {role}")
    host = url.split("@", 1)[1]
    yield f"postgresql://{role}:{PASSWORD}@{host}"
    with contextlib.suppress(Exception):
        server.drop_database(url)
        with psycopg.connect(server.url, autocommit=True) as connection:
            connection.execute(f"DROP ROLE IF EXISTS {role}")


def environment_for(cluster: RayCluster) -> dict[str, str]:
    """The environment of a driver process joining the cluster."""
    return {**os.environ, "RAY_ADDRESS": cluster.address}
