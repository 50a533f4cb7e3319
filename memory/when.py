"""Time in a question: "what happened 10 minutes ago?", "was anyone here at 3 pm?", "since this morning?", "in the
first 30 seconds?". `parse_when` finds such a phrase and turns it into the span of stream it asks about, so that the
question is answered from that span's clips only.

The dates and times inside a phrase ("3 pm", "yesterday", "monday at 2 pm", "ten minutes ago") are dateparser's to
read; the shape around them ("since X", "between A and B", "in the last N minutes", a window around a moment) is ours.
dateparser only ever sees a phrase our patterns picked out: run over a whole question it finds dates in ordinary
words ("what may I see now?" gives May and now).

What it reads, live (Unix seconds, local wall clock) and in a file (stream seconds):
    "N <unit> ago"                      a window around that moment (both)
    "in the last N <unit>", "over the past hour", "the last 10 seconds"     [now - N, now] (both)
    "in the first N <unit>"             [0, N] of stream time (both: on a camera, of each of its runs)
    "at 3 pm", "yesterday at noon"      a window around it (live only)
    "at 2:30", "at 1:02:30"             live: a clock time; a file: mm:ss / hh:mm:ss into it, a window around it
    "at 90 seconds", "after 1 minute"   a position in stream time (both)
    "14:03:10-14:03:18", "2026-12-03 14:03:10"      a span or a moment as the page labels one (both)
    "this morning", "last night", "tonight", "monday afternoon"     that part of the day (live only)
    "today", "yesterday", "on monday", "on March 3"     that day (live only)
    "at 10", "at 7 o'clock"             the latest such hour, am or pm, before now (live only)
    "a few minutes ago", "a couple of hours ago"       3 and 2 of them ago
    "since X" [X, now], "after X" [end of X, now], "before X" [-, X], "until X" [-, end of X], "between A and B"
Not read: an hour with no "at" ("3 o'clock"), future times ("in 10 minutes"), other languages. One phrase decides: of two times in a question, the one of the shape listed first
above ("between", then "since"/"after"/..., "first", "last", a moment), else the one said first.
"""
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from memory.config import WhenConfig


@dataclass
class TimeSpan:
    """The span of stream a question asks about: the clips overlapping it are its clips."""
    start: float | None      # None: from the stream's beginning
    end: float | None        # None: up to now
    phrase: str              # the question's words it was read from, e.g. "since this morning"
    wall: bool               # True: Unix seconds (a live stream's wall clock); False: stream seconds
    # The span begins after now ("after 5 minutes" of a 30 s file, "tonight" asked in the morning): nothing can be
    # in it yet, and its end is left open (None).
    later: bool = False


@dataclass
class _Moment:
    """A time a phrase names: a point (lo == hi, with the window a bare mention of it gets) or a range [lo, hi]."""
    lo: float
    hi: float
    wall: bool
    window: float = 0.0


@dataclass
class _Now:
    """What a phrase is read against."""
    stream: float
    wall: float | None           # None: a file, whose recording time is unknown
    tz: tzinfo | None            # None: the machine's local time
    config: WhenConfig

    @property
    def live(self) -> bool:
        return self.wall is not None

    def ref(self, wall: bool) -> float:
        return self.wall if wall else self.stream

    def local(self, t: float) -> datetime:
        """Unix seconds as a naive local wall-clock reading."""
        return datetime.fromtimestamp(t, self.tz).replace(tzinfo=None)

    def unix(self, local: datetime) -> float:
        """A naive local wall-clock reading as Unix seconds (its UTC offset is the one of that day, not of now)."""
        return (local.replace(tzinfo=self.tz) if self.tz is not None else local).timestamp()


