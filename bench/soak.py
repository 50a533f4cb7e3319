"""The service soak: `python -m bench.soak --minutes 30`, i.e. `run.py soak` (not part of `python -m bench`: it runs
for as long as it is told; its options are `bench.config.SoakConfig`). Four cameras on one server with `--model tiny`: two files played live (looped), two HTTP MPEG-TS streams
served by FFmpeg on 127.0.0.1, one of which is killed and restarted three times; a question every 30 s over the API;
one MQTT subscriber on a mosquitto started here. Prints a markdown table: lag behind live per camera, seconds to the
first answer event, reconnect times, alerts raised against alerts delivered over MQTT, RSS, threads, open files.

RTSP: FFmpeg can only be an RTSP client, and Debian 12 main has no RTSP server package, so both network cameras are
HTTP streams; the reconnect path (OpenCV's FFmpeg demuxer, the backoff) is the same code."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.config import SoakConfig
from models.served import free_port

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "videos"


def fill_disk(path: Path) -> Path:
    """Write `path` until its disk refuses (ENOSPC ends the loop, which is the point): the disk is then full to its
    last byte. Returns the path."""
    # Unbuffered: a buffered file keeps the bytes the full disk refused and raises ENOSPC again when it is closed.
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    return path


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def counts() -> tuple[int, int]:
    return len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))


class Feed:
    """An FFmpeg HTTP MPEG-TS server looping a clip; `-listen 1` serves one client, so it is restarted when the
    client goes (a reconnect) until stopped."""

    def __init__(self, clip: Path, port: int):
        import imageio_ffmpeg
        self.cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "quiet", "-re",
                    "-stream_loop", "-1", "-i", str(clip), "-an", "-c:v", "mpeg4", "-g", "10", "-q:v", "5",
                    "-f", "mpegts", "-listen", "1", f"http://127.0.0.1:{port}/live.ts"]
        self.url = f"http://127.0.0.1:{port}/live.ts"
        self.proc, self.down = None, threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, daemon=True)
        self._thread.start()

    def _keep(self):
        while not self._stop.is_set():
            if self.down.is_set():
                self._stop.wait(0.2)
                continue
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while self.proc.poll() is None and not self._stop.is_set():
                self._stop.wait(0.2)
            if self.proc.poll() is None:
                self.proc.kill()

    def kill(self):
        self.down.set()
        if self.proc is not None:
            self.proc.kill()

    def restart(self):
        self.down.clear()

    def stop(self):
        self._stop.set()
        self.kill()
        self._thread.join(5)


def soak(args: SoakConfig) -> int:
    import httpx
    import paho.mqtt.client as mqtt

    from app.config import UIConfig
    from app.handlers import Handlers
    from app.server import Server
    from app.service import Service
    from models.config import ModelConfig
    from stream.engine import Engine, EngineConfig
    from stream.service.sinks.mqtt import MqttConfig, MqttSink

    tmp = Path(tempfile.mkdtemp(prefix="vigil-soak-"))
    broker_port = free_port()
    (tmp / "mosquitto.conf").write_text(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\n")
    broker = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(tmp / "mosquitto.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    feeds = [Feed(VIDEOS / "vtest.avi", free_port()), Feed(VIDEOS / "one-by-one-person-detection.mp4", free_port())]
    time.sleep(1.5)
    received: dict[str, set] = {}
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda c, u, m: received.setdefault(m.topic.split("/")[1], set()).add(
        (json.loads(m.payload)["id"], json.loads(m.payload)["update"]))
    sub.on_connect = lambda c, u, f, rc, pr: c.subscribe("vigil/+/alert", qos=1)
    sub.connect("127.0.0.1", broker_port)
    sub.loop_start()

    engine = Engine(EngineConfig(model=ModelConfig(llm="tiny", embedder="tiny", device="cpu")))
    disk = tmp / "disk"                               # the memory's own disk, to fill midway (where mountable)
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.disk_mb}m", "tmpfs", str(disk)],
                             capture_output=True).returncode == 0
    config = UIConfig(port=free_port(), memory_root=str(disk / "memory"),
                      media_roots=UIConfig().media_roots + [str(VIDEOS)])
    sink = MqttSink(MqttConfig(port=broker_port))
    service = Service(engine, config, sinks=[sink])
    server = Server(service, Handlers(service)).start()
    api = httpx.Client(base_url=server.url, timeout=120)
    files = {"file-room": str(ROOT / "assets" / "demo-room.mp4"), "file-bikes": str(VIDEOS / "bikes.mp4")}
    cams = files | {"http-vtest": feeds[0].url, "http-people": feeds[1].url}
    for name, src in cams.items():
        service.add(name, src, ["a person walks in"], checked=True, fail_fast=False, loop=name in files)

    lags = {n: [] for n in cams}
    ttft, reconnects, rss, snap = [], [], {}, {}
    t_start = time.monotonic()
    total = args.minutes * 60
    outages = [total * (k + 1) / (args.outages + 1) for k in range(args.outages)]
    next_ask, k_ask, down_at = t_start + 20, 0, None
    fault_at, filler, healed, saw_error = total * 0.4 if mounted else None, disk / "filler", {}, set()
    free_at = freed_at = float("inf")
    while (now := time.monotonic()) - t_start < total:
        el = now - t_start
        listed = api.get("/api/v1/cameras").json()
        for c in listed:
            if c["status"]["state"] in ("live", "playing") and c["figures"]["steps"] > 0:
                lags[c["name"]].append(c["figures"]["lag"])
            if c["status"]["state"] == "error" and filler.exists():
                saw_error.add(c["name"])
            if c["name"] in saw_error and c["status"]["state"] != "error" and c["name"] not in healed:
                healed[c["name"]] = now - freed_at if not filler.exists() else float("nan")
        if fault_at is not None and el >= fault_at:                  # fill the disk to its last byte
            fill_disk(filler)
            fault_at, free_at = None, now + args.fault_seconds
        if filler.exists() and now >= free_at:
            filler.unlink()
            freed_at = now
        if el > 60 and "start" not in snap:
            snap["start"] = counts()
        if el > min(300, total * 0.17) and "early" not in rss:
            rss["early"] = (el, rss_mb())
        if outages and el >= outages[0] and down_at is None:
            feeds[0].kill()
            down_at = now
        if down_at is not None and now - down_at >= args.outage_seconds and feeds[0].down.is_set():
            feeds[0].restart()
            back_from = now
            outages.pop(0)
            w = service.registry.get("http-vtest")
            got = w.source.wait_for("live", timeout=120)             # an HTTP camera: a live source
            reconnects.append(time.monotonic() - back_from if got.state == "live" else float("nan"))
            down_at = None
        if now >= next_ask:
            name = list(cams)[k_ask % len(cams)]
            k_ask += 1
            t0 = time.monotonic()
            with api.stream("POST", f"/api/v1/cameras/{name}/ask", json={"question": "What happened?"}) as s:
                for line in s.iter_lines():
                    if line == "event: answer" and len(ttft) < k_ask:
                        ttft.append(time.monotonic() - t0)
            next_ask += args.ask_every
        time.sleep(1.0)
    rss["end"] = (time.monotonic() - t_start, rss_mb())
    snap["end"] = counts()
    raised = {}
    for w in service.registry.cameras():
        raised[w.spec.name] = {(a.id, a.update) for a in service.feed.recent(100000, w.spec.name)}
    spanning = outage_spans(service, engine.ingestor.step_seconds / engine.llm.frames_per_step)
    server.stop()
    sink.close(timeout=5)
    time.sleep(1)
    sub.loop_stop()
    for f in feeds:
        f.stop()
    broker.terminate()
    if mounted:
        subprocess.run(["umount", "-l", str(disk)], check=False)

    print(f"\nSoak: {args.minutes:g} min, 4 cameras, --model tiny, a question every {args.ask_every:g} s\n")
    print("| camera | lag mean s | lag p95 s | lag max s | alerts raised | delivered over MQTT |")
    print("|---|---|---|---|---|---|")
    for n in cams:
        a = np.array(lags[n] or [np.nan])
        ids = {i for i, _ in raised.get(n, set())}
        got = len(ids & {i for i, _ in received.get(n, set())})        # raised alerts that reached the subscriber
        print(f"| {n} | {np.nanmean(a):.2f} | {np.nanpercentile(a, 95):.2f} | {np.nanmax(a):.2f} | "
              f"{len({i for i, _ in raised.get(n, set())})} | {got} |")
    t = np.array(ttft or [np.nan])
    print(f"\nanswers: {len(ttft)}, seconds to first answer event: mean {np.nanmean(t):.2f}, p95 "
          f"{np.nanpercentile(t, 95):.2f}, max {np.nanmax(t):.2f}")
    print(f"reconnects after restart (s): {', '.join(f'{x:.1f}' for x in reconnects) or 'none'}")
    print(f"RSS: {rss['early'][1]:.0f} MB at {rss['early'][0] / 60:.1f} min, {rss['end'][1]:.0f} MB at "
          f"{rss['end'][0] / 60:.1f} min ({(rss['end'][1] / rss['early'][1] - 1):+.1%})")
    print(f"threads, open files: {snap['start']} at 1 min -> {snap['end']} at the end")
    if mounted:
        print(f"storage fault: the memory's disk full for {args.fault_seconds:g} s; cameras in error: "
              f"{', '.join(sorted(saw_error)) or 'none'}; back on their own after the disk was freed (s): "
              + (", ".join(f"{n} {t:.1f}" for n, t in sorted(healed.items())) or "none"))
    else:
        print("storage fault: not injected (this machine cannot mount a tmpfs)")
    print("steps or clips spanning an outage: " + ("none" if not spanning else "; ".join(spanning)))
    return 0


def outage_spans(service, interval: float) -> list[str]:
    """Every stored step and clip that spans a gap event longer than one sampling interval, in words ([] when none):
    an outage must be recorded as not watched, never as watched time."""
    out = []
    for w in service.registry.cameras():
        store, name = w.session.store, w.spec.name
        gaps = [(t, d["end"]) for kind, t, d in store.events(name) if kind == "source_gap" and d["end"] - t > interval]
        spans = [("step", s.time, s.end) for s in store.steps(name)] + \
                [("clip", c.start, c.end) for c in store.clips(name)]
        for kind, a, b in spans:
            for g0, g1 in gaps:
                if a < g1 - 1e-6 and b > g0 + 1e-6:            # it covers time inside the gap
                    out.append(f"{name} {kind} {a:.1f}-{b:.1f} s over the gap {g0:.1f}-{g1:.1f} s")
    return out


if __name__ == "__main__":        # `python -m bench.soak ...` is `run.py soak ...`: the options are parsed there
    os.execv(sys.executable, [sys.executable, str(ROOT / "run.py"), "soak", *sys.argv[1:]])
