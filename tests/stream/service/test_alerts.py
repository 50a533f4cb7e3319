"""Alerts: automatic ones with a cooldown, watch rules checked on activity's clips, the log and the webhook."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import torch

from memory.clip import ClipMemory
from stream.service.alerts import Alert, Alerter, parse_verdict
from stream.config import AlertConfig
from stream.service.sinks import LogSink, WebhookSink
from stream.events import Event
from stream.ingest import ClipClosed, Step


def step(t, events=(), clip=None):
    """A step's record, or with a clip, the record of that clip closing."""
    if clip is not None:
        return ClipClosed(clip, resume=None, thumb=None, events=list(events))
    return Step(index=int(t), time=t, end=t + 1, total=10, kept=1, encoded=True, events=list(events))


def clip(start, end, cid=1):
    return ClipMemory(stream="s", start=start, end=end, tokens=torch.zeros(1, 4), positions=torch.zeros(1, 3),
                      grid=(1, 1, 1), seconds_per_step=2.0, thumbnail=b"jpeg", id=cid)


def test_automatic_alerts_respect_switches_and_cooldown():
    a = Alerter("s", AlertConfig(cooldown=10.0, scene_changes=False))
    out = []
    for t, kind in [(0, "activity_start"), (3, "activity_end"), (5, "activity_start"), (12, "scene_change"),
                    (14, "activity_start")]:
        out += a.update(step(t, [Event(kind, t)]))
    # 5 s is a new span (the first ended at 3 s): it alerts inside the cooldown; 14 s restarts the open span: held
    assert [(x.kind, x.time) for x in out] == [("activity_start", 0), ("activity_start", 5)]


def test_three_cars_in_three_spans_are_three_alerts_and_a_cut_storm_is_one():
    """The street camera: three activity spans whose starts were stored 9.9999995 s apart (float32 rounding of 4.4
    and 14.4) are three alerts; cuts 2 s apart inside the cooldown are one, and one exactly 10 s later (to the
    microsecond) is another."""
    a = Alerter("s", AlertConfig(cooldown=10.0))
    out = []
    for t, kind in [(4.4000001, "activity_start"), (8.0, "activity_end"), (14.3999996, "activity_start"),
                    (17.0, "activity_end"), (20.0, "activity_start"), (23.0, "activity_end"),
                    (30.0, "scene_change"), (32.0, "scene_change"), (34.0, "scene_change"),
                    (39.9999995, "scene_change")]:
        out += a.update(step(t, [Event(kind, t)]))
    assert [(x.kind, x.time) for x in out] == [("activity_start", 4.4000001), ("activity_start", 14.3999996),
                                               ("activity_start", 20.0), ("scene_change", 30.0),
                                               ("scene_change", 39.9999995)]


def feed(a: Alerter, s: Step | ClipClosed) -> list:
    """What the watcher does with a step: its event alerts, and the rule check of a candidate clip (the verifier
    runs it on its own thread; here, in line)."""
    out = a.update(s)
    if isinstance(s, ClipClosed) and a.candidate(s.clip):
        out += a.check(s.clip)
    return out


def test_rule_checks_only_clips_activity_touched_and_fires_once_per_occurrence():
    asked = []

    def checker(rule, c):
        asked.append(c.start)
        return True, "someone is there"

    a = Alerter("s", AlertConfig(rule_cooldown=0.0), ["a person enters"], checker)
    out = feed(a, step(0, clip=clip(0, 7)))                           # no activity yet: never checked
    out += feed(a, step(8, [Event("activity_start", 9)]))
    out += feed(a, step(16, clip=clip(8, 15)))                        # fires
    out += feed(a, step(24, clip=clip(16, 23)))                       # same occurrence: not asked again
    out += feed(a, step(26, [Event("activity_end", 25)]))
    out += feed(a, step(40, clip=clip(32, 39)))                       # after the span: not a candidate
    out += feed(a, step(41, [Event("activity_start", 41)]))
    out += feed(a, step(48, clip=clip(40, 47, cid=7)))                # a new occurrence: fires again
    assert asked == [8, 40]
    rules = [(x.clip[0], x.reason, x.rule) for x in out if x.kind == "rule"]
    assert rules == [(1, "someone is there", "a person enters"), (7, "someone is there", "a person enters")]


