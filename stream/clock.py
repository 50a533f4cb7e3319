"""Stream times as people write them: seconds <-> HH:MM:SS; the local date and time of live clips; the labels a
question's prompt and answer carry (its time span, the time now)."""
import math
from datetime import datetime
from typing import TYPE_CHECKING

from memory.clip import TIME_EPSILON  # noqa: F401  (one moment: the comparisons of times above memory use it)

if TYPE_CHECKING:
    from memory.clip import ClipMemory
    from memory.when import TimeSpan


def clock_label(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def parse_clock(text: str) -> float:
    """Seconds from "75", "1:15", "00:01:15" or "00:01:15.5"; ValueError with the text otherwise."""
    try:
        parts = [float(p) for p in str(text).strip().split(":")]
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or any(not math.isfinite(p) or p < 0 for p in parts):
        raise ValueError(f"not a time: {text!r} (use seconds or HH:MM:SS)")
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


def when_label(start: float, wall: float | None) -> str:
    """A moment as people read it: local date and time "YYYY-MM-DD HH:MM:SS" where its wall-clock time is known (live
    and pushed frames), else its stream time "HH:MM:SS" (a file, whose recording time is unknown)."""
    if wall is None:
        return clock_label(start)
    return datetime.fromtimestamp(round(wall)).strftime("%Y-%m-%d %H:%M:%S")


def span_label(start: float, end: float, wall_start: float | None = None, wall_end: float | None = None,
               sep: str = "-") -> str:
    """A span of stream: "2026-11-22 14:03:10-14:03:18" for a live span within one day (the date once), both dates
    when it crosses midnight, "00:01:04-00:01:12" by stream time when no wall time is known. One known wall end gives
    the other by the span's stream length, so a span is never labelled half in one clock and half in the other."""
    if wall_start is None and wall_end is None:
        return f"{clock_label(start)}{sep}{clock_label(end)}"
    if wall_start is None:
        wall_start = wall_end - (end - start)
    elif wall_end is None:
        wall_end = wall_start + (end - start)
    a, b = when_label(start, wall_start), when_label(end, wall_end)
    return f"{a}{sep}{b[11:] if a[:10] == b[:10] else b}"


def clip_label(clip: "ClipMemory", sep: str = "-") -> str:
    """A clip's span: by wall clock where it was recorded live, else by stream time."""
    return span_label(clip.start, clip.end, clip.wall_start, clip.wall_end, sep)


def time_now(now: float, clips: "list[ClipMemory]") -> str:
    """The "Time now" of a question asked at stream time `now`, in the clock its clips are labelled in: where the
    newest clip was recorded live, `now` is put on the wall clock by that clip's offset (wall - stream time), so
    "how long ago" reads against the same clock as the clip labels; otherwise stream time."""
    newest = max(clips, key=lambda c: (c.end, c.id or 0), default=None)
    if newest is None or newest.wall_end is None:
        return when_label(now, None)
    return when_label(now, newest.wall_end + (now - newest.end))


def span_text(span: "TimeSpan") -> str:
    """A question's time span as people read it: "14:00 to 15:00" of a day, or stream time for a file."""
    # A file's clock starts at 0: a span before its start ("an hour ago", a minute in) reads from 0.
    ends = [t if t is None or span.wall else max(t, 0.0) for t in (span.start, span.end)]
    walls = ends if span.wall else [None, None]
    if ends[1] is None:                      # open-ended: begins later than now
        return f"from {when_label(ends[0], walls[0])} on"
    return (span_label(ends[0], ends[1], *walls, sep=" to ") if ends[0] is not None
            else f"the start to {when_label(ends[1], walls[1])}")
