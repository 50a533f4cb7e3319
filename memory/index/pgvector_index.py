"""pgvector as the store's vector index: the keys in a PostgreSQL table with an HNSW graph over inner product, so
every process that reaches the server searches the same index and none rebuilds it on open.

One table per memory and kind (`vigil_keys_<memory id>_<kind>`: id bigint, key vector(dim)). As with FAISS the rows
in the memory's database stay the truth: the writer reconciles the table with them on open (`sync`), a reader leaves
it to the writer (`shared`). A search of all keys walks the HNSW graph (approximate, `hnsw_ef_search` candidates); a
filtered search (a time span, one camera of several) scores exactly the ids it is given: pgvector's HNSW filters
after the walk, so a narrow span's few clips would be missed."""
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from memory.index.base import Sample, VectorIndex

PREFIX = "vigil_keys_"


def table_name(name: str) -> str:
    """The table of index `name` (the memory's id and the kind): lower case letters, digits and _ only, so it needs
    no quoting in a psql session, and within PostgreSQL's 63 bytes."""
    safe = "".join(c if c.isalnum() else "_" for c in name.lower())
    return (PREFIX + safe)[:63]


def connect(url: str) -> psycopg.Connection:
    """A connection in autocommit (each statement its own transaction: an index holds copies, no unit of work spans
    two statements) with the vector type registered. OSError names the server in one line when it is unreachable."""
    try:
        db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        db.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(db)
    except psycopg.Error as e:
        raise OSError(f"cannot use the PostgreSQL index at {safe_url(url)}: {str(e).strip().splitlines()[0]}") from None
    return db


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _dim(db: psycopg.Connection, table: str) -> int | None:
    """The key dimension of `table` (pgvector keeps it as the column's type modifier), None when there is no table."""
    row = db.execute("SELECT a.atttypmod FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                     "WHERE c.relname = %s AND a.attname = 'key' AND c.relkind = 'r'", (table,)).fetchone()
    return None if row is None else int(row[0])


class PgvectorIndex(VectorIndex):
    shared = True              # every process opening the memory reaches the same table

    def __init__(self, path: Path, dim: int, db: psycopg.Connection, table: str, config):
        super().__init__(path, dim)
        self._db, self.url, self.name, self.config = db, config.index_url, table, config
        self.table, self.ef_search = sql.Identifier(table), config.hnsw_ef_search
        with self._server("count the keys") as db:
            self._count = db.execute(sql.SQL("SELECT count(*) FROM {}").format(self.table)).fetchone()[0]

    @contextmanager
    def _server(self, what: str):
        """The connection, made again after the server restarted or the network dropped it; any database error
        becomes one OSError line (the store then keeps its rows and catches the index up later)."""
        try:
            if self._db is None or self._db.closed or self._db.broken:
                self._db = connect(self.url)
            yield self._db
        except psycopg.Error as e:
            raise OSError(f"could not {what} in the PostgreSQL index at {safe_url(self.url)}: "
                          f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from None

    @classmethod
    def open(cls, path: Path, name: str, dim: int, count: int, sample: Sample, config) -> "PgvectorIndex":
        if not config.index_url:
            raise OSError("the pgvector index needs the server's URL (index_url = \"postgresql://...\")")
        db = connect(config.index_url)
        table = table_name(name)
        try:
            if _dim(db, table) not in (None, dim):       # a foreign table of other keys: a cache, made anew
                db.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
            db.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id bigint PRIMARY KEY, key vector({}) NOT NULL)")
                       .format(sql.Identifier(table), sql.Literal(dim)))
            index = cls(path, dim, db, table, config)
            index._graph()
        except psycopg.Error as e:
            db.close()
            raise OSError(f"cannot make the index table {table}: {str(e).strip().splitlines()[0]}") from None
        return index

    def _graph(self) -> None:
        """The HNSW graph over the table's keys, made if it is not there (from the rows already loaded)."""
        self._db.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(self.config.hnsw_build_memory)))
        self._db.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (key vector_ip_ops) WITH (m = {}, "
                                 "ef_construction = {})").format(
            sql.Identifier(self.name + "_hnsw"), self.table, sql.Literal(self.config.hnsw_m),
            sql.Literal(self.config.hnsw_ef_construction)))

    def sync(self, want: set[int], keys) -> None:
        """As every engine's, but a table filled from empty with many keys (a big memory's first open on this
        server) is loaded first and its graph built after, as pgvector's README advises: building from loaded rows
        is far faster than growing the graph a key at a time."""
        if len(self) or len(want) < self.config.hnsw_bulk_above:
            return super().sync(want, keys)
        with self._server("load the keys") as db:
            db.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(self.name + "_hnsw")))
        super().sync(want, keys)
        with self._server("build the key graph"):
            self._graph()

    @classmethod
    def check(cls, path: Path, name: str, dim: int, want: set[int], config) -> str | None:
        table = table_name(name)
        try:
            db = connect(config.index_url or "")
        except OSError as e:
            return str(e)
        with db:
            have_dim = _dim(db, table)
            if have_dim is None:
                return f"index table {table} is missing" if want else None
            if have_dim != dim:
                return f"index table {table} has keys of {have_dim} dimensions, the memory {dim}"
            have = {r[0] for r in db.execute(sql.SQL("SELECT id FROM {}").format(sql.Identifier(table)))}
        if have != want:
            return f"index table {table} is out of date ({len(want - have)} keys missing, {len(have - want)} extra)"
        return None

    def ids(self) -> np.ndarray:
        with self._server("list the keys") as db:
            rows = db.execute(sql.SQL("SELECT id FROM {}").format(self.table)).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def __len__(self) -> int:
        return self._count

    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        keys = np.ascontiguousarray(keys, dtype=np.float32)
        # COPY in binary: some 20x fewer round trips and bytes than one INSERT a key.
        with self._server("add keys") as db, db.cursor() as cur, \
                cur.copy(sql.SQL("COPY {} (id, key) FROM STDIN WITH (FORMAT BINARY)").format(self.table)) as copy:
            copy.set_types(["int8", "vector"])
            for i, key in zip(np.asarray(ids, dtype=np.int64).tolist(), keys):
                copy.write_row((i, key))
        self._count += len(keys)

    def remove(self, ids: np.ndarray) -> None:
        with self._server("remove keys") as db:
            cur = db.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self.table),
                             (np.asarray(ids, dtype=np.int64).tolist(),))
        self._count -= cur.rowcount

    def search(self, query: np.ndarray, k: int, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        if not self._count or k < 1:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32)
        if within is None:
            # <#> is the negative inner product; ordering by it ascending is what the HNSW index serves. The walk
            # returns at most ef_search rows, so it is raised to k for a large k.
            with self._server("search the keys") as db, db.transaction():
                db.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(max(k, self.ef_search))))
                rows = db.execute(sql.SQL("SELECT id, -(key <#> %s) FROM {} ORDER BY key <#> %s LIMIT %s")
                                       .format(self.table), (q, q, k)).fetchall()
        else:
            if not len(within):
                return []
            # Ordered by the score itself (not by `key <#> q`), which no index serves: the planner finds the ids by
            # the primary key and scores each of them, exact. Ties go to the lower id.
            with self._server("search the keys") as db:
                rows = db.execute(sql.SQL("SELECT id, -(key <#> %s) AS score FROM {} WHERE id = ANY(%s) "
                                          "ORDER BY score DESC, id LIMIT %s").format(self.table),
                                  (q, np.asarray(within, dtype=np.int64).tolist(), k)).fetchall()
        return [(int(i), float(s)) for i, s in rows]

    def save(self) -> None:
        """Nothing to write: each change was committed by its own statement."""

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
