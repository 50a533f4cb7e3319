"""Alert sinks behind one interface: the log, the webhook, and MQTT against a real mosquitto started per test on
127.0.0.1 (a broker restart, a broker that is down at start, a process that dies without saying goodbye)."""
import json
import os
import pwd
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from models.served import free_port
from stream.config import AlertConfig
from stream.service.alerts import Alert
from stream.service.sinks import LogSink, Sink, WebhookSink
from stream.service.sinks.mqtt import MqttConfig, MqttSink, topic_level

ROOT = Path(__file__).resolve().parents[3]
MOSQUITTO = Path("/usr/sbin/mosquitto")
WAIT = 10.0          # seconds any one expected message or state may take on a loaded machine
# Sends that queue instead of waiting on the network take microseconds; a send that waited on a connection would
# take at least a connection attempt. Generous for a loaded CI machine, far below connect_timeout.
NEVER_BLOCKS = 0.5


def mosquitto_or_skip() -> None:
    """Debian's mosquitto (scripts/test.sh installs it); a developer without it skips, CI fails."""
    if not MOSQUITTO.exists():
        message = f"mosquitto not found at {MOSQUITTO} (apt-get install mosquitto; scripts/test.sh does it)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI needs it", pytrace=False)
        pytest.skip(message)


class Broker:
    """A real mosquitto on 127.0.0.1 that the test starts, stops and starts again on the same port."""

    def __init__(self, folder: Path, port: int | None = None, persistence: bool = False):
        self.port = port or free_port()
        self.conf = folder / f"mosquitto-{self.port}.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", f"persistence {str(persistence).lower()}"]
        if persistence:
            # Started as root, mosquitto drops to the user "mosquitto", who cannot write our private tmp folder, and
            # it would silently save nothing: stay the user we are (the setting matters only to root).
            lines += [f"persistence_location {folder}/", f"user {pwd.getpwuid(os.getuid()).pw_name}"]
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None
        self.log: list[str] = []

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([str(MOSQUITTO), "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        lines: queue.Queue = queue.Queue()

        def drain(stream):                   # also keeps the pipe from filling up and stalling the broker
            for line in stream:
                self.log.append(line.rstrip())
                lines.put(line)
            lines.put(None)

        self._drain = threading.Thread(target=drain, args=(self.proc.stderr,), daemon=True)
        self._drain.start()
        deadline = time.monotonic() + WAIT
        while True:                          # its log says when it listens
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError("mosquitto exited: " + " | ".join(self.log))
            if " running" in line:
                break
        socket.create_connection(("127.0.0.1", self.port), timeout=WAIT).close()    # and the port accepts
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT)
            self._drain.join(WAIT)           # its last lines (saving the database) are in the log
            errors = [line for line in self.log if "Error" in line]
            assert not errors, f"mosquitto: {errors}"    # a failed save would make a restart test flaky, not red
        self.proc = None


@pytest.fixture
def broker(tmp_path):
    mosquitto_or_skip()
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def persistent_broker(tmp_path):
    """Keeps sessions across a restart: a subscriber subscribed before the broker went down still gets what is
    published after it came back, however quickly the sink reconnects (no race between the two reconnections)."""
    mosquitto_or_skip()
    b = Broker(tmp_path, persistence=True).start()
    yield b
    b.stop()


class Subscriber:
    """A paho client on the test's side: what arrives, by topic."""

    def __init__(self, port: int, topics: list[str], client_id: str = "", persistent: bool = False):
        from paho.mqtt import client as mqtt
        self._by_topic: defaultdict[str, queue.Queue] = defaultdict(queue.Queue)
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=not persistent)
        self.client.reconnect_delay_set(0.1, 0.5)

        def on_connect(client, userdata, flags, reason_code, properties):
            client.subscribe([(t, 1) for t in topics])   # again after every reconnect

        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self._all: queue.Queue = queue.Queue()

        def on_message(client, userdata, msg):
            self._queue(msg.topic).put(msg)
            self._all.put(msg)
        self.client.on_message = on_message
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(WAIT), "the test's subscriber never subscribed"

    def _queue(self, topic: str) -> queue.Queue:
        with self._lock:
            return self._by_topic[topic]

    def get(self, topic: str, timeout: float = WAIT):
        try:
            return self._queue(topic).get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing on {topic} within {timeout} s") from None

    def get_any(self, timeout: float = WAIT):
        """The next message on any topic, in arrival order."""
        try:
            return self._all.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing arrived within {timeout} s") from None

    def get_retained(self, topic: str):
        """The message on `topic` that the broker held for a new subscriber (it arrives first, flagged retained)."""
        msg = self.get(topic)
        assert msg.retain, f"{topic}: not retained"
        return msg

    def drain(self, quiet: float = 1.0) -> list:
        """Every message not yet taken by get_any, until none arrives for `quiet` seconds."""
        got = []
        while True:
            try:
                got.append(self._all.get(timeout=quiet))
            except queue.Empty:
                return got

    def empty(self, topic: str) -> bool:
        return self._queue(topic).empty()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def fast(port: int, **kw) -> MqttConfig:
    """Short reconnect waits and close so a test does not sit out production backoffs."""
    return MqttConfig(**{"host": "127.0.0.1", "port": port, "reconnect_min": 0.1, "reconnect_max": 0.5,
                         "close_timeout": 2.0, **kw})


