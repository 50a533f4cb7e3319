"""The pgvector engine on a real PostgreSQL 18 with pgvector (tests/postgres.py): exact filtered search, the HNSW
walk's recall, one index seen by every connection, the server killed and back; and a memory whose keys live there."""
import numpy as np
import psycopg
import pytest

from memory.check import check_memory as check
from memory.config import StoreConfig
from memory.folder import StoreError
from memory.index.pgvector_index import PgvectorIndex, table_name
from tests.memory.test_store import DIM as STORE_DIM, make_clip, open_store

DIM = 32


def unit(n: int, seed: int = 0) -> np.ndarray:
    keys = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return keys / np.linalg.norm(keys, axis=1, keepdims=True)


def open_index(tmp_path, url: str, keys: np.ndarray, name: str = "m_visual", **settings) -> PgvectorIndex:
    config = StoreConfig(index="pgvector", index_url=url, **settings)
    return PgvectorIndex.open(tmp_path / "index", name, DIM, len(keys), lambda n: keys[:n], config)


def test_a_filtered_search_is_exact_and_the_walk_finds_nearly_all_of_the_best(tmp_path, pg_url):
    keys = unit(3000)
    index = open_index(tmp_path, pg_url, keys)
    index.add(keys, np.arange(3000) + 10)
    queries = unit(20, seed=1)
    rng = np.random.default_rng(2)
    hits = 0
    for q in queries:
        truth = np.argsort(-(keys @ q), kind="stable")
        got = index.search(q, 5)
        hits += len({i - 10 for i, _ in got} & set(truth[:5].tolist()))
        within = np.sort(rng.choice(3000, 40, replace=False))      # a span's few clips among many
        best = within[np.argsort(-(keys[within] @ q), kind="stable")[:5]]
        filtered = index.search(q, 5, within=within + 10)
        assert [i - 10 for i, _ in filtered] == best.tolist()       # exactly the brute-force ranking
        assert [s for _, s in filtered] == pytest.approx((keys[best] @ q).tolist(), abs=1e-5)
    assert hits / (5 * len(queries)) >= 0.9                         # HNSW is approximate; on 3000 keys barely so
    index.close()


def test_every_connection_sees_one_index_and_a_second_dimension_makes_it_anew(tmp_path, pg_url):
    keys = unit(10)
    one = open_index(tmp_path, pg_url, keys)
    one.add(keys[:6], np.arange(6))
    two = open_index(tmp_path / "elsewhere", pg_url, keys)          # another process: no file, the same table
    assert sorted(two.ids().tolist()) == list(range(6)) and two.search(keys[3], 1)[0][0] == 3
    two.remove(np.array([3]))
    assert 3 not in one.ids() and one.search(keys[3], 1)[0][0] != 3
    one.close(), two.close()
    with psycopg.connect(pg_url) as db:                              # a table per memory and kind, named plainly
        assert db.execute("SELECT count(*) FROM " + table_name("m_visual")).fetchone()[0] == 5
    config = StoreConfig(index="pgvector", index_url=pg_url)
    wide = PgvectorIndex.open(tmp_path / "index", "m_visual", DIM * 2, 0, lambda n: keys[:0], config)
    assert len(wide) == 0                                           # a table of other keys is a cache, made anew
    wide.close()


def test_a_server_that_dies_is_one_line_and_the_index_works_again_when_it_is_back(tmp_path, postgres, pg_url):
    keys = unit(8)
    index = open_index(tmp_path, pg_url, keys)
    index.add(keys[:4], np.arange(4))
    postgres.kill()
    try:
        with pytest.raises(OSError) as down:
            index.add(keys[4:], np.arange(4, 8))
        assert "PostgreSQL index" in str(down.value) and "\n" not in str(down.value)
        assert "/" in str(down.value)                               # names the server (its socket folder)
    finally:
        postgres.start()
    assert sorted(index.ids().tolist()) == [0, 1, 2, 3]            # what was committed survived the kill
    index.add(keys[4:], np.arange(4, 8))                            # the same object reconnects
    assert index.search(keys[6], 1)[0][0] == 6
    index.close()


def test_a_memory_keeps_its_keys_in_postgresql_and_a_kill_loses_no_clip(tmp_path, postgres, pg_url):
    config = StoreConfig(index="pgvector", index_url=pg_url)
    store = open_store(tmp_path, config)
    clips = [make_clip(i) for i in range(8)]
    ids = [store.add(c) for c in clips[:6]]
    assert store.search(clips[2].key, 1)[0][0] == ids[2]
    assert not list(tmp_path.glob("index*"))                         # no cache file beside the database
    reader = open_store(tmp_path, config, readonly=True)             # a second process: the writer's own index
    assert reader.search(clips[4].key, 1)[0][0] == ids[4]
    postgres.kill()
    try:
        ids.append(store.add(clips[6]))                              # the clip commits; its key waits
        assert store.count() == 7
        with pytest.raises(StoreError, match="cannot search the clips.*PostgreSQL index") as down:
            store.search(clips[6].key, 1)
        assert "\n" not in str(down.value)
    finally:
        postgres.start()
    assert store.search(clips[6].key, 1)[0][0] == ids[6]            # caught up with the rows when back
    store.delete([ids[0]])
    assert ids[0] not in store.index.ids()
    store.close()
    reader.close()
    assert check(tmp_path, config=config).findings == []                    # the table holds exactly the rows' keys
    name = table_name(open_store(tmp_path, config, readonly=True).index_name("visual"))
    with psycopg.connect(pg_url, autocommit=True) as db:             # a key lost from the table (by hand)
        db.execute(f"DELETE FROM {name} WHERE id = %s", (ids[1],))
    assert any("out of date (1 keys missing" in f.text for f in check(tmp_path, config=config).findings)
    store = open_store(tmp_path, config)                             # the writer's open puts it back
    assert sorted(store.index.ids().tolist()) == sorted(ids[1:]) and len(clips[0].key) == STORE_DIM
    store.close()


def test_the_engine_needs_a_server_url_and_an_unreachable_one_is_one_line(tmp_path):
    with pytest.raises(ValueError, match="pgvector index needs its server.s URL"):
        StoreConfig(index="pgvector")
    config = StoreConfig(index="pgvector", index_url=f"postgresql:///none?host={tmp_path}")
    with pytest.raises(StoreError, match="cannot open memory .*cannot use the PostgreSQL index") as e:
        open_store(tmp_path / "m", config)
    assert "\n" not in str(e.value)


def test_many_keys_into_an_empty_table_are_loaded_then_given_their_graph(tmp_path, pg_url):
    keys = unit(300)
    index = open_index(tmp_path, pg_url, keys, hnsw_bulk_above=100)
    index.sync(set(range(300)), lambda ids: keys[ids])
    with psycopg.connect(pg_url) as db:
        graphs = db.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                            (table_name("m_visual") + "_hnsw",)).fetchall()
        db.execute("SET enable_seqscan = off")                         # the walk must be able to use the graph
        plans = [r[0] for r in db.execute(f"EXPLAIN SELECT id FROM {table_name('m_visual')} ORDER BY key <#> "
                                          f"'{keys[0].tolist()}' LIMIT 5")]
    assert len(graphs) == 1 and "hnsw" in graphs[0][0] and "vector_ip_ops" in graphs[0][0]
    assert any("Index Scan" in p and "_hnsw" in p for p in plans)
    assert index.search(keys[7], 1)[0][0] == 7 and len(index) == 300
    index.close()
