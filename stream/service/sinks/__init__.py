"""Where alerts go besides the page. Every camera has its own log (`log.LogSink`, alerts.jsonl in its memory) and
may name a webhook (`webhook.WebhookSink`); the sinks a camera lists by name in its `sinks` are shared by every
camera of the process and registered here, each with its settings from the serve config's table of the same name:

    [mqtt]                        # MqttSink's MqttConfig
    host = "localhost"
    [[camera]]
    sinks = ["mqtt"]

A new shared sink (ntfy, Telegram, a Home Assistant webhook) is one file in this folder holding its class, whose
`config_class` is the dataclass of its table and whose constructor takes it, and one line in SHARED. Its module is
imported only when a config names it, so an optional client library is needed only where it is used.
"""
import importlib
import threading

from stream.service.sinks.base import Sink
from stream.service.sinks.log import LogSink
from stream.service.sinks.webhook import WebhookSink

# name (the TOML table and the camera's `sinks` entry) -> (module, class)
SHARED = {
    "mqtt": ("stream.service.sinks.mqtt", "MqttSink"),
}
_lock = threading.Lock()
_loaded: dict[str, type] = {}

__all__ = ["SHARED", "LogSink", "Sink", "WebhookSink", "open_shared", "sink_class"]


def sink_class(name: str) -> type:
    """The class of shared sink `name`; ValueError in one line for an unknown name."""
    if name not in SHARED:
        raise ValueError(f"unknown sink {name!r}: the sinks are {', '.join(repr(n) for n in sorted(SHARED))} (and "
                         f"the webhook key)")
    with _lock:
        if name not in _loaded:
            module, cls = SHARED[name]
            _loaded[name] = getattr(importlib.import_module(module), cls)
        return _loaded[name]


def open_shared(configs: dict[str, object]) -> dict[str, Sink]:
    """One sink per entry of {name: its config dataclass} (as stream.service.config reads them from the tables)."""
    return {name: sink_class(name)(config) for name, config in sorted(configs.items())}