def alert(n: int, stream: str = "door") -> Alert:
    return Alert("activity_start", stream, float(n), f"activity {n}")


# ---- MQTT ------------------------------------------------------------------------------------------------------
def test_mqtt_alert_status_and_availability(broker):
    sub = Subscriber(broker.port, ["vigil/#"])
    sink = MqttSink(fast(broker.port))
    try:
        assert isinstance(sink, Sink)
        assert sink.wait_connection(True, WAIT)
        assert sub.get("vigil/availability").payload == b"online"

        a = Alert("rule", "yard/east", 12.5, "a person enters", rule="a person enters", reason="someone walks in")
        sink.send(a)
        sink.send(a)                         # an update: same id, published again
        topic = "vigil/yard_east/alert"      # '/' in a camera's name must not make a level of its own
        first, second = json.loads(sub.get(topic).payload), sub.get(topic)
        assert (first["id"], first["kind"], first["stream"], first["rule"]) == (a.id, "rule", "yard/east",
                                                                               "a person enters")
        assert json.loads(second.payload)["id"] == a.id and not second.retain

        state = {"state": "live", "since": 1700000000.5, "reconnects": 2, "last_error": None}
        sink.status("yard/east", state)
        assert sink.flush(WAIT)
        late = Subscriber(broker.port, ["vigil/+/status"])        # connects after the status went out
        try:
            got = late.get("vigil/yard_east/status")
            assert got.retain and json.loads(got.payload) == state
        finally:
            late.close()
        assert sink.stats() == {"delivered": 2, "failed": 0, "dropped": 0, "queued": 0, "in_flight": 0,
                                "connected": True, "error": None}
    finally:
        sink.close()
    assert sub.get("vigil/availability").payload == b"offline"
    after = Subscriber(broker.port, ["vigil/availability"])      # and it stays said (retained)
    try:
        got = after.get("vigil/availability")
        assert got.payload == b"offline" and got.retain
    finally:
        after.close()
        sub.close()


def render(template: str, payload: bytes) -> str:
    """A discovery template rendered as Home Assistant renders it: Jinja, the topic's JSON as `value_json`."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    env = ImmutableSandboxedEnvironment()
    env.filters["to_json"] = json.dumps
    return env.from_string(template).render(value_json=json.loads(payload)).strip()


def test_mqtt_discovery_shows_each_camera_to_home_assistant_and_forgets_a_removed_one(broker):
    """Read as Home Assistant reads it: the retained configs under homeassistant/ (subscribed after they went out),
    each entity's topics and templates applied to what the camera publishes."""
    from stream.detectors import alert_kinds
    sink = MqttSink(fast(broker.port))
    try:
        assert sink.wait_connection(True, WAIT)
        sink.status("yard/east", {"state": "live", "since": 1.0, "reconnects": 0, "last_error": None,
                                  "activity": True})
        sink.status("door", {"state": "connecting", "since": None, "reconnects": 0, "last_error": None,
                             "activity": False})
        assert sink.flush(WAIT)
        ha = Subscriber(broker.port, ["homeassistant/#", "vigil/#"])
        configs = {}
        while len(configs) < 8:
            msg = ha.get_any()
            if msg.topic.startswith("homeassistant/"):
                assert msg.retain
                configs[msg.topic] = json.loads(msg.payload)
        by = {(t.split("/")[1], c["device"]["name"], t.split("/")[3]): c for t, c in configs.items()}
        assert set(by) == {(k, cam, w) for cam in ("yard/east", "door") for k, w in (
            ("binary_sensor", "activity"), ("event", "alert"), ("sensor", "status"), ("sensor", "description"))}
        assert len({c["unique_id"] for c in configs.values()}) == 8
        assert all(re.fullmatch(r"homeassistant/[a-z_]+/[A-Za-z0-9_-]+/[a-z]+/config", t) for t in configs)
        for cam in ("yard/east", "door"):           # one device per camera
            assert len({json.dumps(c["device"]) for k, c in by.items() if k[1] == cam}) == 1
        assert all(c["availability_topic"] == "vigil/availability" for c in configs.values())

        status = ha.get_retained("vigil/yard_east/status")
        activity = by[("binary_sensor", "yard/east", "activity")]
        assert activity["state_topic"] == "vigil/yard_east/status"
        assert render(activity["value_template"], status.payload) == "ON"
        assert render(activity["value_template"], ha.get_retained("vigil/door/status").payload) == "OFF"
        state = by[("sensor", "yard/east", "status")]
        assert render(state["value_template"], status.payload) == "live" and "live" in state["options"]

        a = Alert("activity_start", "yard/east", 3.0, "Activity started", description="A person walks in. " * 30,
                  video="http://vigil.local/api/v1/alerts/ab12/clip.mp4")
        sink.send(a)
        sink.send(replace(a, update=True))
        first, second = ha.get("vigil/yard_east/alert"), ha.get("vigil/yard_east/alert")
        event = by[("event", "yard/east", "alert")]
        fired = json.loads(render(event["value_template"], first.payload))
        assert fired["event_type"] == "activity_start" and fired["id"] == a.id
        assert fired["video"] == a.video and fired["description"] == a.description      # a notification's link
        assert set(event["event_types"]) == set(alert_kinds()) | {"rule", "recap"}
        assert render(event["value_template"], second.payload) == ""      # an update is not a second event
        said = by[("sensor", "yard/east", "description")]
        text = render(said["value_template"], first.payload)
        assert len(text) == 255 and a.description.startswith(text)
        assert said["json_attributes_topic"] == "vigil/yard_east/alert"

        sink.status("door", {"state": "removed"})     # DELETE of a camera: Home Assistant drops its device
        cleared = set()
        while len(cleared) < 5:
            msg = ha.get_any()
            if msg.payload == b"" and ("/vigil_vigil_door/" in msg.topic or msg.topic == "vigil/door/status"):
                cleared.add(msg.topic)
        ha.close()
        late = Subscriber(broker.port, ["homeassistant/#"])
        try:
            seen = {msg.topic for msg in late.drain()}
            assert len(seen) == 4 and all("yard_east" in t for t in seen)
        finally:
            late.close()
    finally:
        sink.close()