def test_rule_cooldown_rate_limit_and_a_no():
    verdicts = iter([(False, "empty room"), (True, "yes"), (True, "yes"), (True, "yes")])
    a = Alerter("s", AlertConfig(rule_cooldown=20.0, rule_per_hour=2), ["x"], lambda r, c: next(verdicts))
    fired = []
    for k in range(8):                                             # a new activity every 10 s
        t = 10.0 * k
        feed(a, step(t, [Event("activity_start", t)]))
        fired += feed(a, step(t + 8, clip=clip(t, t + 7, cid=k)))
        feed(a, step(t + 9, [Event("activity_end", t + 8.5)]))
    # k=0 said no; k=1 fires (clip ends at 17 s); k=2 ends 10 s later, inside the cooldown; k=3 fires (20 s);
    # then two in the hour: no more
    assert [x.clip[0] for x in fired if x.kind == "rule"] == [1, 3]


def test_parse_verdict():
    assert parse_verdict("Yes. A man walks in through the door.") == (True, "A man walks in through the door.")
    assert parse_verdict("no, the room is empty") == (False, "the room is empty")
    assert parse_verdict("Maybe") == (False, "") and parse_verdict("") == (False, "")
    assert parse_verdict("yesterday someone came")[0] is False


def test_alert_log_appends_and_survives_a_torn_line(tmp_path):
    log = LogSink(tmp_path)
    log.append(Alert("activity_start", "s", 1.0, "a"))
    with open(log.path, "a") as f:
        f.write('{"kind": "rule", "tor')                                 # a crash mid-write
    log2 = LogSink(tmp_path)
    log2.append(Alert("rule", "s", 2.0, "b", rule="r"))
    assert [a["time"] for a in log2.read()] == [1.0, 2.0]              # the torn line is ended, not joined
    log2.append(Alert("rule", "s", 3.0, "c"))
    assert [a["time"] for a in log2.read()] == [1.0, 2.0, 3.0]
    assert log.path.read_text().count("\n") == 4                       # the torn line alone is lost


def test_webhook_retries_with_backoff_and_never_blocks():
    got, fails = [], {"left": 2}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if fails["left"] > 0:
                fails["left"] -= 1
                self.send_response(503)
            else:
                got.append(json.loads(body))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = WebhookSink(f"http://127.0.0.1:{server.server_port}/hook", AlertConfig(webhook_backoff=0.05))
    hook.send(Alert("rule", "door", 12.5, "a person enters", rule="a person enters"))
    dead = WebhookSink("http://127.0.0.1:9/nothing", AlertConfig(webhook_attempts=2, webhook_backoff=0.01))
    dead.send(Alert("activity_start", "door", 1.0, "x"))
    hook.close(timeout=10)
    dead.close(timeout=10)
    server.shutdown()
    assert [g["time"] for g in got] == [12.5] and got[0]["rule"] == "a person enters"
    assert hook.delivered == 1 and fails["left"] == 0
    assert dead.failed == 1 and dead.delivered == 0


