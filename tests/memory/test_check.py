"""`check_memory`: what a survey reports, that it changes nothing, and that repair fixes only what loses nothing."""
import pytest

from memory.check import check_memory
from memory.folder import StoreError
from memory.schema import SCHEMA_VERSION
from tests.memory.test_folder import _legacy, filled, snapshot
from tests.memory.test_store import make_clip, open_store


def keys(report, problems_only=True):
    return sorted(f.key for f in report.findings if f.problem or not problems_only)


def damaged(folder):
    """A memory of 6 clips with every kind of damage the check knows."""
    filled(folder, 5)
    stale = (folder / "index.faiss").read_bytes()
    store = open_store(folder)
    ids = store.latest(None, 5)[::-1] + [store.add(make_clip(5))]
    store.close()
    (folder / "index.faiss").write_bytes(stale)                                  # an index behind SQLite
    tokens = folder / "tokens"
    (tokens / f"{ids[1]}.safetensors").unlink()                                  # a lost file
    (tokens / f"{ids[2]}.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00torn")   # a torn one
    (tokens / "3.tmp").write_bytes(b"half")                                      # an interrupted write's temp
    (tokens / "99.safetensors").write_bytes(b"no row")                           # a file no row describes
    (tokens / "notes.txt").write_text("not ours")
    return ids


def test_a_clean_memory_is_consistent(tmp_path):
    filled(tmp_path)
    report = check_memory(tmp_path)
    assert report.problems_left == [] and report.streams == {"cam": 4} and report.memory_id


def test_survey_reports_each_problem_and_changes_nothing(tmp_path):
    ids = damaged(tmp_path)
    before = snapshot(tmp_path)
    report = check_memory(tmp_path)
    assert keys(report) == sorted([("lost", ids[1]), ("lost", ids[2]), ("tmp", "3.tmp"), ("orphan", 99)])
    assert [f.key for f in report.findings if not f.problem] == [("foreign", "notes.txt"), ("index", "visual")]
    lines = [f.line(False) for f in report.findings]
    assert any("token file missing" in x and "--repair: marked missing" in x for x in lines)
    assert any("99.safetensors: token file that no row describes (kept" in x for x in lines)
    assert snapshot(tmp_path) == before


def test_repair_fixes_what_loses_nothing_and_keeps_the_rest(tmp_path):
    ids = damaged(tmp_path)
    report = check_memory(tmp_path, repair=True)
    fixed = sorted(f.key for f in report.findings if f.fixed)
    assert fixed == sorted([("lost", ids[1]), ("lost", ids[2]), ("tmp", "3.tmp"), ("index", "visual")])
    assert [f.key for f in report.problems_left] == [("orphan", 99)]          # never removed by Vigil
    tokens = tmp_path / "tokens"
    assert (tokens / "99.safetensors").read_bytes() == b"no row" and (tokens / "notes.txt").exists()
    assert not (tokens / "3.tmp").exists()
    store = open_store(tmp_path, readonly=True)
    assert store.count() == 6 and store.missing() == [ids[1], ids[2]]       # rows kept, marked
    assert ids[1] not in store.latest(None, 10) and len(store.index) == 4
    store.close()
    again = check_memory(tmp_path)
    assert [f.key for f in again.problems_left] == [("orphan", 99)]
    assert sorted(f.key for f in again.findings if f.key[0] == "marked") == [("marked", ids[1]), ("marked", ids[2])]


def test_a_missing_or_stale_index_cache_is_a_note_not_a_problem(tmp_path):
    """As after a SIGKILL of `serve`: the index file is a cache written at a clean stop, so its absence is no fault."""
    filled(tmp_path)
    (tmp_path / "index.faiss").unlink()
    report = check_memory(tmp_path)
    (note,) = [f for f in report.findings if f.key == ("index", "visual")]
    assert report.problems_left == [] and not note.problem
    assert note.line(False) == ("note: index.faiss is missing: a cache of the database's keys, rebuilt from it on the "
                                "next open; questions still work [--repair: rewritten]")
    repaired = check_memory(tmp_path, repair=True)
    assert [f.key for f in repaired.findings if f.fixed] == [("index", "visual")] and (tmp_path / "index.faiss").exists()
    assert check_memory(tmp_path).findings == []


def test_a_file_that_comes_back_is_unmarked(tmp_path):
    ids = filled(tmp_path)
    lost = tmp_path / "tokens" / f"{ids[0]}.safetensors"
    data = lost.read_bytes()
    lost.unlink()
    check_memory(tmp_path, repair=True)
    lost.write_bytes(data)                                   # restored from a backup
    report = check_memory(tmp_path, repair=True)
    assert [f.key for f in report.findings if f.fixed] == [("back", ids[0])]
    store = open_store(tmp_path, readonly=True)
    assert store.missing() == [] and store.latest(None, 10)[-1] == ids[0]


def test_repair_adopts_a_memory_made_before_markers(tmp_path):
    _legacy(tmp_path)
    report = check_memory(tmp_path)
    assert keys(report) == [("marker",), ("schema",)]
    report = check_memory(tmp_path, repair=True)
    assert report.problems_left == [] and report.schema == SCHEMA_VERSION and report.memory_id
    assert check_memory(tmp_path).problems_left == []


def test_not_a_memory_is_an_error(tmp_path):
    (tmp_path / "x.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a Vigil memory"):
        check_memory(tmp_path)


def test_bytes_a_bad_disk_flipped_inside_a_token_file_fail_its_checksum(tmp_path):
    """64 bytes flipped in the middle of a whole, well-formed token file (its header still parses, so only the
    checksum recorded at write time tells): `check` reports it, a read refuses it and selection passes it over,
    and --repair marks the clip missing."""
    filled(tmp_path, 4)
    store = open_store(tmp_path)
    ids = sorted(store.latest(None, 4))
    store.close()
    path = tmp_path / "tokens" / f"{ids[2]}.safetensors"
    raw = bytearray(path.read_bytes())
    middle = len(raw) - 200                             # inside the tensor data, past the JSON header
    raw[middle:middle + 64] = bytes(b ^ 0xFF for b in raw[middle:middle + 64])
    path.write_bytes(bytes(raw))
    report = check_memory(tmp_path)
    assert keys(report) == [("lost", ids[2])]
    assert any("fails its checksum" in f.line(False) for f in report.findings)
    reader = open_store(tmp_path, readonly=True)
    with pytest.raises(StoreError, match="fails its checksum"):
        reader.tokens(ids[2])
    loaded = reader.load(ids)
    assert [c.id for c in loaded.unreadable] == [ids[2]] and [c.id for c in loaded.clips] == [ids[0], ids[1], ids[3]]
    reader.close()
    check_memory(tmp_path, repair=True)
    store = open_store(tmp_path, readonly=True)
    assert store.missing() == [ids[2]]
    store.close()