_NUM = r"(?:\d+(?:\.\d+)?|half\s+an?|(?:a\s+)?quarter\s+of\s+an?|(?:a\s+)?couple\s+of|a\s+few|[a-z]+)"
_UNIT = r"(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?)"
_DUR = rf"{_NUM}\s+{_UNIT}(?:,?\s+(?:and\s+)?{_NUM}\s+{_UNIT})*"
_AMPM = r"[ap]\.?m\.?"
_CLOCK = r"\d{1,2}(?::[0-5]\d){1,2}"
_TIME = rf"(?:{_CLOCK}(?:\s*{_AMPM})?|\d{{1,2}}\s*{_AMPM}|noon|midnight)"
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_ORD = r"\d{1,2}(?:st|nd|rd|th)?"
# "on March 3", "the 3rd of March", and the page's own labels' "2026-12-03"
_DATE = rf"(?:on\s+)?(?:{_MONTH}\s+{_ORD}|(?:the\s+)?{_ORD}\s+(?:of\s+)?{_MONTH}|\d{{4}}-\d{{2}}-\d{{2}})"
_DAY = rf"(?:today|(?:the\s+day\s+before\s+)?yesterday|(?:on\s+|last\s+)?{_WEEKDAY}|{_DATE})"
_PART = r"(?:morning|afternoon|evening|night)"
# One moment. "pos" (a duration read as a position in stream time: "after 1 minute") only after a word that makes it
# one; on its own ("it took 5 minutes") it is no time.
_AGO = rf"(?P<ago>{_DUR})\s+ago"
_AT = rf"(?:(?P<day_before>{_DAY})\s+)?(?:(?:at|around|about)\s+)?(?P<time>{_TIME})(?:\s+(?P<day_after>{_DAY}))?"
# An hour alone after "at" ("at 10", "at 7 o'clock"): the latest such hour of the clock, am or pm, not after now.
_HOUR = r"at\s+(?P<hour>1[0-2]|0?[1-9])(?:\s+o'?clock)?"
_DAYPART = rf"(?P<part_day>this|last|yesterday|{_WEEKDAY})\s+(?P<part>{_PART})|(?P<tonight>tonight)"
_WHOLE_DAY = rf"(?P<day>{_DAY})"
_LABEL = rf"(?:\d{{4}}-\d{{2}}-\d{{2}}\s+)?{_CLOCK}"
_POS = rf"(?P<pos>{_DUR})"
_MOMENT = re.compile("|".join((_AGO, _AT, _HOUR, _DAYPART, _WHOLE_DAY, _POS)))


def _embed(*alternatives: str) -> str:
    """Moment patterns to embed in a phrase's: names dropped (a phrase may hold two), whole words only."""
    return r"(?<![\w:.])(?:" + re.sub(r"\(\?P<\w+>", "(?:", "|".join(alternatives)) + r")(?![\w:])"


_M = _embed(_AGO, _AT, _HOUR, _DAYPART, _WHOLE_DAY, _POS)
_M_BARE = _embed(_AGO, _AT, _HOUR, _DAYPART, _WHOLE_DAY)
_DURING = r"(?:(?:in|during|over|within|for)\s+)?"
# The shapes of a phrase, tried in this order; within one, from the question's start.
_SHAPES = [(name, re.compile(pattern)) for name, pattern in (
    ("between", rf"\b(?:between|from)\s+(?P<a>{_M}|\d{{1,2}}(?::\d{{2}})?)\s+(?:and|to|until|till)\s+(?P<b>{_M})"),
    # A span as the page labels a clip: "14:03:10-14:03:18", "2026-12-03 14:03:10-14:03:18", "00:01:04-00:01:12".
    ("between", rf"(?<![\w:.-])(?P<a>{_LABEL})\s*[-\u2013]\s*(?P<b>{_LABEL})(?![\w:])"),
    ("op", rf"\b(?P<op>since|after|before|until|till)\s+(?P<x>{_M})"),
    ("first", rf"\b{_DURING}(?:the\s+)?first\s+(?P<d>{_DUR}|{_UNIT})\b"),
    # Not "before the last hour": that is the time before it, which no span here says.
    ("last", rf"(?<!before )(?<!before the )\b{_DURING}(?:the\s+)?(?:last|past)\s+(?P<d>{_DUR}|{_UNIT})\b"),
    ("bare", rf"(?P<x>{_M_BARE})"),
    # "at 90 seconds" is a position; "about 10 minutes" is a length ("did they stay for about 10 minutes?").
    ("at", rf"\bat\s+(?P<x>{_embed(_POS)})"),
)]
# Durations dateparser does not read, said the way it does.
_SPOKEN = [(re.compile(p), s) for p, s in ((r"half\s+an\s+hour", "30 minutes"), (r"half\s+a\s+minute", "30 seconds"),
                                             (r"half\s+a\s+day", "12 hours"),
                                             (r"(?:a\s+)?quarter\s+of\s+an\s+hour", "15 minutes"),
                                             (r"a\s+few", "3"), (r"(?:a\s+)?couple\s+of", "2"))]
