"""Where alerts go besides the page, each behind one small interface (`Sink`): the append-only JSON-lines log in the
memory folder (`LogSink`), an optional webhook (`WebhookSink`: HTTP POST retried with backoff on a background thread)
and MQTT (`MqttSink`: alert and status topics for Home Assistant and other MQTT consumers). A dead endpoint or broker
costs a bounded queue, never the caller's time: ingestion is never stalled by delivery.

An alert may be sent twice with the same id: the second time is an update (it carries its description). Every sink
treats it as an alert (the log appends a line, the webhook posts again, MQTT publishes again); consumers match ids.
"""
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from pathlib import Path
from typing import Protocol, runtime_checkable

from stream.config import AlertConfig, MqttConfig
from stream.service.alerts import Alert


@runtime_checkable
class Sink(Protocol):
    """Somewhere alerts go. A per-camera sink (log, webhook) is closed by its watcher; a shared one (MQTT: one
    client per process for every camera) by whoever made it."""
    name: str

    def send(self, alert: Alert) -> None:
        """Hand an alert over. Never waits on the network and never raises: a sink's fault must not stop a stream."""

    def status(self, camera: str, state: dict) -> None:
        """A camera's status changed (`state` is passed on as given); sinks that do not care ignore it."""

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued for at most `timeout` seconds (None: the sink's own default), then stop."""

    def stats(self) -> dict:
        """Alert counts "delivered", "failed" (given up on) and "dropped" (pushed out of a full queue), "error" (the
        last failure in one line, or None), and what the sink adds."""


class LogSink:
    """alerts.jsonl: one JSON object a line, appended and fsynced, never rewritten. One per camera (its memory)."""
    name = "log"

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / "alerts.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()        # one line at a time: two threads' writes must not interleave
        self.delivered = self.failed = 0
        self.error: str | None = None

    def append(self, alert: Alert) -> None:
        """Append one line; raises OSError when the disk refuses (send() counts it instead)."""
        line = json.dumps(alert.to_json()) + "\n"
        with self._lock:
            try:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                self.failed += 1
                self.error = f"alert log: {e}"
                raise
            self.delivered += 1

    def send(self, alert: Alert) -> None:
        # On the caller's thread: an fsync on a local disk takes milliseconds, and the line is then on disk before
        # the alert goes anywhere else.
        try:
            self.append(alert)
        except OSError:
            pass                             # counted by append()

    def status(self, camera: str, state: dict) -> None:
        pass                                 # the log keeps alerts only

    def close(self, timeout: float | None = None) -> None:
        pass                                 # every line is on disk when send() returns

    def stats(self) -> dict:
        with self._lock:
            return {"delivered": self.delivered, "failed": self.failed, "dropped": 0, "error": self.error}

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue                 # a line torn by a crash mid-write: the others still count
        return out


class WebhookSink:
    """POSTs each alert as JSON to `url` from a background thread, retrying with backoff; `send` never blocks and
    never raises. One per camera (its spec names the URL)."""
    name = "webhook"
    # Seconds close() gives queued alerts when not told: a stopping stream waits this long for its last alerts.
    close_timeout = 5.0

    def __init__(self, url: str, config: AlertConfig):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook must be an http:// or https:// URL, got {url!r}")
        self.url, self.config = url, config
        self._queue: deque[dict] = deque()
        self._cond = threading.Condition()   # guards the queue, the counters and _closing; wakes the worker
        self._closing = False                # no more alerts: deliver what is queued, then end
        self._abort = threading.Event()      # give up now, retries included (an Event: the backoff waits on it)
        self.delivered = self.failed = self.dropped = 0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="vigil-webhook", daemon=True)
        self._thread.start()

    def send(self, alert: Alert) -> None:
        item = alert.to_json()
        with self._cond:
            if self._closing:
                self.failed += 1             # nobody will post it
                return
            if len(self._queue) >= self.config.webhook_queue:
                self._queue.popleft()        # the oldest goes: the newest alert is the one worth having
                self.dropped += 1
            self._queue.append(item)
            self._cond.notify()

    def status(self, camera: str, state: dict) -> None:
        pass                                 # webhooks receive alerts only

    def _post(self, body: bytes) -> None:
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "vigil"})
        with urllib.request.urlopen(req, timeout=self.config.webhook_timeout) as r:
            if r.status >= 300:
                raise urllib.error.HTTPError(self.url, r.status, "not 2xx", r.headers, None)

    def _attempts(self, item: dict) -> str | None:
        """Posts one alert with its retries; None when delivered, else the last error."""
        body, wait = json.dumps(item).encode(), self.config.webhook_backoff
        for attempt in range(self.config.webhook_attempts):
            try:
                self._post(body)
                return None
            except (OSError, ValueError) as e:        # URLError and HTTPError are OSErrors
                if attempt + 1 == self.config.webhook_attempts or self._abort.wait(wait):
                    return f"webhook {self.url}: {e}"
                wait *= 2
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closing)
                if not self._queue or self._abort.is_set():
                    return
                item = self._queue.popleft()
            error = self._attempts(item)
            with self._cond:
                if error is None:
                    self.delivered += 1
                else:
                    self.failed += 1
                    self.error = error

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued (with its retries) for at most `timeout` seconds, then give up on the rest."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(self.close_timeout if timeout is None else timeout)
        self._abort.set()                    # a POST in progress ends by its own timeout; no new one starts
        with self._cond:
            self.failed += len(self._queue)
            self._queue.clear()
            self._cond.notify()

    def stats(self) -> dict:
        with self._cond:
            return {"delivered": self.delivered, "failed": self.failed, "dropped": self.dropped,
                    "queued": len(self._queue), "error": self.error}


