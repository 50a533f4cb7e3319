"""Review items: what a person looks at instead of single alerts (Frigate's review model). One item per activity
span of a camera, holding the alerts raised in it (its start, the watch rules that fired on its clips, cuts inside
it, their descriptions), the span's start and end, the top severity and a thumbnail. Alerts outside any span join
the item before them when close to its start (`ReviewConfig.join`), else make their own.

`group` is a pure function of the alerts and the cameras' activity spans (stream seconds, from the detectors'
START/END events: `stream.events.activity_spans`), so the page and the API group the same way."""
from dataclasses import dataclass, field

from stream.clock import TIME_EPSILON
from stream.config import ReviewConfig
from stream.events import activity_spans
from stream.service.alerts import Alert
from stream.service.verifier import SEVERITIES  # lowest first


@dataclass
class Review:
    camera: str
    start: float                   # stream seconds: the activity span's start, or (no span) its first alert's
    end: float                     # the span's end (an open span: its end so far), or its last alert's
    alerts: list[Alert] = field(default_factory=list)    # oldest first
    span: bool = False             # True: an activity span holds it; False: alerts outside any span

    @property
    def id(self) -> str:
        """The id of its first alert as raised: stable while alerts join it."""
        return min(self.alerts, key=lambda a: a.wall).id

    @property
    def severity(self) -> str | None:
        """The top severity of its alerts (their descriptions'), None while none is described."""
        known = [a.severity for a in self.alerts if a.severity in SEVERITIES]
        return max(known, key=SEVERITIES.index, default=None)

    @property
    def top(self) -> Alert:
        """The alert that speaks for it: the most severe, then a fired rule, then the first."""
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        return max(self.alerts, key=lambda a: (rank.get(a.severity, -1), a.kind == "rule", -self.alerts.index(a)))

    @property
    def thumbnail(self) -> bytes | None:
        shown = [a for a in [self.top] + self.alerts if a.thumbnail]
        return shown[0].thumbnail if shown else None

    def wall(self, t: float) -> float | None:
        """The wall-clock time of stream second `t` by its alerts' own offsets (live cameras); None for files."""
        known = [a for a in self.alerts if a.wall_time is not None]
        return None if not known else known[0].wall_time + (t - known[0].time)

    @property
    def order(self) -> float:
        """What newest-first sorts by: its start by the wall clock where known, else by stream time."""
        w = self.wall(self.start)
        return self.start if w is None else w


def _span_of(a: Alert, known: list[tuple[float, float]]) -> int | None:
    """The index of the span an alert belongs to: the one its moment falls in, else (a rule, whose moment is its
    clip's start) the first its clip overlaps. An event's alert carries its description's clip too, which may reach
    into the next span: its moment decides."""
    def find(lo: float, hi: float) -> int | None:
        return next((i for i, (s, e) in enumerate(known) if lo <= e + TIME_EPSILON and hi >= s - TIME_EPSILON), None)
    k = find(a.time, a.time)
    return find(a.clip[1], a.clip[2]) if k is None and a.kind == "rule" and a.clip is not None else k


def group(alerts: list[Alert], spans: dict[str, list[tuple[float, float]]],
          config: ReviewConfig | None = None) -> list[Review]:
    """Alerts of any cameras -> review items, newest first. `spans`: each camera's activity spans (start, end) in
    stream seconds, oldest first; a camera missing from it has none known. An alert belongs to the span its moment
    falls in (a rule's clip: the span it overlaps); duplicates by id (an alert and its update) count once, the
    latest sent kept."""
    join = (config or ReviewConfig()).join
    latest: dict[str, Alert] = {}
    for a in alerts:
        if a.id not in latest or a.update:          # an update carries the description: it replaces the alert
            latest[a.id] = a
    items: list[Review] = []
    by_camera: dict[str, list[Alert]] = {}
    for a in latest.values():
        by_camera.setdefault(a.stream, []).append(a)
    for camera, got in by_camera.items():
        known = spans.get(camera, [])
        open_by_span: dict[int, Review] = {}
        loose: Review | None = None
        for a in sorted(got, key=lambda a: (a.time, a.wall)):
            k = _span_of(a, known)
            if k is not None:
                loose = None                         # alerts after a span do not join what came before it
                item = open_by_span.get(k)
                if item is None:
                    item = open_by_span[k] = Review(camera, known[k][0], known[k][1], span=True)
                    items.append(item)
            elif loose is not None and a.time - loose.start <= join + TIME_EPSILON:
                item = loose
            else:
                item = loose = Review(camera, a.time, a.time)
                items.append(item)
            item.alerts.append(a)
            if not item.span:                        # a span's times are its own; a rule's clip may overhang it
                item.end = max(item.end, a.time)
    items.sort(key=lambda r: r.order, reverse=True)
    return items


def spans_of(watchers) -> dict[str, list[tuple[float, float]]]:
    """Each camera's activity spans from its event history (a span still open ends at its newest step); a span older
    than the history is not known, and its alerts group by time alone."""
    out = {}
    for w in watchers:
        series, events = w.series()
        now = series[-1].end if series else None
        out[w.spec.name] = [(s["start"], s["end"]) for s in activity_spans(events, now)]
    return out


def page(items: list[Review], limit: int, before: str | None = None) -> list[Review]:
    """`limit` items after the one of id `before` (the next page), newest first. KeyError for an id not held."""
    if before is not None:
        at = next((i for i, r in enumerate(items) if r.id == before), None)
        if at is None:
            raise KeyError(before)
        items = items[at + 1:]
    return items[:limit]