# Durations are measured against this fixed reading: naive, so no DST change falls inside one.
_EPOCH = datetime(2001, 1, 1)


def parse_when(question: str, now: float, wall_now: float | None, tz: tzinfo | None = None,
               config: WhenConfig | None = None) -> TimeSpan | None:
    """The span of stream a question's time phrase asks about, or None when it has none (it then sees everything).

    now: stream seconds of "now" (the question's `until`, or the stream's newest time); wall_now: the same moment in
    Unix seconds for a live stream, None for a file. Live spans are on the local wall clock of `tz` (a PEP 495 tzinfo
    such as zoneinfo.ZoneInfo, not pytz; None: the machine's local time, the clock the clip labels are in) and come in
    Unix seconds (`wall`); a file's in stream seconds. On a file, a phrase only the wall clock can place ("at 3 pm",
    "this morning", "yesterday") gives None, not an error: when the file was recorded is unknown. A span reaching
    past now ends at now."""
    c = config or WhenConfig()
    clock = _Now(now, wall_now, tz, c)
    text = " ".join(question.lower().split())
    for shape, pattern in _SHAPES:
        for m in pattern.finditer(text):
            if shape == "bare" and re.fullmatch(_CLOCK, m[0].strip()):
                continue             # "2:10" alone is a score, a ratio or a version as often as a time: a cue says
            try:
                span = _span(shape, m, clock)
            except (ValueError, OverflowError, OSError):
                continue             # a moment no clock can hold ("99999 weeks ago" on a camera)
            if span is not None and span.wall and span.end is not None and span.end < 0:
                continue             # wholly before 1970: nothing recorded
            if span is not None:
                if span.wall and span.start is not None:
                    span.start = max(span.start, 0.0)
                return _up_to_now(span, clock)
    return None


def clock_time(text: str, now: float, tz: tzinfo | None = None) -> float | None:
    """Unix seconds of a local wall-clock time written as the page labels one: "14:03:10" or "14:03" (the latest such
    time not after `now`: today's, or yesterday's if today's is still to come), or "2026-12-03 14:03:10" (that day's,
    "T" between allowed). None for any other text. `tz` as in `parse_when` (None: the machine's local time)."""
    text = text.strip()
    clock = _Now(0.0, now, tz, WhenConfig())
    m = re.fullmatch(r"(?:(\d{4}-\d{2}-\d{2})[ T])?(\d{1,2}):([0-5]\d)(?::([0-5]\d(?:\.\d+)?))?", text)
    if m is None or int(m[2]) > 23:
        return None
    hour, minute, second = int(m[2]), int(m[3]), float(m[4] or 0)
    if m[1]:
        try:
            day = date.fromisoformat(m[1])
        except ValueError:
            return None
    else:
        day = clock.local(now).date()
    local = datetime.combine(day, time(hour, minute)) + timedelta(seconds=second)
    if not m[1] and clock.unix(local) > now:
        local -= timedelta(days=1)
    return clock.unix(local)


def wall_only(question: str, now: float, config: WhenConfig | None = None) -> str | None:
    """The phrase of a question about a file that only a wall clock could place ("at 10 pm", "this morning",
    "yesterday"): a file's recording time is unknown, so `parse_when` reads no span from it. None when the question
    has no such phrase (or one the file's own clock reads)."""
    import time as clock
    if parse_when(question, now, None, config=config) is not None:
        return None
    span = parse_when(question, now, clock.time(), config=config)
    return span.phrase if span is not None and span.wall else None