def test_mqtt_broker_restart_loses_no_alert(persistent_broker):
    b = persistent_broker
    sub = Subscriber(b.port, ["vigil/+/alert"], client_id="vigil-test-sub", persistent=True)
    sink = MqttSink(fast(b.port))
    try:
        assert sink.wait_connection(True, WAIT)
        b.stop()
        assert sink.wait_connection(False, WAIT)
        sent = [alert(n) for n in range(3)]
        t0 = time.monotonic()
        for a in sent:
            sink.send(a)
        assert time.monotonic() - t0 < NEVER_BLOCKS
        st = sink.stats()
        assert (st["queued"], st["delivered"], st["connected"]) == (3, 0, False)

        b.start()                            # same port
        assert sink.wait_connection(True, WAIT) and sink.flush(WAIT)
        assert [json.loads(sub.get("vigil/door/alert").payload)["id"] for _ in sent] == [a.id for a in sent]
        st = sink.stats()
        assert (st["delivered"], st["queued"], st["failed"], st["dropped"]) == (3, 0, 0, 0)
    finally:
        sink.close()
        sub.close()


def test_mqtt_broker_down_at_start_queues_and_drops_the_oldest(persistent_broker):
    b = persistent_broker
    sub = Subscriber(b.port, ["vigil/+/alert"], client_id="vigil-test-sub-2", persistent=True)
    b.stop()                                 # the subscription is kept; nothing listens now
    sink = MqttSink(fast(b.port, queue=2))
    try:
        sent = [alert(n) for n in range(3)]
        t0 = time.monotonic()
        for a in sent:
            sink.send(a)                     # neither blocks nor raises
        sink.status("door", {"state": "reconnecting"})
        sink.status("door", {"state": "live"})          # only the last state is worth sending
        assert time.monotonic() - t0 < NEVER_BLOCKS
        st = sink.stats()
        assert (st["queued"], st["dropped"], st["delivered"], st["connected"]) == (2, 1, 0, False)

        b.start()
        assert sink.wait_connection(True, WAIT) and sink.flush(WAIT)
        got = [json.loads(sub.get("vigil/door/alert").payload)["id"] for _ in range(2)]
        assert got == [sent[1].id, sent[2].id]          # the oldest was the one dropped
        assert sub.empty("vigil/door/alert")
        st = sink.stats()
        assert (st["delivered"], st["error"]) == (2, None)
        late = Subscriber(b.port, ["vigil/door/status"])   # the status given while down went out on connect
        try:
            got = late.get("vigil/door/status")
            assert got.retain and json.loads(got.payload) == {"state": "live"}
            assert late.empty("vigil/door/status")
        finally:
            late.close()
    finally:
        sink.close()
        sub.close()


