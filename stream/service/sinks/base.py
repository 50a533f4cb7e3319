"""The one interface every alert sink has. An alert may be sent twice with the same id: the second time is an update
(it carries its description); every sink treats it as an alert (the log appends a line, the webhook posts again, MQTT
publishes again) and consumers match ids. A dead endpoint or broker costs a bounded queue, never the caller's time:
ingestion is never stalled by delivery."""
from typing import Protocol, runtime_checkable

from stream.service.alerts import Alert

# The states a camera's status (Watcher.status) takes, as sinks and /metrics name them.
CAMERA_STATES = ("connecting", "live", "reconnecting", "playing", "ended", "stopped", "error")


@runtime_checkable
class Sink(Protocol):
    """Somewhere alerts go. A per-camera sink (log, webhook) is closed by its watcher; a shared one (MQTT: one
    client per process for every camera) by whoever made it. A sink that keeps alerts on this machine rather than
    sending them (the API's feed) has `local = True`: a camera's schedule (the hours alerts are sent) does not hold
    alerts back from it."""
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