def _span(shape: str, m: re.Match, now: _Now) -> TimeSpan | None:
    phrase = m[0].strip()
    if shape in ("first", "last"):
        d = m["d"]
        seconds = _seconds(f"1 {d}" if re.fullmatch(_UNIT, d) else d)
        if seconds is None:
            return None
        if shape == "first":
            return TimeSpan(0.0, seconds, phrase, False)
        return TimeSpan(now.ref(now.live) - seconds, now.ref(now.live), phrase, now.live)
    if shape == "between":
        a, b = _between(m["a"], m["b"], now)
        if a is None or b is None or a.wall != b.wall or a.lo > b.hi:
            return None
        return TimeSpan(a.lo, b.hi, phrase, a.wall)
    if m.groupdict().get("op") in ("before", "until", "till") and now.live:
        # "before noon" asked at 11:00 is today's noon, not yesterday's: a clock time here is today's.
        x = _moment(m["x"], now, base=datetime.combine(now.local(now.wall).date(), time()), prefer="future")
    else:
        x = _moment(m["x"], now)
    if x is None:
        return None
    if shape in ("at", "bare"):
        if x.lo == x.hi:
            return TimeSpan(x.lo - x.window / 2, x.hi + x.window / 2, phrase, x.wall)
        return TimeSpan(x.lo, x.hi, phrase, x.wall)
    if m["op"] == "since":
        return TimeSpan(x.lo, now.ref(x.wall), phrase, x.wall)
    if m["op"] == "after":
        return TimeSpan(x.hi, now.ref(x.wall), phrase, x.wall)
    if m["op"] == "before":
        return TimeSpan(None, x.lo, phrase, x.wall)
    return TimeSpan(None, x.hi, phrase, x.wall)              # until, till


def _between(a: str, b: str, now: _Now) -> tuple[_Moment | None, _Moment | None]:
    """The two ends of "between A and B". A bare number takes B's "pm" or unit ("between 2 and 3 pm"); a clock time
    B is the first such time after A, so "between 11 pm and 1 am" crosses midnight and "between 10 am and 3 pm" at
    noon is today's."""
    if re.fullmatch(r"\d{1,2}(?::\d{2})?", a):
        suffix = re.search(rf"\s*({_AMPM}|{_UNIT})$", b)
        a = a + " " + suffix[1] if suffix else a
    first = _moment(a, now)
    if first is None:
        return None, None
    at = _MOMENT.fullmatch(b)
    if first.wall and at is not None and at["time"] and not (at["day_before"] or at["day_after"]):
        return first, _moment(b, now, base=now.local(first.lo), prefer="future")
    return first, _moment(b, now)