# The names the watcher has always used.
AlertLog = LogSink
Webhook = WebhookSink

# '/' would split a camera's name into topic levels and '+' and '#' are subscription wildcards (NUL is not allowed).
_TOPIC_UNSAFE = re.compile(r"[/+#\x00]")


def topic_level(camera: str) -> str:
    """A camera's name as one MQTT topic level: each character that cannot stand in one becomes '_'."""
    return _TOPIC_UNSAFE.sub("_", camera) or "_"


class MqttSink:
    """Alerts and camera status to an MQTT broker. One client per process, shared by every camera (the camera is an
    alert's `stream`); topics as a Home Assistant user expects them:

        <prefix>/<camera>/alert    each alert's JSON; qos from config; not retained (an event, not a state)
        <prefix>/<camera>/status   the camera's state, as status() is given it; retained
        <prefix>/availability      "online" (retained) on each connect; "offline" on close, and as the last will

    paho's network thread connects and reconnects on its own (reconnect_min, doubling up to reconnect_max). While
    the broker is unreachable, alerts wait in our own bounded queue (oldest dropped, counted) and go out on the next
    connect, after "online" and each camera's last status again (a broker restarted without persistence forgot
    them). paho's own offline queue is not used for that: when full it refuses the newest message, where the oldest
    should go, and it keeps nothing at QoS 0. What paho already holds when a connection drops (QoS 1 and 2, not yet
    acknowledged) it resends itself on reconnect.

    "delivered" counts alerts the broker acknowledged (QoS 0: written to the connection)."""
    name = "mqtt"

    def __init__(self, config: MqttConfig | None = None):
        from paho.mqtt import client as mqtt    # optional backend: only a process that publishes to MQTT needs it
        self.config = c = config or MqttConfig()
        self._codes = mqtt.MQTTErrorCode
        self.availability = f"{c.prefix}/availability"
        # _lock guards the connection flag, the queue and the statuses, and is held while publishing, so a send that
        # races a (re)connect is neither lost nor sent twice. on_publish never takes it: paho calls on_publish
        # holding its own message lock, which publish() needs.
        self._lock = threading.Lock()
        # _acks guards the counters and what is in flight, and wakes flush() and wait_connection(); never held while
        # calling into paho. Taken after _lock when both are needed.
        self._acks = threading.Condition()
        self._connected = False
        self._closed = False
        self._pending: deque[tuple[str, str]] = deque()    # (topic, payload) of alerts waiting for a connection
        self._statuses: dict[str, str] = {}                # status topic -> the camera's last state (JSON)
        self._inflight: dict[int, bool] = {}               # mid -> is an alert; handed to paho, not acknowledged yet
        self._early: dict[int, bool] = {}                  # mid -> refused; acknowledged before publish() returned
        self._handing = 0                                  # publish() calls under way (not in flight nor pending)
        self.delivered = self.failed = self.dropped = 0
        self.error: str | None = None
        client_id = c.client_id or f"vigil-{uuid.uuid4().hex[:12]}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        if c.username is not None:
            client.username_pw_set(c.username, c.password)
        if c.tls:
            client.tls_set()                 # the system's certificate authorities
        client.will_set(self.availability, "offline", qos=c.qos, retain=True)
        client.reconnect_delay_set(c.reconnect_min, c.reconnect_max)
        client.connect_timeout = c.connect_timeout
        client.on_connect, client.on_connect_fail = self._on_connect, self._on_connect_fail
        client.on_disconnect, client.on_publish = self._on_disconnect, self._on_publish
        self._client = client
        client.connect_async(c.host, c.port, c.keepalive)     # the first attempt happens on paho's thread
        client.loop_start()

    def topic(self, camera: str, what: str) -> str:
        return f"{self.config.prefix}/{topic_level(camera)}/{what}"

    # ---- what cameras call -------------------------------------------------------------------------------------
    def send(self, alert: Alert) -> None:
        try:
            topic, payload = self.topic(alert.stream, "alert"), json.dumps(alert.to_json())
        except Exception as e:               # an alert that cannot be written out: count it, never raise
            self._failed(f"mqtt: alert not serializable: {e}")
            return
        with self._lock:
            if self._closed:
                self._failed("mqtt: alert sent after close")
            elif self._connected:
                self._publish(topic, payload, retain=False, alert=True)
            else:
                self._keep(topic, payload)

    def status(self, camera: str, state: dict) -> None:
        try:
            payload = json.dumps(state, default=str)     # a timestamp object or a path reads as its text
        except (TypeError, ValueError) as e:
            with self._acks:
                self.error = f"mqtt: status of {camera!r} not serializable: {e}"
            return
        topic = self.topic(camera, "status")
        with self._lock:
            if self._closed:
                return
            self._statuses[topic] = payload  # only the last state matters: sent now, and again on each connect
            if self._connected:
                self._publish(topic, payload, retain=self.config.retain_status, alert=False)

    def stats(self) -> dict:
        with self._acks:
            return {"delivered": self.delivered, "failed": self.failed, "dropped": self.dropped,
                    "queued": len(self._pending), "in_flight": sum(self._inflight.values()),
                    "connected": self._connected, "error": self.error}

    def wait_connection(self, connected: bool = True, timeout: float | None = None) -> bool:
        """Waits until the broker connection is up (or down); False if it was not within `timeout` seconds."""
        with self._acks:
            return self._acks.wait_for(lambda: self._connected == connected, timeout)

    def flush(self, timeout: float | None = None) -> bool:
        """Waits until every alert and status sent so far has been acknowledged by the broker; False if some had not
        within `timeout` seconds (they stay queued)."""
        with self._acks:
            # len() of the deque is read without _lock: one atomic read, and every change to it notifies _acks
            return self._acks.wait_for(lambda: not (self._pending or self._inflight or self._handing), timeout)

    def close(self, timeout: float | None = None) -> None:
        """Gives queued alerts up to `timeout` seconds (None: config.close_timeout) to reach the broker, says
        "offline", disconnects. Alerts still undelivered then count as failed. Idempotent."""
        timeout = self.config.close_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.flush(timeout)                  # a broker that is up, or comes back in time, still gets them
        offline = None
        with self._lock:
            if self._connected:              # the broker sends the will only when a client vanishes: say it ourselves
                offline = self._publish(self.availability, "offline", retain=True, alert=False)
            lost = len(self._pending)
            self._pending.clear()
        if offline is not None:
            try:
                offline.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                pass                         # the connection dropped meanwhile: the will says "offline" instead
        with self._acks:
            self.failed += lost + sum(self._inflight.values())
            self._inflight.clear()
            self._acks.notify_all()
        self._client.disconnect()            # queued before it, "offline" leaves first even if not acknowledged yet
        # loop_stop() joins paho's thread, which may be inside a connection attempt (up to connect_timeout): joined
        # from a helper so that close keeps to its timeout; the thread ends on its own soon after.
        stopper = threading.Thread(target=self._client.loop_stop, name="vigil-mqtt-stop", daemon=True)
        stopper.start()
        stopper.join(max(0.0, deadline - time.monotonic()))

    # ---- internals (the _lock is held by the caller where noted) -----------------------------------------------
    def _failed(self, error: str) -> None:
        with self._acks:
            self.failed += 1
            self.error = error

    def _keep(self, topic: str, payload: str) -> None:
        """Queues an alert for the next connection (_lock held)."""
        if len(self._pending) >= self.config.queue:
            self._pending.popleft()          # the oldest goes: the newest alert is the one worth having
            with self._acks:
                self.dropped += 1
        self._pending.append((topic, payload))

    def _publish(self, topic: str, payload: str, retain: bool, alert: bool):
        """Hands one message to paho and tracks its acknowledgement (_lock held). Returns paho's message info, or
        None when it was not taken."""
        with self._acks:
            self._handing += 1
        try:
            info = self._client.publish(topic, payload, qos=self.config.qos, retain=retain)
        except Exception as e:               # paho refuses it (a payload over MQTT's 256 MB): count, never raise
            info, error = None, f"mqtt: publish to {topic} refused: {e}"
        else:
            error = None
            if info.rc == self._codes.MQTT_ERR_NO_CONN and self.config.qos == 0:
                info = None                  # dropped under us, and paho keeps no QoS 0 message: ours to keep
                if alert:
                    self._keep(topic, payload)
            elif info.rc not in (self._codes.MQTT_ERR_SUCCESS, self._codes.MQTT_ERR_NO_CONN):
                # (at QoS 1 and 2 paho keeps a NO_CONN message and sends it on reconnect: tracked as in flight)
                info, error = None, f"mqtt: publish to {topic} failed: {self._codes(info.rc).name}"
        with self._acks:
            self._handing -= 1
            if info is not None:
                if info.mid in self._early:  # acknowledged already, on paho's thread
                    self._count(alert, self._early.pop(info.mid))
                else:
                    self._inflight[info.mid] = alert
            elif error is not None:
                self.error = error
                self.failed += int(alert)
            self._acks.notify_all()
        return info

    def _count(self, alert: bool, refused: bool) -> None:
        """An acknowledgement (_acks held)."""
        if alert and refused:
            self.failed += 1
            self.error = "mqtt: the broker refused an alert"
        elif alert:
            self.delivered += 1

    # ---- paho's callbacks, on its network thread ---------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:           # paho retries after its backoff
            with self._acks:
                self.error = f"mqtt broker {self.config.host}:{self.config.port} refused the connection: {reason_code}"
            return
        with self._lock:
            self._connected = True
            self._publish(self.availability, "online", retain=True, alert=False)
            for topic, payload in self._statuses.items():
                self._publish(topic, payload, retain=self.config.retain_status, alert=False)
            # oldest first; each leaves the queue only once tracked, so flush() never sees it nowhere
            for _ in range(len(self._pending)):
                self._publish(*self._pending[0], retain=False, alert=True)
                self._pending.popleft()
        with self._acks:
            self.error = None
            self._acks.notify_all()

    def _on_connect_fail(self, client, userdata) -> None:
        with self._acks:
            self.error = f"mqtt broker {self.config.host}:{self.config.port} unreachable"

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._lock:
            self._connected = False
        with self._acks:
            if self.config.qos == 0:
                # paho discards QoS 0 messages not yet written when it reconnects: those alerts are lost
                self.failed += sum(self._inflight.values())
                self._inflight.clear()
            if reason_code.is_failure and not self._closed:
                self.error = f"mqtt connection to {self.config.host}:{self.config.port} lost: {reason_code}"
            self._acks.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        refused = reason_code.is_failure     # MQTT 5 brokers can refuse a message; 3.1.1 always says success
        with self._acks:
            if mid in self._inflight:
                self._count(self._inflight.pop(mid), refused)
            else:
                self._early[mid] = refused
            self._acks.notify_all()
