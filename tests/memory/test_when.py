"""Times in questions: live ones on the local wall clock (Unix seconds), a file's on its own clock (stream seconds)."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from memory.config import WhenConfig
from memory.when import TimeSpan, parse_when
from tests.stream import test_clock
from tests.stream.test_clock import wall

BERLIN = ZoneInfo("Europe/Berlin")      # DST: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00
zone = test_clock.zone                  # a fixture: the machine's time zone set to a fixed one
PLAIN = ["what is the man holding?", "is the door open?", "what happened?", "what may I see now?", "did a car park?",
         "who came in first?", "what did the last person carry?", "how many minutes ago did it start?",
         "did anyone come in after the delivery?", "what is on the second floor?", "what happened in the past?",
         # lengths, scores and the time before a span are no span either
         "did the person stay for about 10 minutes?", "was it around an hour long?", "what is the score, 2:10?",
         "what happened before the last 5 minutes?"]


def at(*when) -> float:
    """Unix seconds of a local time in Berlin."""
    return datetime(*when, tzinfo=BERLIN).timestamp()


def live(question: str, *now, config: WhenConfig | None = None) -> TimeSpan | None:
    """The span of a question asked of a camera at local time `now` in Berlin (the stream 500 s into its run)."""
    return parse_when(question, 500.0, at(*now), BERLIN, config)


def ends(span: TimeSpan) -> tuple:
    return (span.start, span.end)


def test_a_question_without_a_time_has_no_span():
    for q in PLAIN:
        assert live(q, 2026, 6, 10, 11, 0) is None, q
        assert parse_when(q, 300.0, None) is None, q


@pytest.mark.parametrize("question, phrase, start, end", [
    ("what happened 10 minutes ago?", "10 minutes ago", (10, 47, 30), (10, 52, 30)),    # a window of half of 10 min
    ("what happened half an hour ago?", "half an hour ago", (10, 22, 30), (10, 37, 30)),
    ("was anyone here at 9 am?", "at 9 am", (8, 55), (9, 5)),
    ("was anyone here at 3 pm?", "at 3 pm", (-1, 14, 55), (-1, 15, 5)),     # not yet today: yesterday's
    ("yesterday at 3 pm?", "yesterday at 3 pm", (-1, 14, 55), (-1, 15, 5)),
    ("anything since this morning?", "since this morning", (5, 0), (11, 0)),
    ("what happened in the last hour?", "in the last hour", (10, 0), (11, 0)),
    ("anyone over the past 2 hours?", "over the past 2 hours", (9, 0), (11, 0)),
    ("what happened in the last 10 seconds", "in the last 10 seconds", (10, 59, 50), (11, 0)),
    ("who was here between 2 and 3 pm?", "between 2 and 3 pm", (-1, 14, 0), (-1, 15, 0)),
    ("who was here between 10 am and 3 pm?", "between 10 am and 3 pm", (10, 0), (11, 0)),   # today's, up to now
    ("between 11 pm and 1 am?", "between 11 pm and 1 am", (-1, 23, 0), (1, 0)),             # across midnight
    ("what happened yesterday?", "yesterday", (-1, 0, 0), (0, 0)),
    ("what happened today?", "today", (0, 0), (11, 0)),
    ("did a car come last night?", "last night", (-1, 21, 0), (5, 0)),
    ("what happened before 9 am?", "before 9 am", None, (9, 0)),
    ("what happened after 9 am?", "after 9 am", (9, 0), (11, 0)),
    ("what happened before noon?", "before noon", None, (11, 0)),       # today's noon, so up to now
    ("since 10 minutes ago?", "since 10 minutes ago", (10, 50), (11, 0)),
])
def test_live_phrases_on_the_local_wall_clock(question, phrase, start, end):
    """Asked on Wednesday 2026-06-10 at 11:00 in Berlin; (-1, h, m) is the day before."""
    def local(hm):
        if hm is None:
            return None
        day, hm = (9, hm[1:]) if hm[0] == -1 else (10, hm)
        return at(2026, 6, day, *hm)
    span = live(question, 2026, 6, 10, 11, 0)
    assert span == TimeSpan(local(start), local(end), phrase, True)


def test_a_part_of_the_day_not_yet_begun_has_a_span_after_now():
    span = live("what happened this afternoon?", 2026, 6, 10, 11, 0)
    assert ends(span) == (at(2026, 6, 10, 12), at(2026, 6, 10, 17)) and span.start > at(2026, 6, 10, 11)


def test_since_this_morning_early_and_late_is_todays_morning():
    """dateparser puts "this morning" at 09:00, so at 07:00 it is in the future (and "past" makes it yesterday's):
    the part of the day is ours, from 05:00."""
    assert ends(live("since this morning?", 2026, 6, 10, 7, 0)) == (at(2026, 6, 10, 5), at(2026, 6, 10, 7))
    assert ends(live("since this morning?", 2026, 6, 10, 11, 0)) == (at(2026, 6, 10, 5), at(2026, 6, 10, 11))
    early = live("since this morning?", 2026, 6, 10, 4, 0)            # not begun: a span with no clips
    assert early.start == at(2026, 6, 10, 5) and early.later and early.end is None


def test_tonight_just_after_midnight_is_the_night_that_began_yesterday():
    assert ends(live("anyone tonight?", 2026, 6, 10, 1, 0)) == (at(2026, 6, 9, 17), at(2026, 6, 10, 1))
    assert ends(live("anyone tonight?", 2026, 6, 10, 22, 0)) == (at(2026, 6, 10, 17), at(2026, 6, 10, 22))


def test_days_and_parts_of_the_day_follow_dst_changes():
    spring = at(2026, 3, 29, 7, 0)                        # 07:00 CEST, six real hours after midnight CET
    assert live("what happened today?", 2026, 3, 29, 7, 0).start == spring - 6 * 3600
    assert live("since this morning?", 2026, 3, 29, 7, 0).start == spring - 2 * 3600
    day = live("what happened yesterday?", 2026, 3, 30, 7, 0)
    assert ends(day) == (at(2026, 3, 29), at(2026, 3, 30)) and day.end - day.start == 23 * 3600
    day = live("what happened yesterday?", 2026, 10, 26, 7, 0)
    assert day.end - day.start == 25 * 3600
    # the day before a change keeps its own offset: yesterday 15:00 CET, not CEST
    assert live("yesterday at 3 pm", 2026, 3, 29, 7, 0).start == at(2026, 3, 28, 14, 55)
    night = live("did a car come last night?", 2026, 3, 29, 7, 0)
    assert ends(night) == (at(2026, 3, 28, 21), at(2026, 3, 29, 5)) and night.end - night.start == 7 * 3600


def test_ago_is_counted_in_real_seconds_across_a_dst_change():
    now = at(2026, 3, 29, 3, 5)                           # five minutes after the clocks jumped 02:00 -> 03:00
    span = live("what happened 10 minutes ago?", 2026, 3, 29, 3, 5)
    assert (span.start + span.end) / 2 == now - 600
    now = datetime(2026, 10, 25, 2, 5, fold=1, tzinfo=BERLIN).timestamp()   # the second 02:05 (CET)
    span = parse_when("what happened 10 minutes ago?", 500.0, now, BERLIN)
    assert (span.start + span.end) / 2 == now - 600        # 02:55 CEST; clock arithmetic says 01:55, 70 min before


@pytest.mark.parametrize("question, phrase, start, end", [
    ("what happened in the first 30 seconds?", "in the first 30 seconds", 0.0, 30.0),
    ("what happened after 1 minute?", "after 1 minute", 60.0, 300.0),
    ("what was there at 2:30?", "at 2:30", 145.0, 155.0),                 # mm:ss into the file
    ("what was there at 0:01:30?", "at 0:01:30", 85.0, 95.0),             # hh:mm:ss
    ("what was there at 90 seconds?", "at 90 seconds", 85.0, 95.0),
    ("what happened in the last 10 seconds?", "in the last 10 seconds", 290.0, 300.0),
    ("what happened 10 seconds ago?", "10 seconds ago", 285.0, 295.0),
    ("what happened 2 minutes ago?", "2 minutes ago", 150.0, 210.0),
    ("between 1:00 and 2:00?", "between 1:00 and 2:00", 60.0, 120.0),
    ("between 1 and 2 minutes?", "between 1 and 2 minutes", 60.0, 120.0),
    ("before 30 seconds?", "before 30 seconds", None, 30.0),
    ("since 10 minutes ago?", "since 10 minutes ago", 0.0, 300.0),        # before the start: from 0
])
def test_file_phrases_on_stream_time(question, phrase, start, end):
    assert parse_when(question, 300.0, None) == TimeSpan(start, end, phrase, False)


def test_wall_clock_phrases_on_a_file_give_no_span():
    for q in ["was anyone here at 3 pm?", "since this morning?", "what happened yesterday?", "between 2 and 3 pm?",
              "what happened today?", "did a car come last night?", "at 2:30 pm?"]:
        assert parse_when(q, 300.0, None) is None, q


def test_a_moment_before_a_files_start_has_a_span_no_clip_overlaps():
    span = parse_when("what happened an hour ago?", 300.0, None)
    assert span.end < 0


def test_the_first_seconds_of_a_camera_are_its_stream_time():
    assert live("in the first 30 seconds?", 2026, 6, 10, 11, 0) == TimeSpan(0.0, 30.0, "in the first 30 seconds",
                                                                           False)


def test_the_windows_are_the_configs():
    config = WhenConfig(clock_window=120.0, ago_fraction=0.1, morning_from=6)
    assert ends(live("at 9 am?", 2026, 6, 10, 11, 0, config=config)) == (at(2026, 6, 10, 8, 59), at(2026, 6, 10, 9, 1))
    assert ends(live("an hour ago?", 2026, 6, 10, 11, 0, config=config)) == (at(2026, 6, 10, 9, 57),
                                                                              at(2026, 6, 10, 10, 3))
    assert live("since this morning?", 2026, 6, 10, 11, 0, config=config).start == at(2026, 6, 10, 6)
    with pytest.raises(ValueError, match="positive"):
        WhenConfig(clock_window=0.0)
    with pytest.raises(ValueError, match="morning_from"):
        WhenConfig(morning_from=13)


@pytest.mark.usefixtures("zone")
def test_without_a_time_zone_the_machines_local_time_is_used():
    """The clip labels are in the machine's local time (here a POSIX TZ, which tzlocal cannot name): so is a span."""
    span = parse_when("was anyone here at 9 am?", 500.0, wall(2026, 11, 22, 14, 3, 10))
    assert ends(span) == (wall(2026, 11, 22, 8, 55), wall(2026, 11, 22, 9, 5))


def test_a_moment_no_clock_holds_is_no_span_and_no_error():
    assert live("what happened 99999 weeks ago?", 2026, 6, 10, 11, 0) is None
    assert parse_when("what happened 99999 weeks ago?", 500.0, None) is not None     # a file: before its start
    assert parse_when("what happened at 12:99?", 5000.0, None) is None               # no such clock time


def test_a_span_after_a_files_end_is_later_with_an_open_end_not_a_start_after_its_end():
    """"after 5 minutes" asked of a 30 s file: from 300 s on, marked `later` (nothing can be in it), never the
    span 300 s to 30 s that was printed "00:05:00 to 00:00:30"."""
    from stream.clock import span_text
    span = parse_when("what happened after 5 minutes?", 30.0, None)
    assert (span.start, span.end, span.wall, span.later) == (300.0, None, False, True)
    assert span_text(span) == "from 00:05:00 on"
    inside = parse_when("what happened after 10 seconds?", 30.0, None)
    assert (inside.start, inside.end, inside.later) == (10.0, 30.0, False)


def test_a_time_of_day_asked_of_a_file_is_found_as_wall_only():
    from memory.when import wall_only
    assert wall_only("what happened at 10 pm?", 30.0) == "at 10 pm"
    assert wall_only("was anyone here this morning?", 30.0) == "this morning"
    for question in ("what happened at 0:20?", "what happened in the first minute?", "what happened?",
                     "what happened 10 seconds ago?"):
        assert wall_only(question, 30.0) is None, question



def test_before_and_after_a_range_take_its_far_edges():
    """"before yesterday" ends where yesterday begins and "after this morning" starts where the morning ends (a range
    moment, not a point: each edge is the one a person means)."""
    before = live("what happened before yesterday?", 2026, 6, 10, 15, 0)
    assert (before.start, before.end) == (None, at(2026, 6, 9, 0))
    after = live("what happened after this morning?", 2026, 6, 10, 15, 0)
    assert (after.start, after.end) == (at(2026, 6, 10, 12), at(2026, 6, 10, 15))
    until = live("what happened until yesterday?", 2026, 6, 10, 15, 0)
    assert (until.start, until.end) == (None, at(2026, 6, 10, 0))


def test_tonight_at_exactly_five_is_the_coming_night_and_a_minute_before_the_one_ending():
    c = WhenConfig()
    five = live("anything tonight?", 2026, 6, 10, c.morning_from, 0)
    assert ends(five) == (at(2026, 6, 10, c.evening_from), at(2026, 6, 11, c.morning_from)) and five.later
    before = live("anything tonight?", 2026, 6, 10, c.morning_from - 1, 59)
    assert ends(before) == (at(2026, 6, 9, c.evening_from), at(2026, 6, 10, c.morning_from - 1, 59))


@pytest.mark.parametrize("question, start, end", [
    ("what happened on March 3?", (2026, 3, 3, 0), (2026, 3, 4, 0)),
    ("anyone at the door on the 3rd of March?", (2026, 3, 3, 0), (2026, 3, 4, 0)),
    ("what happened on june 9?", (2026, 6, 9, 0), (2026, 6, 10, 0)),
])
def test_a_calendar_date_is_that_day(question, start, end):
    span = live(question, 2026, 6, 10, 11, 0)
    assert ends(span) == (at(*start), at(*end)) and span.wall


def test_a_bare_hour_is_the_latest_such_hour_before_now_and_no_time_on_a_file():
    w = WhenConfig().clock_window
    morning = live("what happened at 10?", 2026, 6, 10, 15, 0)        # 10:00 today, not 22:00 yesterday
    assert ends(morning) == (at(2026, 6, 10, 10) - w / 2, at(2026, 6, 10, 10) + w / 2)
    night = live("what happened at 10?", 2026, 6, 10, 9, 0)           # before 10 am: last night's 22:00
    assert ends(night) == (at(2026, 6, 9, 22) - w / 2, at(2026, 6, 9, 22) + w / 2)
    seven = live("was anyone here at 7 o'clock?", 2026, 6, 10, 20, 0)
    assert ends(seven) == (at(2026, 6, 10, 19) - w / 2, at(2026, 6, 10, 19) + w / 2)
    assert parse_when("what happened at 10?", 500.0, None) is None


def test_a_few_and_a_couple_are_three_and_two():
    few = live("what happened a few minutes ago?", 2026, 6, 10, 11, 0)
    assert few.phrase == "a few minutes ago" and (few.start + few.end) / 2 == at(2026, 6, 10, 10, 57)
    couple = live("what happened a couple of hours ago?", 2026, 6, 10, 11, 0)
    assert (couple.start + couple.end) / 2 == at(2026, 6, 10, 9)


def test_the_page_labels_read_as_times():
    """A clip's label ("14:03:10-14:03:18", "2026-06-10 14:03:10-14:03:18", a file's "00:01:04-00:01:12") and an
    alert's ("2026-06-10 14:03:10") asked about as the page shows them (before: no span, the whole stream)."""
    assert ends(live("what happened at 14:03:10-14:03:18?", 2026, 6, 10, 15, 0)) == \
        (at(2026, 6, 10, 14, 3, 10), at(2026, 6, 10, 14, 3, 18))
    assert ends(live("what happened in 2026-06-09 23:59:50-00:00:05?", 2026, 6, 10, 15, 0)) == \
        (at(2026, 6, 9, 23, 59, 50), at(2026, 6, 10, 0, 0, 5))                 # across midnight
    assert ends(live("since 2026-06-09 14:03:10", 2026, 6, 10, 15, 0)) == (at(2026, 6, 9, 14, 3, 10), at(2026, 6, 10, 15, 0))
    assert ends(parse_when("what happened in 00:01:04-00:01:12?", 300.0, None)) == (64.0, 72.0)
    # a clock time still to come today is yesterday's (the latest such time not in the future)
    assert live("since 16:00:00", 2026, 6, 10, 15, 0).start == at(2026, 6, 9, 16, 0)


def test_a_clock_time_given_as_a_bound_is_the_latest_such_local_time():
    from memory.when import clock_time
    now = at(2026, 6, 10, 15, 0)
    assert clock_time("14:03:10", now, BERLIN) == at(2026, 6, 10, 14, 3, 10)
    assert clock_time("14:03", now, BERLIN) == at(2026, 6, 10, 14, 3)
    assert clock_time("16:00", now, BERLIN) == at(2026, 6, 9, 16, 0)          # later today: yesterday's
    assert clock_time("2026-06-11 16:00:00", now, BERLIN) == at(2026, 6, 11, 16, 0)   # a date says which day
    assert clock_time("2026-06-11T16:00", now, BERLIN) == at(2026, 6, 11, 16, 0)
    # the day after the DST change: that day's offset
    assert clock_time("12:00", at(2026, 3, 29, 13, 0), BERLIN) == at(2026, 3, 29, 12, 0)
    for text in ("25:00", "14:61", "noon", "14", "2026-13-01 10:00", ""):
        assert clock_time(text, now, BERLIN) is None, text
