"""Time labels: stream time for files, local date and time for live clips."""
import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from stream.clock import clip_label, span_label, when_label

# A fixed zone 5:30 east of UTC, as a POSIX TZ string (needs no tz database): a label that came out in UTC, or in
# the machine's own zone, differs from what is expected here.
ZONE = "XST-5:30"
LOCAL = timezone(timedelta(hours=5, minutes=30))


def wall(*when) -> float:
    """Unix seconds of a local time in ZONE."""
    return datetime(*when, tzinfo=LOCAL).timestamp()


@pytest.fixture
def zone():
    before = os.environ.get("TZ")
    os.environ["TZ"] = ZONE
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


class Clip:
    def __init__(self, start, end, wall_start=None, wall_end=None):
        self.start, self.end, self.wall_start, self.wall_end = start, end, wall_start, wall_end


def test_a_moment_is_local_date_and_time_when_its_wall_time_is_known(zone):
    assert when_label(75.0, None) == "00:01:15"
    assert when_label(75.0, wall(2026, 11, 22, 14, 3, 10)) == "2026-11-22 14:03:10"
    assert when_label(75.0, wall(2026, 11, 22, 14, 3, 10) + 0.6) == "2026-11-22 14:03:11"   # rounded, as stream time


def test_a_live_span_names_its_date_once_unless_it_crosses_midnight(zone):
    w = wall(2026, 11, 22, 14, 3, 10)
    assert clip_label(Clip(64.0, 72.0, w, w + 8)) == "2026-11-22 14:03:10-14:03:18"
    late = wall(2026, 11, 22, 23, 59, 58)
    assert clip_label(Clip(64.0, 70.0, late, late + 6)) == "2026-11-22 23:59:58-2026-11-23 00:00:04"
    assert span_label(64.0, 72.0, w, w + 8, sep=" - ") == "2026-11-22 14:03:10 - 14:03:18"


def test_a_file_span_is_stream_time_and_one_known_wall_end_gives_the_other(zone):
    assert clip_label(Clip(64.0, 72.0)) == "00:01:04-00:01:12"
    w = wall(2026, 11, 22, 14, 3, 10)
    assert span_label(64.0, 72.0, w, None) == span_label(64.0, 72.0, None, w + 8) == "2026-11-22 14:03:10-14:03:18"
