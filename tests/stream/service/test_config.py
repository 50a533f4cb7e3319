"""The serve config (TOML) and the shared-sink registry it reads: every sink's table is found through the registry,
so a new sink is its class and one line; wrong input is a one-line error naming the file and the key."""
from dataclasses import dataclass

import pytest

from stream.service import sinks
from stream.service.config import load
from stream.service.sinks.mqtt import MqttConfig, MqttSink

CAMERA = '[[camera]]\nname = "door"\nsource = "rtsp://cam/1"\n'


def write(tmp_path, text: str):
    path = tmp_path / "vigil.toml"
    path.write_text(text)
    return path


def test_the_example_config_reads(tmp_path):
    from tests.conftest import ROOT
    cfg = load(ROOT / "vigil.example.toml")
    assert [c.name for c in cfg.cameras] == ["room"] and cfg.sinks == {} and cfg.used_sinks() == {}


def test_a_camera_sends_to_a_registered_sink_with_its_table(tmp_path):
    cfg = load(write(tmp_path, '[mqtt]\nhost = "127.0.0.1"\nport = 1884\n' + CAMERA + 'sinks = ["mqtt"]\n'
                     '[[camera]]\nname = "yard"\nsource = "0"\n'))
    assert cfg.sinks == {"mqtt": MqttConfig(host="127.0.0.1", port=1884)}
    assert cfg.used_sinks() == cfg.sinks and cfg.cameras[1].sinks == []
    unused = load(write(tmp_path, '[mqtt]\nport = 1884\n' + CAMERA))
    assert unused.sinks and unused.used_sinks() == {}          # a table no camera sends to opens no client
    assert sinks.sink_class("mqtt") is MqttSink


@pytest.mark.parametrize("text, error", [
    ('[mqtt]\nport = 1884\n' + CAMERA + 'sinks = ["ntfy"]\n', "unknown sink 'ntfy': the sinks are 'mqtt'"),
    (CAMERA + 'sinks = ["mqtt"]\n', "camera 'door' sends to 'mqtt' but there is no [mqtt] table"),
    ('[mqtt]\nbroker = "x"\n' + CAMERA, "[mqtt]: unknown key 'broker' (known: client_id"),
    ('[mqtt]\nport = 0\n' + CAMERA, "[mqtt]: mqtt port must be an integer in [1, 65535]"),
    ('[ntfy]\ntopic = "x"\n' + CAMERA, "unknown table [ntfy] (known: server, model, store, defaults, camera, answer, mqtt)"),
])
def test_wrong_sinks_are_one_line_errors_naming_the_file(tmp_path, text, error):
    with pytest.raises(ValueError) as e:
        load(write(tmp_path, text))
    assert str(e.value).startswith(f"{tmp_path / 'vigil.toml'}: ") and error in str(e.value)
    assert "\n" not in str(e.value)


def test_defaults_apply_to_every_camera_and_a_camera_s_own_key_wins(tmp_path):
    cfg = load(write(tmp_path, '[defaults]\nactivity_alerts = false\nrules = ["a person enters"]\nmax_clips = 50\n'
                     'fps = 2\n' + CAMERA + 'max_clips = 7\nfps = 0.5\n[[camera]]\nname = "yard"\nsource = "0"\nrules = []\n'))
    door, yard = cfg.cameras
    assert (door.activity_alerts, door.rules, door.max_clips) == (False, ["a person enters"], 7)
    assert (yard.activity_alerts, yard.rules, yard.max_clips) == (False, [], 50)
    assert (door.fps, yard.fps) == (0.5, 2)
    night = load(write(tmp_path, '[defaults]\nschedule = ["22:00-06:00"]\n' + CAMERA)).cameras[0]
    assert night.schedule == ["22:00-06:00"]
    door.rules.append("x")
    assert cfg.cameras[1].rules == [] and load(write(tmp_path, CAMERA)).cameras[0].activity_alerts   # no defaults