def _moment(text: str, now: _Now, base: datetime | None = None, prefer: str = "past") -> _Moment | None:
    """What one moment phrase names; None where it reads as no time, or (a file) only as a wall-clock one."""
    m, c = _MOMENT.fullmatch(text), now.config
    if m is None:
        return None
    if m["ago"]:
        d = _seconds(m["ago"])
        if d is None:
            return None
        t = now.ref(now.live) - d
        return _Moment(t, t, now.live, max(c.second_window, c.ago_fraction * d))
    if m["pos"]:
        d = _seconds(m["pos"])
        return None if d is None else _Moment(d, d, False, c.second_window)
    if m["hour"]:
        if not now.live:
            return None                      # a file: "at 10" is no clock time, nor plainly a position
        h, today = int(m["hour"]) % 12, now.local(now.wall).replace(minute=0, second=0, microsecond=0)
        tried = [today.replace(hour=h + half) - timedelta(days=d) for d in (0, 1) for half in (0, 12)]
        when = max(t for t in tried if now.unix(t) <= now.wall)
        return _Moment(now.unix(when), now.unix(when), True, c.clock_window)
    if not now.live:
        # A file knows only its own clock: "2:30" is 2 min 30 s into it; days and "pm" are the wall clock's.
        if m["time"] and re.fullmatch(_CLOCK, m["time"]) and not (m["day_before"] or m["day_after"]):
            t = sum(float(p) * 60 ** i for i, p in enumerate(reversed(m["time"].split(":"))))
            return _Moment(t, t, False, c.second_window)
        return None
    if m["time"]:
        words = " ".join(w for w in (m["day_before"], m["time"], m["day_after"]) if w)
        when = _parse(words, base or now.local(now.wall), prefer)
        return None if when is None else _Moment(now.unix(when), now.unix(when), True, c.clock_window)
    if m["part"] or m["tonight"]:
        part = m["part"] or "tonight"
        word = {"this": "today", "last": "yesterday", None: "today"}.get(m["part_day"], m["part_day"])
        day = _day(word, now)
        # Just after midnight, "tonight" is still the night that began yesterday.
        if day is not None and word == "today" and part in ("night", "tonight") and \
                now.local(now.wall).hour < c.morning_from:
            day -= timedelta(days=1)
        hours = {"morning": (c.morning_from, c.afternoon_from), "afternoon": (c.afternoon_from, c.evening_from),
                 "evening": (c.evening_from, c.night_from), "night": (c.night_from, 24 + c.morning_from),
                 "tonight": (c.evening_from, 24 + c.morning_from)}[part]
        return None if day is None else _range(day, *hours, now)
    day = _day(m["day"], now)
    return None if day is None else _range(day, 0, 24, now)


def _range(day: date, from_hour: int, to_hour: int, now: _Now) -> _Moment:
    """From one local hour of a day to another (past 24: the next day's), by the wall clock of each end: a day with
    a DST change is 23 or 25 hours long."""
    midnight = datetime.combine(day, time())
    return _Moment(now.unix(midnight + timedelta(hours=from_hour)), now.unix(midnight + timedelta(hours=to_hour)),
                   True)


def _day(word: str, now: _Now) -> date | None:
    if word == "today":
        return now.local(now.wall).date()
    when = _parse(word, now.local(now.wall), "past")
    return None if when is None else when.date()


def _seconds(duration: str) -> float | None:
    """Seconds in "10 minutes", "an hour", "1 hour 30 minutes", "half an hour"; None for what is no duration."""
    for pattern, said in _SPOKEN:
        duration = pattern.sub(said, duration)
    when = _parse(f"{duration} ago", _EPOCH, "past")
    return None if when is None or when >= _EPOCH else (_EPOCH - when).total_seconds()


def _parse(words: str, base: datetime, prefer: str) -> datetime | None:
    """dateparser's reading of a phrase as a naive local wall-clock time, against `base` (naive local too). Naive on
    purpose: with TIMEZONE UTC it converts nothing, so the UTC offset of the day it lands on is ours to apply
    (dateparser's own time-zone-aware arithmetic gives "yesterday" across a DST change today's offset)."""
    import dateparser  # loads its language data: only when a question has a time phrase
    return dateparser.parse(words, languages=["en"], settings={
        "RELATIVE_BASE": base, "PREFER_DATES_FROM": prefer, "TIMEZONE": "UTC", "RETURN_AS_TIMEZONE_AWARE": False})


def _up_to_now(span: TimeSpan, now: _Now) -> TimeSpan:
    """A span reaching past now ends at now (nothing later is stored); stream time starts at 0. A span wholly in the
    future ("tonight", asked in the morning) is marked `later`; one before a file's start ("an hour ago", 5 minutes
    into it) is kept as it is: neither has clips."""
    ref = now.ref(span.wall)
    if span.start is not None and span.start > ref:
        span.later = True
        if span.end is not None and span.end < span.start:      # "after X" ends at now, before X: no such span
            span.end = None
    if span.end is not None and span.end > ref and (span.start is None or span.start <= ref):
        span.end = ref
    if not span.wall and span.start is not None and (span.end is None or span.end >= 0):
        span.start = max(0.0, span.start)
    return span
