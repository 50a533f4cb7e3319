"""The answer-server client: which frames go, how they are labelled, and one clear line for each way a server fails
(the faults come from tests/fault_server.py; real answers are tested against a real server elsewhere)."""
import base64
import time

import pytest
import torch

from models.backend import PromptClip, PromptFrame
from models.config import ServerConfig
from models.remote import ServerAnswerer, ServerError, pick_frames


def _clip(label: str, times: list[int]) -> PromptClip:
    frames = [PromptFrame(f"00:00:{t:02d}", bytes([t]) * 10) for t in times]
    return PromptClip(label, torch.zeros(0, 4), torch.zeros(0, 3, dtype=torch.long), (1, 1, 1), 1.0, frames=frames)


def test_frames_within_budget_are_all_sent():
    clips = [_clip("a", [0, 1]), _clip("b", [8, 9])]
    assert [[f.label for f in fs] for fs in pick_frames(clips, 4)] == [["00:00:00", "00:00:01"],
                                                                      ["00:00:08", "00:00:09"]]


def test_over_budget_frames_are_spread_over_time_and_keep_the_newest():
    clips = [_clip(str(i), [2 * i, 2 * i + 1]) for i in range(10)]        # 20 frames, 0..19 s
    picked = pick_frames(clips, 5)
    sent = [f.label for fs in picked for f in fs]
    assert len(sent) == 5
    assert sent[0] == "00:00:00" and sent[-1] == "00:00:19"               # the first and the newest
    seconds = [int(s[-2:]) for s in sent]
    assert max(b - a for a, b in zip(seconds, seconds[1:])) <= 6          # no long stretch left out
    assert sum(1 for fs in picked if fs) == 5                             # spread over clips, not five of one


def test_messages_put_each_frame_after_its_time_and_the_question_last():
    answerer = ServerAnswerer(ServerConfig(url="http://127.0.0.1:9/v1", model="m"), 16)
    msgs = answerer.messages("Who came in?", [_clip("[00:00:00 - 00:00:08]", [1, 5])], "Time now: 00:00:10.")
    parts = msgs[1]["content"]
    assert [p["type"] for p in parts] == ["text", "text", "image_url", "text", "image_url", "text"]
    assert parts[0]["text"] == "Clip [00:00:00 - 00:00:08]:" and parts[1]["text"] == "Frame at 00:00:01:"
    url = parts[2]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,") and base64.b64decode(url.split(",", 1)[1]) == bytes([1]) * 10
    assert parts[-1]["text"] == "Time now: 00:00:10.\nQuestion: Who came in?"
    size = answerer.request_size("Who came in?", [_clip("x", [1, 5])])
    assert size.frames == 2 and size.bytes > 0


def _answerer(url, **kw):
    cfg = dict(url=url, model="m", timeout=1.0, connect_timeout=1.0, retries=2) | kw
    return ServerAnswerer(ServerConfig(**cfg), 16)


def test_a_streamed_answer_arrives_piece_by_piece(fault):
    s = fault(["ok"])
    assert list(_answerer(s.url).answer("q", [_clip("c", [1])])) == ["a ", "person ", "walks"]
    body = s.faults.requests[0][1]
    assert body["stream"] is True and body["model"] == "m" and body["max_tokens"] == 16


def test_a_500_is_retried_with_backoff_then_answers(fault):
    s = fault([500, 503, "ok"])
    assert "".join(_answerer(s.url).answer("q", [])) == "a person walks"
    times = [t for t, _ in s.faults.requests]
    assert len(times) == 3 and times[1] - times[0] >= 0.2        # backed off before retrying


def test_a_server_failing_past_the_retries_is_one_line(fault):
    s = fault([503])
    with pytest.raises(ServerError) as e:
        list(_answerer(s.url, retries=1).answer("q", []))
    assert len(s.faults.requests) == 2
    msg = str(e.value)
    assert "busy or failing (HTTP 503: injected HTTP 503) after 1 retries" in msg and "\n" not in msg


def test_a_huge_retry_after_waits_no_longer_than_the_cap(fault):
    """A server asking for 100000 s: the retry comes after backoff_max, not in a day."""
    import time
    s = fault([429, "ok"])
    s.faults.retry_after = "100000"
    begun = time.monotonic()
    assert "".join(_answerer(s.url, backoff_max=0.3).answer("q", [])) == "a person walks"
    times = [t for t, _ in s.faults.requests]
    assert len(times) == 2 and 0.25 <= times[1] - times[0] and time.monotonic() - begun < 3.0


def test_rate_limits_are_retried(fault):
    s = fault([429, "ok"])
    assert "".join(_answerer(s.url).answer("q", [])) == "a person walks"
    assert len(s.faults.requests) == 2


def test_a_dead_server_is_one_line_and_quick():
    t0 = time.monotonic()
    with pytest.raises(ServerError, match=r"answer server http://127.0.0.1:9/v1 is unreachable .* is it running\?"):
        list(_answerer("http://127.0.0.1:9/v1", retries=1).answer("q", []))
    assert time.monotonic() - t0 < 10


def test_a_server_that_says_nothing_times_out_once_not_per_retry(fault):
    s = fault(["hang"])
    t0 = time.monotonic()
    with pytest.raises(ServerError, match="did not answer within 0.5 s"):
        list(_answerer(s.url, timeout=0.5, retries=2).answer("q", []))
    assert time.monotonic() - t0 < 5 and len(s.faults.requests) == 1


def test_a_wrong_path_asks_about_the_url_not_the_model(fault):
    s = fault([404])
    with pytest.raises(ServerError, match="no chat-completions endpoint there .* It usually ends in /v1"):
        list(_answerer(s.url).answer("q", []))


def test_no_password_in_a_url_reaches_a_message():
    with pytest.raises(ServerError) as e:
        list(_answerer("http://user:secret@127.0.0.1:9/v1", retries=0).answer("q", []))
    assert "secret" not in str(e.value) and "http://127.0.0.1:9/v1" in str(e.value)


def test_a_budget_of_one_frame_sends_the_newest():
    assert [[f.label for f in fs] for fs in pick_frames([_clip("a", [0, 1]), _clip("b", [8, 9])], 1)] == \
        [[], ["00:00:09"]]


def test_a_stream_dropped_mid_answer_says_so(fault):
    s = fault(["drop"])
    got = []
    with pytest.raises(ServerError, match="broke after 1 pieces|failed mid-answer after 1 pieces"):
        for piece in _answerer(s.url, retries=0).answer("q", []):
            got.append(piece)
    assert got == ["a "]


def test_a_model_that_takes_no_images_is_named(fault):
    s = fault(["refuse_images"])
    with pytest.raises(ServerError, match=r"refused the request \(HTTP 400: this model does not support image input\); "
                                          r"is 'm' a vision model\?"):
        list(_answerer(s.url).answer("q", [_clip("c", [1])]))
    assert len(s.faults.requests) == 1                           # a refusal is not retried


@pytest.mark.parametrize("kw, match", [(dict(url="ftp://x"), "must start with http"),
                                      (dict(url="http://x:1/v1", model=""), "needs the model name"),
                                      (dict(max_frames=0), "max_frames"), (dict(timeout=0), "timeout must be a positive"),
                                      (dict(retries=1.5), "whole number"), (dict(url=None), "needs its server")])
def test_config_refuses_what_cannot_work(kw, match):
    with pytest.raises(ValueError, match=match):
        ServerConfig(**({"url": "http://x:1/v1", "model": "m"} | kw))
