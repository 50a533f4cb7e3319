"""Review items: a camera's alerts grouped per activity span (Frigate's review model)."""
import pytest

from stream.config import ReviewConfig
from stream.service.alerts import Alert
from stream.service.reviews import group, page


def alert(kind, t, camera="door", wall=None, clip=None, severity=None, thumb=None, **kw):
    a = Alert(kind, camera, t, kind, clip=clip, severity=severity, thumbnail=thumb, wall_time=wall, **kw)
    a.wall = 1000.0 + t                  # raised in stream order
    return a


def test_alerts_of_one_activity_span_are_one_item_with_its_times_top_severity_and_thumbnail():
    start = alert("activity_start", 10.0, severity="notice", thumb=b"start", clip=(4, 8.0, 16.0))
    early = alert("activity_start", 21.0, clip=(4, 8.0, 16.0))    # a span of its own though its clip overlaps the first
    rule = alert("rule", 8.0, clip=(4, 8.0, 16.0), severity="warning", thumb=b"rule", rule="a person enters")
    cut = alert("scene_change", 15.0)
    later = alert("activity_start", 40.0, thumb=b"later", clip=(5, 38.0, 46.0))   # its description's clip
    lone = alert("scene_change", 90.0)
    other = alert("activity_start", 12.0, camera="yard")
    items = group([start, rule, cut, early, later, lone, other], {"door": [(10.0, 20.0), (21.0, 25.0), (40.0, 45.0)]})
    got = {(r.camera, r.start, r.end): [a.id for a in r.alerts] for r in items}
    assert got == {("door", 10.0, 20.0): [rule.id, start.id, cut.id],     # the rule's clip overlaps the span
                   ("door", 21.0, 25.0): [early.id],
                   ("door", 40.0, 45.0): [later.id], ("door", 90.0, 90.0): [lone.id],
                   ("yard", 12.0, 12.0): [other.id]}                       # no span known: its moment
    first = next(r for r in items if r.start == 10.0)
    assert first.span and first.severity == "warning" and first.thumbnail == b"rule" and first.id == rule.id
    assert [r.start for r in items] == [90.0, 40.0, 21.0, 12.0, 10.0]              # newest first
    assert next(r for r in items if r.start == 40.0).severity is None       # not described yet


def test_alerts_outside_spans_join_when_close_and_never_across_a_span():
    cuts = [alert("scene_change", t) for t in (1.0, 5.0, 21.0, 80.0)]
    inside = alert("activity_start", 30.0)
    after = alert("scene_change", 36.0)
    items = group(cuts + [inside, after], {"door": [(30.0, 32.0)]}, ReviewConfig(join=15.0))
    assert sorted([a.time for a in r.alerts] for r in items) == [[1.0, 5.0], [21.0], [30.0], [36.0], [80.0]]
    # a cut every 10 s for a minute: an item per 15 s from its first, not one that grows forever
    storm = group([alert("scene_change", t) for t in range(0, 60, 10)], {}, ReviewConfig(join=15.0))
    assert sorted([a.time for a in r.alerts] for r in storm) == [[0, 10], [20, 30], [40, 50]]


def test_an_update_replaces_its_alert_and_wall_times_order_cameras():
    a = alert("activity_start", 10.0, wall=5000.0)
    described = alert("activity_start", 10.0, wall=5000.0, severity="critical", description="a fire", update=True)
    described.id = a.id
    b = alert("activity_start", 500.0, camera="yard", wall=4000.0)        # later by stream time, earlier by clock
    items = group([a, described, b], {"door": [(10.0, 12.0)]})
    assert [r.camera for r in items] == ["door", "yard"]
    assert items[0].alerts == [described] and items[0].severity == "critical"
    assert items[0].wall(items[0].end) == 5002.0


def test_pages_follow_an_item_id():
    items = group([alert("scene_change", t) for t in range(0, 500, 100)], {})
    assert len(items) == 5
    one = page(items, 2)
    two = page(items, 2, one[-1].id)
    assert [r.start for r in one + two] == [400.0, 300.0, 200.0, 100.0]
    assert page(items, 2, two[-1].id)[0].start == 0.0
    with pytest.raises(KeyError):
        page(items, 2, "nope")
    with pytest.raises(ValueError):
        ReviewConfig(join=float("nan"))