def test_mqtt_broker_that_never_answers(tmp_path):
    """Fault injection: a port that takes the TCP connection and never answers MQTT (a hung broker)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)                         # connections wait in the backlog, never accepted
    sink = MqttSink(fast(silent.getsockname()[1], queue=2, keepalive=1))
    try:
        t0 = time.monotonic()
        for n in range(3):
            sink.send(alert(n))
        assert time.monotonic() - t0 < NEVER_BLOCKS
        assert sink.stats()["queued"] == 2
        t0 = time.monotonic()
        sink.close(timeout=0.5)
        assert time.monotonic() - t0 < 0.5 + NEVER_BLOCKS
        st = sink.stats()
        assert (st["delivered"], st["dropped"], st["failed"], st["queued"]) == (0, 1, 2, 0)
        sink.send(alert(4))                  # after close: counted, never raised
        assert sink.stats()["failed"] == 3
    finally:
        silent.close()


def test_mqtt_last_will_when_the_process_dies(broker):
    sub = Subscriber(broker.port, ["vigil/availability"])
    code = ("import sys, time; sys.path.insert(0, sys.argv[1])\n"
            "from stream.service.sinks.mqtt import MqttConfig, MqttSink\n"
            "s = MqttSink(MqttConfig(host='127.0.0.1', port=int(sys.argv[2])))\n"
            "assert s.wait_connection(True, 10)\nprint('up', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(ROOT), str(broker.port)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        assert sub.get("vigil/availability").payload == b"online"
        proc.kill()                          # no close(), no DISCONNECT: the broker publishes the will
        got = sub.get("vigil/availability")
        assert got.payload == b"offline"
    finally:
        proc.kill()
        proc.wait(WAIT)
        sub.close()


@pytest.mark.parametrize("bad", [dict(port=0), dict(prefix="vigil/#"), dict(prefix="/vigil"), dict(qos=3),
                                 dict(keepalive=0), dict(reconnect_min=0.0), dict(reconnect_min=5.0, reconnect_max=1.0),
                                 dict(queue=0), dict(password="secret"), dict(host="")])
def test_mqtt_config_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        MqttConfig(**bad)
    assert "secret" not in repr(MqttConfig(username="u", password="secret"))


def test_topic_level():
    assert topic_level("front door") == "front door"
    assert topic_level("a/b+c#") == "a_b_c_" and topic_level("") == "_"


# ---- log and webhook -------------------------------------------------------------------------------------------
def test_log_sink_appends_updates_and_never_raises(tmp_path):
    log = LogSink(tmp_path)
    assert isinstance(log, Sink)
    a = alert(1)
    log.send(a)
    log.send(a)                              # the update: a second line, same id
    log.status("door", {"state": "live"})    # ignored
    assert [x["id"] for x in log.read()] == [a.id, a.id]
    assert log.stats()["delivered"] == 2

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "alerts.jsonl").mkdir()           # the log's path is a folder: every write fails
    broken = LogSink(tmp_path / "broken")
    broken.send(a)
    st = broken.stats()
    assert (st["delivered"], st["failed"]) == (0, 1) and st["error"].startswith("alert log:")


def test_log_sink_holds_lines_the_disk_refused_and_a_torn_line_costs_no_other(tmp_path):
    """A full disk tore the last line midway and refused the next ones: they are held and written, in order, by
    the next append or retry once the disk takes them, after the torn line is ended (which alone is lost)."""
    log = LogSink(tmp_path)
    a, b, c = alert(1), alert(2), alert(3)
    log.send(a)
    with open(log.path, "a") as f:
        f.write('{"id": "torn half')                       # what a full disk left of a line
    log.path.rename(tmp_path / "away")
    log.path.mkdir()                                        # the disk refuses every write now
    log.send(b)
    assert not log.retry() and log.stats()["failed"] == 2
    log.path.rmdir()
    (tmp_path / "away").rename(log.path)                   # the disk takes writes again
    assert log.retry() and log.stats()["error"] is None
    log.send(c)
    assert [x["id"] for x in log.read()] == [a.id, b.id, c.id]


def test_webhook_sink_posts_updates_and_drops_the_oldest():
    got, entered, release = [], threading.Event(), threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            entered.set()
            release.wait(WAIT)               # the first POST holds the worker while the others queue up
            got.append(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = WebhookSink(f"http://127.0.0.1:{server.server_port}/hook", AlertConfig(webhook_queue=1))
    try:
        assert isinstance(hook, Sink)
        first, other = alert(1), alert(2)
        hook.send(first)
        assert entered.wait(WAIT)
        hook.send(other)                     # queued ...
        hook.send(first)                     # ... and pushed out by the update of the first
        assert hook.stats()["dropped"] == 1
        release.set()
        hook.close(timeout=WAIT)
    finally:
        release.set()
        server.shutdown()
    assert [g["id"] for g in got] == [first.id, first.id]
    st = hook.stats()
    assert (st["delivered"], st["failed"], st["dropped"], st["queued"]) == (2, 0, 1, 0)
