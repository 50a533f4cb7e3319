"""Live sources that come back: against a real FFmpeg HTTP server (MPEG-TS) that the tests kill, freeze and restart.

FFmpeg's `-listen 1` serves one client and then exits, so every reconnection is to a new server process on the same
port, as a restarted camera or relay would be."""
import math
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from app.timeline import timeline_svg
from models.served import free_port
from stream.config import ReconnectConfig, SamplingConfig
from stream.events import gap_spans
from stream.sources import LiveSource, SourceError, backoff_delay, sample_live

# Short waits so a test run stays within seconds: a read fails a second after the last frame, retries start at a
# tenth of a second and never wait more than half a second.
FAST = ReconnectConfig(initial=0.1, factor=2.0, cap=0.5, jitter=0.0, open_timeout=2.0, read_timeout=1.0)
# How long a test waits for a state the source should reach within a few of those steps (a generous bound: a
# loaded 2-core machine starts FFmpeg slowly).
SETTLE = 15.0


# ---- the backoff schedule and the config -------------------------------------------------------------------------

def test_backoff_doubles_from_initial_up_to_the_cap():
    cfg = ReconnectConfig(initial=0.5, factor=2.0, cap=60.0, jitter=0.25)
    assert [backoff_delay(a, cfg, 0.0) for a in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(10 ** 9, cfg, 0.0) == 60.0          # a camera down for years: no float overflow
    assert backoff_delay(1, ReconnectConfig(initial=3.0, factor=1.0, cap=3.0), 0.0) == \
        backoff_delay(50, ReconnectConfig(initial=3.0, factor=1.0, cap=3.0), 0.0) == 3.0


def test_backoff_jitter_only_shortens_the_wait_by_at_most_its_share():
    cfg = ReconnectConfig(initial=1.0, factor=2.0, cap=8.0, jitter=0.25)
    assert backoff_delay(3, cfg, 1.0) == pytest.approx(3.0)         # 4 s less a quarter
    assert backoff_delay(3, cfg, 0.5) == pytest.approx(3.5)
    assert backoff_delay(9, cfg, 1.0) == pytest.approx(6.0)         # the cap stays a true cap
    with pytest.raises(ValueError):
        backoff_delay(0, cfg, 0.5)
    with pytest.raises(ValueError):
        backoff_delay(1, cfg, 1.5)


@pytest.mark.parametrize("bad", [dict(initial=0.0), dict(initial=-1.0), dict(initial=90.0, cap=60.0),
                                 dict(factor=0.5), dict(jitter=1.0), dict(jitter=-0.1), dict(max_attempts=-1),
                                 dict(max_attempts=2.5), dict(open_timeout=0.0), dict(read_timeout=-5.0),
                                 dict(cap=math.inf), dict(initial=math.nan)])
def test_reconnect_config_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        ReconnectConfig(**bad)


def test_sampling_config_carries_the_reconnect_settings():
    assert SamplingConfig().reconnect == ReconnectConfig()
    assert SamplingConfig(reconnect=FAST).reconnect.read_timeout == 1.0


# ---- a real FFmpeg server --------------------------------------------------------------------------------------

class Server:
    """A real FFmpeg HTTP server streaming a clip as MPEG-TS in real time, looped; small frames and a keyframe a
    second so a client starts decoding at once. One process at a time; `start` again after `kill` to restart."""

    def __init__(self, clip: str, port: int):
        import imageio_ffmpeg
        self.cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "quiet", "-re",
                    "-stream_loop", "-1", "-i", clip, "-an", "-vf", "scale=320:-2", "-c:v", "mpeg4", "-g", "10",
                    "-q:v", "5", "-f", "mpegts", "-listen", "1", f"http://127.0.0.1:{port}/live.ts"]
        self.url = f"http://127.0.0.1:{port}/live.ts"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Server":
        assert self.proc is None or self.proc.poll() is not None, "a server is still running"
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        return self

    def freeze(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()                # SIGKILL ends a frozen (SIGSTOPped) process too
            self.proc.wait()


@pytest.fixture
def server(videos):
    srv = Server(str(videos / "vtest.avi"), free_port())
    yield srv
    srv.kill()


@pytest.fixture
def sources():
    """LiveSources a test opens; stopped at teardown even when the test fails."""
    made = []
    yield made
    for src in made:
        src.stop()


def live(url, sources, cfg=FAST, fail_fast=False, **kw) -> LiveSource:
    src = LiveSource(url, max_side=320, reconnect=cfg, fail_fast=fail_fast, **kw)
    sources.append(src)
    return src


def next_frame(src, seq, timeout=SETTLE):
    frame, seq = src.read_latest(after=seq, timeout=timeout)
    assert frame is not None, f"no frame within {timeout} s: {src.status()}"
    return frame, seq


# ---- the stream drops and comes back ---------------------------------------------------------------------------

def test_a_killed_server_is_reconnected_and_the_gap_reported(server, sources):
    src = live(server.start().url, sources)
    assert src.wait_for("live", timeout=SETTLE).state == "live"
    sampled, done = [], threading.Event()        # the ingest loop's sampler, running through the drop
    took = []                                    # the frames with a gap the sampler took (it may be first to)

    def consume():
        for f in sample_live(src, fps=5.0, stop=done):
            sampled.append(f.time)
            if any(e.kind == "source_gap" and e.time > 0 for e in f.events):
                took.append(f)
    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    frame, seq = next_frame(src, 0)
    # (FFmpeg may have been a moment from listening when the source first tried: that start is a gap from 0.)
    assert frame.image.shape[1] == 320 and all(e.time == 0.0 for e in frame.events if e.kind == "source_gap")
    assert abs(frame.wall - time.time()) < 2.0                  # frames carry their wall-clock arrival time
    frame, seq = next_frame(src, seq)
    assert frame.events == []                                   # a stream that flows reports no gap

    server.kill()                                   # the camera's server dies mid-stream
    st = src.wait_for("reconnecting", timeout=SETTLE)
    noticed = src.clock() - src.t0                  # (frames still in the socket may come after the kill itself)
    assert st.state == "reconnecting" and st.attempt >= 1 and "stream lost" in st.last_error
    assert abs(st.since - time.time()) < SETTLE
    assert not src.closed                           # the consumer keeps waiting: the stream is not over
    seen, seq = src.read_latest(after=0, timeout=0)             # the newest frame delivered before the drop

    down = 1.0                                      # the server stays down this long, so the gap must span it
    threading.Event().wait(down)
    server.start()
    st = src.wait_for("live", timeout=SETTLE)
    assert (st.state, st.reconnects, st.attempt, st.last_error) == ("live", 1, 0, None)   # no stale error

    frame, seq = next_frame(src, seq)
    threading.Event().wait(0.5)                  # a sampler's take at 5 fps
    # Two readers share the source here, this test and the sampler: the gap comes with the first frame after the
    # drop, which either may take first. It is reported once in all, first among that frame's events.
    # (A frame handed to each reader is its own record of one delivered image: the same frame shares its image.)
    with_gap = {id(f.image): f for f in [frame, *took] if any(e.kind == "source_gap" and e.time > 0 for e in f.events)}
    assert len(with_gap) == 1, [f.events for f in with_gap.values()]
    frame = next(iter(with_gap.values()))
    gaps = [e for e in frame.events if e.kind == "source_gap"]
    assert len(gaps) == 1 and frame.events[0] is gaps[0], frame.events
    gap = gaps[0]
    assert gap.time == seen.time < noticed                    # from the last frame before the drop ...
    assert gap.detail["end"] == pytest.approx(frame.time, abs=1.0) and gap.detail["end"] - gap.time >= down
    assert "stream lost" in gap.detail["reason"]                 # ... to the first frame after it, with why
    frame, _ = next_frame(src, seq)
    assert not any(e.kind == "source_gap" for e in frame.events)
    assert consumer.is_alive()                   # the drop did not end the sampler ...
    done.set()
    consumer.join(SETTLE)
    assert not consumer.is_alive()
    assert any(t <= gap.time for t in sampled) and any(t >= gap.detail["end"] for t in sampled)   # ... it went on


def test_a_frozen_server_times_out_in_the_read_timeout_not_ffmpegs_30_s(server, sources):
    src = live(server.start().url, sources)
    assert src.wait_for("live", timeout=SETTLE).state == "live"
    next_frame(src, 0)

    server.freeze()                                 # SIGSTOP: the connection stays up, no byte comes
    frozen = time.monotonic()
    st = src.wait_for("reconnecting", timeout=SETTLE)
    took = time.monotonic() - frozen
    assert st.state == "reconnecting" and "1 s" in st.last_error
    # The read timeout is 1 s; a frame or two already in the socket may come first. FFmpeg's default is 30 s.
    assert FAST.read_timeout <= took + 0.2 and took < FAST.read_timeout + 3.0

    server.kill()                                   # the frozen process is gone; a new one takes the port
    server.start()
    st = src.wait_for("live", timeout=SETTLE)
    assert (st.state, st.reconnects) == ("live", 1)


def test_stop_during_a_backoff_wait_returns_at_once(sources):
    long_wait = ReconnectConfig(initial=30.0, cap=30.0, jitter=0.0, open_timeout=2.0, read_timeout=1.0)
    src = live(f"http://127.0.0.1:{free_port()}/live.ts", sources, cfg=long_wait)
    st = src.wait_for(lambda st: st.attempt >= 1, timeout=SETTLE)   # never connected: it stays "connecting" ...
    assert st.state == "connecting" and st.attempt == 1            # ... and now waits 30 s for its next try
    begun = time.monotonic()
    src.stop()
    assert time.monotonic() - begun < 1.0
    assert src.status().state == "stopped" and src.closed and not src._thread.is_alive()


def test_fail_fast_refuses_a_dead_url_at_once_with_one_line(sources):
    url = f"http://127.0.0.1:{free_port()}/live.ts"
    before = threading.active_count()
    begun = time.monotonic()
    with pytest.raises(SourceError) as e:
        live(url, sources, fail_fast=True)
    assert time.monotonic() - begun < FAST.open_timeout
    assert str(e.value) == f"cannot open stream: {url}"
    assert threading.active_count() == before                   # no reader thread left behind


def test_a_server_that_accepts_but_never_answers_fails_the_open_in_the_open_timeout(sources):
    # Fault injection, not a stream: a socket that listens (the kernel accepts the connection) and never answers,
    # as a hung camera does. FFmpeg on its own would wait 30 s for the HTTP reply.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/live.ts"
        cfg = ReconnectConfig(open_timeout=1.0, read_timeout=1.0)
        begun = time.monotonic()
        with pytest.raises(SourceError, match="cannot open stream"):
            live(url, sources, cfg=cfg, fail_fast=True)
        took = time.monotonic() - begun
    assert cfg.open_timeout - 0.2 <= took < cfg.open_timeout + 2.0


def test_a_camera_that_is_not_up_yet_is_waited_for(server, sources):
    src = live(server.url, sources)                             # nothing listens yet
    st = src.wait_for(lambda st: st.attempt >= 1, timeout=SETTLE)
    assert st.state == "connecting" and st.attempt >= 1 and st.last_error == f"cannot open stream: {server.url}"
    server.start()
    st = src.wait_for("live", timeout=SETTLE)
    assert (st.state, st.reconnects, st.attempt) == ("live", 0, 0)   # a first connection, not a reconnection
    frame, _ = next_frame(src, 0)
    gap = frame.events[0]                                       # the stream's start had no video either
    assert gap.kind == "source_gap" and gap.time == 0.0 and gap.detail["end"] == pytest.approx(frame.time, abs=1.0)


def test_a_source_that_gives_up_ends_the_consumer(sources):
    cfg = ReconnectConfig(initial=0.05, cap=0.1, jitter=0.0, max_attempts=2, open_timeout=1.0, read_timeout=1.0)
    src = live(f"http://127.0.0.1:{free_port()}/live.ts", sources, cfg=cfg)
    st = src.wait_for("error", timeout=SETTLE)
    assert (st.state, st.attempt) == ("error", 3)               # the first try and its two retries failed
    assert list(sample_live(src, fps=5.0)) == []                 # the slot closed: the loop ends, it does not hang
    src._thread.join(SETTLE)
    assert not src._thread.is_alive()


def test_a_video_of_known_length_ends_instead_of_replaying(videos, sources):
    # A file behind the URL (here its path: OpenCV reads both through FFmpeg) has a frame count; a live stream has
    # none. Read to its end it is over, not dropped: reconnecting would replay it from the start.
    src = live(str(videos / "bikes.mp4"), sources, fail_fast=True, wall_clock=lambda: 1795356190.5)
    st = src.wait_for("stopped", timeout=SETTLE)
    assert (st.state, st.reconnects, st.attempt, st.last_error) == ("stopped", 0, 0, None)
    frame, seq = src.read_latest(after=0, timeout=0)
    assert src.closed and frame.time > 0 and not frame.events
    assert frame.wall == st.since == 1795356190.5                  # wall times come from the injected clock


def test_no_thread_or_file_growth_across_reconnects(server, sources):
    def census():
        return threading.active_count(), len(os.listdir("/proc/self/fd")), len(os.listdir("/proc/self/task"))

    src = live(server.start().url, sources)
    assert src.wait_for("live", timeout=SETTLE).state == "live"
    _, seq = next_frame(src, 0)
    before = census()                                           # with the reader and one open capture
    for k in range(1, 4):
        server.kill()
        assert src.wait_for("reconnecting", timeout=SETTLE).state == "reconnecting"
        _, seq = src.read_latest(after=0, timeout=0)            # the last frame before the drop
        server.start()
        st = src.wait_for("live", timeout=SETTLE)
        assert (st.state, st.reconnects) == ("live", k)
        _, seq = next_frame(src, seq)                           # frames flow from the new server
    assert census() == before
    src.stop()
    assert not src._thread.is_alive() and src.status().state == "stopped"


# ---- the gap on the timeline ---------------------------------------------------------------------------------

def test_the_timeline_draws_gaps_and_a_legend():
    from stream.events import Event
    events = [Event("scene_change", 3.0), Event("source_gap", 10.0, {"end": 30.0, "reason": "stream lost"})]
    args = ([0.0, 30.0], [10.0, 40.0], [0.2, 0.4], [True, True], [], [3.0], 40.0)
    svg = timeline_svg(*args, gaps=gap_spans(events))
    assert gap_spans(events) == [(10.0, 30.0)]
    gaps = [part for part in svg.split("<rect ") if part.startswith('class="gap" ')]
    assert len(gaps) == 1 and "no video 00:00:10 - 00:00:30" in gaps[0]      # the legend's swatch is no mark
    # x runs from 36 to 964 over 0-40 s: the band starts at 10 s and spans 20 s
    assert 'x="268.0"' in gaps[0] and 'width="464.0"' in gaps[0]
    for label in ("drop ratio", "activity", "scene change", "encode skipped", "no video"):
        assert f">{label}" in svg
    plain = timeline_svg(*args)                                      # callers without gaps draw none
    assert 'class="gap" ' not in plain and 'class="key-gap"' in plain
    assert svg.count('class="cut" ') == plain.count('class="cut" ') == 1     # legend swatches are not marks


# ---- what the ingest loop records across an outage -------------------------------------------------------------

def test_no_step_or_clip_spans_the_outage_of_a_killed_server(server, sources, llm):
    """The camera's server is killed for a while and restarted under a running ingest loop: every step and clip
    ends before the gap or starts after it, and the one clip that was open when the stream dropped ends at the last
    frame before the drop, not at the first one after it."""
    from stream.config import IngestConfig
    from stream.events import SOURCE_GAP
    from stream.ingest import ClipClosed, Ingestor, Step
    src = live(server.start().url, sources)
    assert src.wait_for("live", timeout=SETTLE).state == "live"
    ing = Ingestor(llm, IngestConfig(sampling=SamplingConfig(fps=4.0, reconnect=FAST), clip_seconds=100.0))
    state, out, done = ing.new_state("cam"), [], threading.Event()
    consumer = threading.Thread(target=lambda: out.extend(ing.run(sample_live(src, 4.0, stop=done), state)),
                                daemon=True)
    consumer.start()

    def steps_after(t):
        return [r for r in list(out) if isinstance(r, Step) and r.time > t]

    deadline = time.monotonic() + SETTLE
    while len(steps_after(0.0)) < 3 and time.monotonic() < deadline:
        threading.Event().wait(0.1)
    server.kill()
    assert src.wait_for("reconnecting", timeout=SETTLE).state == "reconnecting"
    threading.Event().wait(1.5)                 # down long enough that a stretched step would show
    server.start()
    assert src.wait_for("live", timeout=SETTLE).state == "live"
    dropped_at = src.clock() - src.t0
    deadline = time.monotonic() + SETTLE
    while len(steps_after(dropped_at)) < 3 and time.monotonic() < deadline:
        threading.Event().wait(0.1)
    done.set()
    consumer.join(SETTLE)
    assert not consumer.is_alive()

    gaps = [(e.time, e.detail["end"]) for r in out if isinstance(r, Step) for e in r.events
            if e.kind == SOURCE_GAP and e.time > 0]
    assert len(gaps) == 1 and gaps[0][1] - gaps[0][0] >= 1.5, gaps
    start, end = gaps[0]
    spans = [(r.time, r.end) for r in out if isinstance(r, Step)] + \
            [(r.clip.start, r.clip.end) for r in out if isinstance(r, ClipClosed)]
    assert all(b <= start or a >= end for a, b in spans), (gaps, spans)
    clips = [(r.clip.start, r.clip.end) for r in out if isinstance(r, ClipClosed)]
    assert len(clips) == 2 and clips[0][1] <= start < end <= clips[1][0], clips    # clip_seconds is 100: the gap