def test_the_store_table_picks_the_vector_index_and_a_bad_one_is_one_line(tmp_path):
    assert load(write(tmp_path, CAMERA)).store.index == "faiss"
    cfg = load(write(tmp_path, '[store]\nindex = "pgvector"\nindex_url = "postgresql://vigil@db/vigil"\n' + CAMERA))
    assert (cfg.store.index, cfg.store.index_url) == ("pgvector", "postgresql://vigil@db/vigil")
    cfg = load(write(tmp_path, '[store]\nurl = "postgresql://vigil@db/vigil"\nlease_seconds = 5\n' + CAMERA))
    assert (cfg.store.url, cfg.store.lease_seconds) == ("postgresql://vigil@db/vigil", 5)
    for text, error in (('[store]\nindex = "pgvector"\n', "[store]: the pgvector index needs its server's URL"),
                        ('[store]\nindex = "milvus"\n', "[store]: unknown vector index 'milvus'"),
                        ('[store]\nurl = "x"\n', "[store]: url must be postgresql://... (a shared store), got 'x'"),
                        ('[store]\nlease_seconds = 0.5\n', "[store]: lease_seconds must be at least 1, got 0.5"),
                        ('[store]\nfrob = 1\n', "[store]: unknown key 'frob' (known: index, index_url, lease_seconds, url)")):
        with pytest.raises(ValueError) as e:
            load(write(tmp_path, text + CAMERA))
        assert error in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text, error", [
    ('[defaults]\nname = "all"\n' + CAMERA, "[defaults]: unknown key 'name' (known: activity_alerts"),
    ('[defaults]\nfrobs = 1\n' + CAMERA, "[defaults]: unknown key 'frobs'"),
    ('[defaults]\nmax_clips = 0\n' + CAMERA, "[defaults]: max_clips must be an integer of at least 1, got 0"),
    ('[defaults]\ndescribe = "yes"\n' + CAMERA, "[defaults]: describe must be true or false, got 'yes'"),
    (CAMERA + 'alert_video = 1\n', "[[camera]] 1: alert_video must be true or false, got 1"),
    ('[defaults]\ndaily_recap = "7:30"\n' + CAMERA, "[defaults]: daily_recap must be a local time HH:MM"),
    (CAMERA + 'rules = "a person enters"\n', "[[camera]] 1: rules must be a list of strings"),
    ('defaults = 3\n' + CAMERA, "[defaults] must be a table"),
    ('[defaults]\nfps = 40\n' + CAMERA, "[defaults]: fps must be in (0, 30], got 40"),
    (CAMERA + 'fps = "2"\n', "[[camera]] 1: fps must be a number, got '2'"),
    ('[answer]\nurl = "http://127.0.0.1:9/v1"\nmodel = "m"\nmax_frames = 8\n[defaults]\nmax_images = 4\n' + CAMERA +
     'max_images = 12\n', "[[camera]] 1: max_images (12) exceeds [answer] max_frames (8)"),
    (CAMERA + 'max_bytes = 1.5e6\n', "[[camera]] 1: max_bytes must be an integer of at least 1, got 1500000.0"),
    ('[defaults]\nmax_images = 0\n' + CAMERA, "[defaults]: max_images must be an integer of at least 1, got 0"),
    ('[defaults]\nschedule = ["25:00-06:00"]\n' + CAMERA,
     "[defaults]: schedule window '25:00-06:00' must be \"HH:MM-HH:MM\" in local time"),
    (CAMERA + 'schedule = "22:00-06:00"\n', "[[camera]] 1: schedule must be a list of strings"),
    ('[defaults]\nvideo_llm = false\n' + CAMERA + 'rules = ["a person enters"]\n',
     "[[camera]] 1: rules are checked by the video LLM: an events-only camera (video_llm = false) has none"),
])
def test_wrong_defaults_and_types_are_one_line_errors_naming_the_key(tmp_path, text, error):
    with pytest.raises(ValueError) as e:
        load(write(tmp_path, text))
    assert str(e.value).startswith(f"{tmp_path / 'vigil.toml'}: ") and error in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


@dataclass
class BellConfig:
    # The bell's name: a sink's settings are a dataclass with a why-comment per field, checked on construction.
    tone: str = "ding"

    def __post_init__(self):
        if not self.tone:
            raise ValueError("bell tone must not be empty")


class BellSink:
    """A shared sink that keeps what it is given: the smallest one, to prove that a sink needs nothing but its class
    and one registry line."""
    name = "bell"
    config_class = BellConfig

    def __init__(self, config: BellConfig):
        self.config, self.alerts, self.statuses, self.closed = config, [], [], False

    def send(self, alert):
        self.alerts.append(alert)

    def status(self, camera, state):
        self.statuses.append((camera, state))

    def close(self, timeout=None):
        self.closed = True

    def stats(self):
        return {"delivered": len(self.alerts), "failed": 0, "dropped": 0, "error": None}


def test_a_new_sink_is_its_class_and_one_registry_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sinks.SHARED, "bell", (__name__, "BellSink"))
    cfg = load(write(tmp_path, '[bell]\ntone = "dong"\n' + CAMERA + 'sinks = ["bell"]\n'))
    assert cfg.used_sinks() == {"bell": BellConfig(tone="dong")}
    opened = sinks.open_shared(cfg.used_sinks())
    assert isinstance(opened["bell"], BellSink) and opened["bell"].config.tone == "dong"
    assert isinstance(opened["bell"], sinks.Sink)              # the protocol's methods, checked at run time
    with pytest.raises(ValueError, match=r"\[bell\]: bell tone must not be empty"):
        load(write(tmp_path, '[bell]\ntone = ""\n' + CAMERA))
