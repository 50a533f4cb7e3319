"""MQTT: alert and status topics for Home Assistant and other MQTT consumers, one client per process shared by every
camera that lists "mqtt" in its sinks; its settings are the [mqtt] table of the serve config (`MqttConfig`)."""
import json
import math
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from stream.service.alerts import RECAP, Alert
from stream.service.sinks.base import CAMERA_STATES


@dataclass
class MqttConfig:
    """Where alerts and camera status go for Home Assistant and other MQTT consumers (`MqttSink`)."""
    # The broker; localhost is the usual setup (Home Assistant's Mosquitto add-on or a broker on the same box).
    host: str = "localhost"
    # 1883 is MQTT's registered port; a TLS broker usually listens on 8883 (set it with tls).
    port: int = 1883
    # Topics are <prefix>/<camera>/alert, <prefix>/<camera>/status and <prefix>/availability: one prefix per Vigil
    # keeps two installations on one broker apart.
    prefix: str = "vigil"
    # The broker kicks an older connection with the same id, so two processes must not share one; empty: a random
    # "vigil-..." id per process.
    client_id: str = ""
    # Credentials when the broker requires them (Home Assistant's add-on does); None: anonymous.
    username: str | None = None
    password: str | None = field(default=None, repr=False)     # kept out of logs and tracebacks
    # Alerts and status: 1 (at least once) survives a dropped connection, since the client resends what the broker
    # did not acknowledge; 0 may lose them, 2 costs two more round trips for no gain (an update carries the same id).
    qos: int = 1
    # Seconds between keepalive pings: a broker that vanished without closing the connection is noticed after about
    # 1.5 times this, and the broker publishes our last will ("offline") as late.
    keepalive: int = 30
    # Reconnection waits, seconds: the first after a drop, doubled per failed attempt up to the max, so a broker
    # restarting is back within a second and a broker down for hours is tried once a minute.
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    # Seconds one connection attempt may take (TCP connect, TLS handshake): an unreachable host must not hold the
    # client's thread for the OS's minutes-long default.
    connect_timeout: float = 5.0
    # Alerts kept while the broker is unreachable; beyond this the oldest is dropped and counted (a broker down for
    # days must not grow memory). At default cooldowns a camera raises a few alerts a minute at most.
    queue: int = 1000
    # The status topic is retained, so a dashboard that connects later sees each camera's state at once.
    retain_status: bool = True
    # TLS with the system's certificate authorities (a broker reached over the internet).
    tls: bool = False
    # Seconds close() waits for queued alerts to reach the broker before giving up on them.
    close_timeout: float = 5.0
    # Home Assistant's MQTT discovery: each camera appears as a device (activity, alerts, status, last description)
    # with no YAML written by hand. Off for a broker that Home Assistant does not read.
    discovery: bool = True
    # Where Home Assistant listens for discovery messages; "homeassistant" is its default (Settings > MQTT).
    discovery_prefix: str = "homeassistant"

    def __post_init__(self):
        if not self.host or any(c.isspace() for c in self.host):
            raise ValueError(f"mqtt host must be a host name or address, got {self.host!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 1 <= self.port <= 65535:
            raise ValueError(f"mqtt port must be an integer in [1, 65535], got {self.port!r}")
        for key in ("prefix", "discovery_prefix"):
            value = getattr(self, key)
            if not value or any(c in value for c in "+#\0") or value.startswith(("/", "$")) or value.endswith("/"):
                raise ValueError(f"mqtt {key} must be a topic without wildcards or leading/trailing '/', got "
                                 f"{value!r}")
        if self.password is not None and self.username is None:
            raise ValueError("mqtt password needs a username")
        if self.qos not in (0, 1, 2) or isinstance(self.qos, bool):
            raise ValueError(f"mqtt qos must be 0, 1 or 2, got {self.qos!r}")
        if isinstance(self.keepalive, bool) or not isinstance(self.keepalive, int) or not 1 <= self.keepalive <= 65535:
            raise ValueError(f"mqtt keepalive must be whole seconds in [1, 65535], got {self.keepalive!r}")
        times = (self.reconnect_min, self.reconnect_max, self.connect_timeout, self.close_timeout)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in times):
            raise ValueError("mqtt reconnect, connect and close times must be finite numbers")
        if not 0.0 < self.reconnect_min <= self.reconnect_max:     # zero: a refused broker retried in a tight loop
            raise ValueError(f"mqtt reconnect_min must be in (0, reconnect_max={self.reconnect_max:g}] seconds, got "
                             f"{self.reconnect_min}")
        if self.connect_timeout <= 0 or self.close_timeout < 0:
            raise ValueError("mqtt connect_timeout must be positive and close_timeout non-negative")
        if isinstance(self.queue, bool) or not isinstance(self.queue, int) or self.queue < 1:
            raise ValueError(f"mqtt queue must be an integer of at least 1, got {self.queue!r}")


# '/' would split a camera's name into topic levels and '+' and '#' are subscription wildcards (NUL is not allowed).
_TOPIC_UNSAFE = re.compile(r"[/+#\x00]")


