"""Item 16: a day's recap of several cameras against one, timed on memories built as a camera leaves them."""
from bench.recap import recap_cost
from stream.engine import Engine, EngineConfig


def test_a_recap_of_four_cameras_names_them_all_and_covers_the_day(llm, embedder, model_config, tmp_path):
    engine = Engine(EngineConfig(model=model_config), llm=llm, embedder=embedder)
    x = recap_cost(tmp_path, engine, (1, 4), hours=24.0, clip_s=600.0, visit_every=1800.0, visit_s=700.0, rounds=3)
    one, four = x["rows"]
    assert one["named"] == ["cam0"] and four["named"] == ["cam0", "cam1", "cam2", "cam3"]
    assert (one["clips"], four["clips"]) == (144, 576)
    # a visit every half hour, each an alert and an activity span, each touching two clips (both captioned)
    assert (one["alerts"], one["activity_spans"], one["captions"]) == (48, 48, 96)
    assert (four["alerts"], four["captions"]) == (4 * 48, 4 * 96)
    assert all(r["hours"] >= 24 and r["hours_cover_s"] >= 24 * 3600 for r in x["rows"])
    assert one["summaries"] == four["summaries"] == 0             # summaries off: facts only, no model
    assert one["ratio"] == 1.0 and four["ratio"] > 0 and four["s"] > 0 and len(four["spread_s"]) == 2
