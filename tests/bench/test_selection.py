"""Bench item 7 on a small store: both engines on the same keys and questions, and its table."""
from bench.selection import selection
from bench.suite import _selection_md


def test_both_engines_find_each_questions_clip_and_search_spans_exactly(pg_url):
    rows = selection((3000,), 64, 8, ("faiss", "pgvector"), pg_url=pg_url)
    assert [(r["engine"], r["clips"]) for r in rows] == [("faiss", 3000), ("pgvector", 3000)]
    for r in rows:
        assert r["found"] == 1.0                      # a clip's own key plus a little noise: found, whatever engine
        assert r["span_exact"] and r["wide_exact"] and r["wide_clips"] == 1500
        assert 0 < r["median_ms"] <= r["p95_ms"]
    table = "\n".join(_selection_md(rows))
    assert "| 3,000 | pgvector |" in table and "pgvector / FAISS" in table