def topic_level(camera: str) -> str:
    """A camera's name as one MQTT topic level: each character that cannot stand in one becomes '_'."""
    return _TOPIC_UNSAFE.sub("_", camera) or "_"


def discovery(config: MqttConfig, camera: str) -> dict[str, dict]:
    """Home Assistant MQTT discovery messages for one camera: {config topic: payload}, one per entity, all on one
    device: activity (a motion binary sensor, from the status topic's `activity`), alert (an event entity, each alert's
    kind its event type), status (an enum sensor) and the last description (a sensor with the alert as attributes).
    The templates are Home Assistant's Jinja; its `value_json` is the topic's JSON."""
    from stream.detectors import alert_kinds
    level = topic_level(camera)
    node = re.sub(r"[^A-Za-z0-9_-]", "_", f"vigil_{config.prefix}_{level}")   # discovery ids allow only these
    status, alert = f"{config.prefix}/{level}/status", f"{config.prefix}/{level}/alert"
    common = {"availability_topic": f"{config.prefix}/availability", "payload_available": "online",
              "payload_not_available": "offline", "qos": config.qos,
              "device": {"identifiers": [node], "name": camera, "manufacturer": "Vigil", "model": "camera"},
              "origin": {"name": "Vigil"}}
    entities = {
        ("binary_sensor", "activity"): {"name": "Activity", "device_class": "motion", "state_topic": status,
                                        "value_template": "{{ 'ON' if value_json.activity else 'OFF' }}"},
        ("event", "alert"): {"name": "Alert", "state_topic": alert, "event_types": sorted(alert_kinds()) + ["rule", RECAP],
                             # a description sent later for the same alert is not a second event: HA ignores a
                             # payload its template renders empty (value_json['update'], since .update is the
                             # dict's method to Jinja)
                             # the event's attributes: what an automation's notification shows and links to
                             "value_template": "{% if not value_json['update'] %}{{ {'event_type': value_json.kind, "
                                               "'id': value_json.id, 'message': value_json.message, "
                                               "'description': value_json.description, 'video': value_json.video} "
                                               "| to_json }}{% endif %}"},
        ("sensor", "status"): {"name": "Status", "device_class": "enum", "options": list(CAMERA_STATES), "state_topic": status,
                               "value_template": "{{ value_json.state }}", "json_attributes_topic": status},
        ("sensor", "description"): {"name": "Last description", "state_topic": alert, "icon": "mdi:text",
                                    # a state holds at most 255 characters: the whole alert is in the attributes
                                    "value_template": "{{ (value_json.description or value_json.message)[:255] }}",
                                    "json_attributes_topic": alert},
    }
    return {f"{config.discovery_prefix}/{component}/{node}/{what}/config":
            dict(common, unique_id=f"{node}_{what}", object_id=f"{node}_{what}", **payload)
            for (component, what), payload in entities.items()}


class MqttSink:
    """Alerts and camera status to an MQTT broker. One client per process, shared by every camera (the camera is an
    alert's `stream`); topics as a Home Assistant user expects them:

        <prefix>/<camera>/alert    each alert's JSON; qos from config; not retained (an event, not a state)
        <prefix>/<camera>/status   the camera's state, as status() is given it; retained
        <prefix>/availability      "online" (retained) on each connect; "offline" on close, and as the last will
        <discovery_prefix>/<component>/vigil_<prefix>_<camera>/<entity>/config
                                   Home Assistant discovery (retained), from a camera's first status on; emptied when
                                   the camera is removed (state "removed"), which drops the device from Home Assistant

    paho's network thread connects and reconnects on its own (reconnect_min, doubling up to reconnect_max). While
    the broker is unreachable, alerts wait in our own bounded queue (oldest dropped, counted) and go out on the next
    connect, after "online" and each camera's last status again (a broker restarted without persistence forgot
    them). paho's own offline queue is not used for that: when full it refuses the newest message, where the oldest
    should go, and it keeps nothing at QoS 0. What paho already holds when a connection drops (QoS 1 and 2, not yet
    acknowledged) it resends itself on reconnect.

    "delivered" counts alerts the broker acknowledged (QoS 0: written to the connection)."""
    name = "mqtt"
    config_class = MqttConfig      # the [mqtt] table

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
        self._discovery: dict[str, dict[str, str]] = {}    # camera -> {config topic: payload}, sent on each connect
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
            if state.get("state") == "removed":    # forgotten: Home Assistant drops the device, the status goes
                gone = self._discovery.pop(camera, {})
                self._statuses.pop(topic, None)
                if self._connected:
                    for t in [*gone, topic]:
                        self._publish(t, "", retain=True, alert=False)     # an empty retained message clears it
                return
            if self.config.discovery and camera not in self._discovery:
                self._discovery[camera] = {t: json.dumps(p) for t, p in discovery(self.config, camera).items()}
                if self._connected:
                    for t, p in self._discovery[camera].items():
                        self._publish(t, p, retain=True, alert=False)
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
            for topic, payload in [x for d in self._discovery.values() for x in d.items()]:
                self._publish(topic, payload, retain=True, alert=False)
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
