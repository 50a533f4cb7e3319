"""The daily recap: due at a local time each day (strictly after now, never twice for one day), sent as an alert of
kind "recap" to the camera's sinks whatever its schedule, and left out of the alerts the next recap counts."""
import threading
import time
from datetime import datetime, timedelta

import pytest

from stream.config import AlertConfig, EvidenceConfig, RecapConfig
from stream.engine import Engine, EngineConfig
from stream.service.alerts import RECAP
from stream.service.daily import DailyRecap, check_at, next_due
from stream.service.recap import camera_recap


def test_the_next_recap_is_today_until_its_time_then_tomorrow():
    morning = datetime(2026, 12, 4, 6, 0).timestamp()
    assert datetime.fromtimestamp(next_due(morning, "07:30")) == datetime(2026, 12, 4, 7, 30)
    at = datetime(2026, 12, 4, 7, 30).timestamp()
    assert datetime.fromtimestamp(next_due(at, "07:30")) == datetime(2026, 12, 5, 7, 30)    # strictly after
    assert datetime.fromtimestamp(next_due(datetime(2026, 12, 31, 23, 59).timestamp(), "00:00")) == \
        datetime(2027, 1, 1, 0, 0)


@pytest.mark.parametrize("bad", ["7:30", "24:00", "07:60", "morning", 730])
def test_a_bad_time_is_one_line(bad):
    with pytest.raises(ValueError, match="daily_recap must be a local time HH:MM"):
        check_at(bad)


def test_the_thread_sends_once_when_due_and_stops_on_close():
    sent, got = [], threading.Event()
    start = time.monotonic()
    due = next_due(time.time(), "07:30")
    clock = lambda: due - 0.3 + (time.monotonic() - start)          # noqa: E731  0.3 s before 07:30
    daily = DailyRecap("07:30", make=lambda: "the recap", deliver=lambda a: (sent.append(a), got.set()), clock=clock)
    assert got.wait(5.0) and sent == ["the recap"]
    time.sleep(0.5)
    assert sent == ["the recap"] and daily.sent == 1              # the next is a day away
    daily.close()
    assert not daily._thread.is_alive()


def test_a_recap_that_cannot_be_made_is_said_and_the_thread_lives():
    def fails():
        raise OSError("disk gone")
    daily = DailyRecap("07:30", make=fails, deliver=lambda a: None)
    assert daily.send_now() is None and "disk gone" in daily.last_error and daily.sent == 0
    daily.close()


class Sink:
    name = "list"

    def __init__(self):
        self.sent = []

    def send(self, alert):
        self.sent.append(alert)

    def status(self, *a):
        pass


def test_a_cameras_daily_recap_reaches_its_sinks_outside_its_schedule(llm, embedder, model_config, videos,
                                                                     tmp_path):
    from stream.service.watch import Watcher, WatchSpec
    engine = Engine(EngineConfig(model=model_config, recap=RecapConfig(summaries=False)), llm=llm, embedder=embedder)
    sink = Sink()
    now = datetime.now()
    closed = f"{(now + timedelta(hours=2)):%H}:00-{(now + timedelta(hours=3)):%H}:00"   # not now
    spec = WatchSpec(name="room", source=str(videos / "one-by-one-person-detection.mp4"), memory=str(tmp_path / "m"),
                     realtime=False, sinks=[sink], schedule=[closed], daily_recap="07:30",
                     recap_url="http://vigil.local/api/v1/recap.html?camera=room",
                     alerts=AlertConfig(scene_changes=False, describe=False, evidence=EvidenceConfig(enabled=False)))
    w = Watcher(engine, spec).start()
    w.join(300)
    assert w.stats().alerts >= 5 and sink.sent == []              # alerts were held back by the schedule
    before = camera_recap(engine, w.session, "")
    alert = w.daily.send_now()
    assert sink.sent == [alert] and alert.kind == RECAP and alert.link == spec.recap_url
    spans = len(before.activity)
    assert alert.description.startswith(f"{spans} activity spans") and f"{before.alerts} alerts" in alert.description
    assert alert.to_json()["link"] == spec.recap_url
    assert camera_recap(engine, w.session, "").alerts == before.alerts     # a recap is not counted as an alert
    w.close()
    assert not w.daily._thread.is_alive()