def test_verifier_holds_an_alert_for_its_description_and_sends_it_once():
    """Described in time: one send, with the description. Not in time: plain first, then an update (same id)."""
    import threading
    from stream.service.verifier import Description, Verifier

    gate = threading.Event()
    sent, lock = [], threading.Lock()

    def deliver(alert):
        with lock:
            sent.append(alert)

    def describer(kind, c):
        gate.wait(10)
        return Description("Person at the door", "Someone walks in.", "notice")
    a = Alerter("s", AlertConfig(describe_wait=0.3))
    v = Verifier(a, lambda r, c: (False, ""), describer, deliver, AlertConfig(describe_wait=0.3), noise=True)
    first = a.update(step(1, [Event("activity_start", 1)]))[0]
    v.raised(first)
    v.clip_closed(clip(0, 7))
    gate.set()                                                  # the model answers at once
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sent) == 1 and sent[0].id == first.id and sent[0].title == "Person at the door"
    assert sent[0].severity == "notice" and sent[0].noise and not sent[0].update
    gate.clear()                                                # now the model is slow
    second = a.update(step(20, [Event("activity_start", 20)]))[0]
    v.raised(second)
    v.clip_closed(clip(16, 23, cid=2))
    time.sleep(0.6)
    assert [x.id for x in sent] == [first.id, second.id] and sent[1].description is None    # plain, in time
    gate.set()
    v.close(timeout=5)
    assert [x.id for x in sent] == [first.id, second.id, second.id]
    assert sent[2].update and sent[2].description == "Someone walks in."


def test_verifier_checks_rules_off_the_caller_thread_and_its_queue_is_bounded():
    import threading
    from stream.service.verifier import Verifier

    release, entered, threads = threading.Event(), threading.Event(), set()

    def checker(rule, c):
        threads.add(threading.current_thread().name)
        entered.set()
        release.wait(10)
        return True, "yes"
    cfg = AlertConfig(describe=False, verify_queue=2, rule_cooldown=0.0)
    a = Alerter("s", cfg, ["a person"])
    sent = []
    v = Verifier(a, checker, None, sent.append, cfg)
    a.update(step(0, [Event("activity_start", 0)]))
    v.clip_closed(clip(0, 7, cid=0))
    assert entered.wait(5)                   # the worker holds the first; the caller is free again
    for k in range(1, 6):                    # two wait; the rest push the oldest out
        v.clip_closed(clip(k * 8, k * 8 + 7, cid=k))
    st = v.stats()
    assert st["queued"] == 2 and st["dropped"] == 3
    release.set()
    v.close(timeout=5)
    assert threads == {"vigil-verify-s"}
    assert len([x for x in sent if x.kind == "rule"]) == 1        # once per occurrence, though all said yes
    assert a.view()[0].checks >= 1 and a.view()[0].last.holds


def test_rules_replaced_while_running_keep_their_history():
    a = Alerter("s", AlertConfig(rule_cooldown=0.0), ["x"], lambda r, c: (True, "ok"))
    feed(a, step(0, [Event("activity_start", 0)]))
    assert len(feed(a, step(8, clip=clip(0, 7)))) == 1
    a.set_rules(["x", "y"])
    assert [r.text for r in a.view()] == ["x", "y"] and a.view()[0].checks == 1 and a.view()[1].checks == 0


def test_a_full_rule_check_queue_lets_the_oldest_waiting_clips_go_and_checks_the_newest():
    """The checker is busy with clip 0 while clips 1-5 close: the queue holds 2, so 1, 2 and 3 are let go and 4
    and 5, the newest (what a person wants checked), are checked after 0."""
    import threading
    from stream.service.verifier import Verifier

    release, entered, checked = threading.Event(), threading.Event(), []

    def checker(rule, c):
        checked.append(c.id)
        entered.set()
        release.wait(10)
        return False, "no"                   # never fires: every clip it is given is checked
    cfg = AlertConfig(describe=False, verify_queue=2, rule_cooldown=0.0)
    a = Alerter("s", cfg, ["a person"])
    v = Verifier(a, checker, None, lambda alert: None, cfg)
    a.update(step(0, [Event("activity_start", 0)]))
    v.clip_closed(clip(0, 7, cid=0))
    assert entered.wait(5)
    for k in range(1, 6):
        v.clip_closed(clip(k * 8, k * 8 + 7, cid=k))
    release.set()
    v.close(timeout=5)
    assert checked == [0, 4, 5] and v.stats()["dropped"] == 3
