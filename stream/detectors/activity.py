"""Activity from pixels, every frame, independent of any model's weights.

On a small grey image: a background of the scene, the change against it (presence), and the change against the
frame `motion_lag` seconds earlier (motion). Both are read against the stream's own noise and floors. Activity
starts when motion rises above its floor, lasts while something moves or stays present, and ends after `hold`
seconds of neither.

What stays changed after the motion stops is judged once: if what moved last is still there (a visitor stopped at
the table), it stays present; if it left (a hand that moved a bottle, a bumped camera), what it changed becomes the
background. A change of the whole scene's brightness (a light, a cloud, auto-exposure) is compensated and reported
as a lighting change, never as activity.
"""
import math
from collections import deque

import cv2
import numpy as np

from stream.config import EventConfig
from stream.detectors.base import AlertKind, Detector, Look
from stream.events import Event

START, END, LIGHTING = "activity_start", "activity_end", "lighting_change"

_OPEN = np.ones((3, 3), np.uint8)        # opening removes speckles of noise from the masks
_BLEND = 8.0                             # added to both sides of a brightness ratio so black pixels do not explode it


class ActivityDetector(Detector):
    name = "activity"
    alerts = {START: AlertKind("Activity started", "Activity", "activity started")}

    def __init__(self, config: EventConfig):
        self.config = config.activity
        self.background: np.ndarray | None = None      # [h, w] float32: the scene as it is when nothing is there

    # ---- per frame ----------------------------------------------------------------------------------------
    def reset(self, grey: np.ndarray, t: float) -> None:
        """Start over on this frame (stream start, a cut, a new frame size): it is the background."""
        self.background = grey.copy()
        self.changed = np.zeros(grey.shape, bool)        # pixels unlike the background, last frame
        self.last_moved = np.zeros(grey.shape, bool)     # what moved in the burst's last strong motion
        self.recent: deque[tuple[float, np.ndarray]] = deque([(t, grey.copy())])   # frames back to motion_lag
        self.gains: deque[tuple[float, float]] = deque()  # (time, brightness ratio) over the last motion_lag
        self.last_light = -math.inf                        # time of the last lighting change reported
        self.noise = 1.0
        self.start = self.last_t = self.still_since = t
        self.judged, self.peak = True, 0.0
        self.motion_floor: deque[tuple[float, float]] = deque()
        self.presence_floor: deque[tuple[float, float]] = deque()
        self.active, self.first_on, self.last_on = False, None, t

    def new_scene(self, look: Look) -> list[Event]:
        """A new scene: what was open ends, and this frame is the new background (new floors too)."""
        events = self.finish()
        self.reset(look.grey, look.t)
        return events

    def see(self, look: Look) -> list[Event]:
        """The events this frame raises (read from its blurred grey image [h, w] float32)."""
        grey, t, c = look.grey, look.t, self.config
        if self.background is None or self.background.shape != grey.shape:
            events = self.finish()
            self.reset(grey, t)
            return events
        dt = max(1e-3, t - self.last_t)
        self.last_t = t
        events = []
        # 1. Brightness of the whole scene, from what was background: compensated, and a jump is its own event.
        quiet = ~self.changed
        gain = float(np.median((grey[quiet] + _BLEND) / (self.background[quiet] + _BLEND))) if quiet.mean() > 0.2 else 1.0
        self.background *= gain
        for _, frame in self.recent:
            frame *= gain
        self.gains.append((t, gain))
        while t - self.gains[0][0] > c.motion_lag:
            self.gains.popleft()
        total = math.prod(g for _, g in self.gains)
        if abs(math.log(total)) >= math.log1p(c.lighting):
            if t - self.last_light >= c.lighting_gap:
                events.append(Event(LIGHTING, t, {"gain": round(total, 3)}))
            self.last_light = t                        # a change that goes on extends the quiet time
            self.gains.clear()
        # 2. Presence and motion masks, against the stream's own noise.
        while len(self.recent) > 1 and t - self.recent[1][0] >= c.motion_lag:
            self.recent.popleft()
        against = np.abs(grey - self.recent[0][1])
        self.noise += (1.0 - math.exp(-dt / c.noise_window)) * (1.4826 * float(np.median(against)) - self.noise)
        bar = max(c.min_diff, c.noise_k * self.noise)
        changed = cv2.morphologyEx((np.abs(grey - self.background) > bar).astype(np.uint8), cv2.MORPH_OPEN,
                                   _OPEN).astype(bool)
        moving = cv2.morphologyEx((against > bar).astype(np.uint8), cv2.MORPH_OPEN, _OPEN).astype(bool)
        motion = float(moving.mean())
        motion_floor = self._floor(self.motion_floor, t, motion, learn=not self.active)
        spread = self._spread(self.motion_floor)
        # 3. When motion stops, judge what stays changed; after long stillness, all of it is the scene.
        if motion > max(c.least, motion_floor + c.least):
            if self.judged:
                self.peak = 0.0                              # a new burst
            self.peak = max(self.peak, motion)
            if motion >= c.last_share * self.peak:
                self.last_moved = moving
            self.still_since, self.judged = t, False
        elif not self.judged and t - self.still_since >= c.stillness:
            stayed = (changed & self.last_moved).sum() / max(1, self.last_moved.sum())
            if stayed <= c.overlap:                          # the mover left: what it changed is the scene now
                self.background[changed] = grey[changed]
                changed[:] = False
            self.judged = True
        if t - self.still_since >= c.settle and changed.any():
            self.background[changed] = grey[changed]
            changed[:] = False
        rate = 1.0 - math.exp(-dt / c.background_tc)
        quiet = ~changed
        self.background[quiet] += rate * (grey[quiet] - self.background[quiet])
        self.changed = changed
        self.recent.append((t, grey))
        # 4. Activity: starts on motion above its floor, lasts while anything moves or stays present.
        presence = float(changed.mean())
        presence_floor = self._floor(self.presence_floor, t, presence, learn=not self.active)
        if t - self.start < c.warmup:
            return events
        moving_now = motion >= max(c.least, motion_floor + max(c.start_margin, c.spread_k * spread))
        present = presence >= max(c.least, presence_floor + c.presence_margin)
        if not self.active:
            if not moving_now:
                self.first_on = None
            else:
                self.first_on = t if self.first_on is None else self.first_on
                if t - self.first_on >= c.min_duration - 1e-9:
                    self.active, self.last_on = True, t
                    events.append(Event(START, self.first_on, {"motion": round(motion, 4)}))
        elif moving_now or present:
            self.last_on = t
        elif t - self.last_on >= c.hold:
            events += self.finish()
        return events

    def _floor(self, window: deque, t: float, value: float, learn: bool) -> float:
        """The window's floor. It learns (and forgets what is older than floor_window) only while `learn`; frozen
        during an activity, it keeps the floor as it was, however long the activity lasts."""
        if learn:
            window.append((t, value))
            while window and t - window[0][0] > self.config.floor_window:
                window.popleft()
        return float(np.percentile([v for _, v in window], self.config.floor_quantile)) if window else 0.0

    def _spread(self, window: deque) -> float:
        """How much the stream's motion varies on its own: the distance between its floor and its upper quantile
        (0 for a still scene, a few percent for a path with people on it all day)."""
        if len(window) < 2:
            return 0.0
        lo, hi = np.percentile([v for _, v in window], [self.config.floor_quantile, 100 - self.config.floor_quantile])
        return float(hi - lo)

    def finish(self) -> list[Event]:
        """End an open activity (at a cut, a new frame size, or the end of the stream)."""
        if self.background is None or not self.active:
            return []
        self.active, self.first_on = False, None
        return [Event(END, self.last_on)]

    # ---- resume points ------------------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        if self.background is None:
            return {"started": False}, {}
        values = {"started": True, "noise": self.noise, "start": self.start, "last_t": self.last_t,
                  "still_since": self.still_since, "judged": self.judged, "peak": self.peak, "active": self.active,
                  "last_light": None if math.isinf(self.last_light) else self.last_light,
                  "first_on": self.first_on, "last_on": self.last_on, "gains": list(self.gains),
                  "recent": [t for t, _ in self.recent], "motion_floor": list(self.motion_floor),
                  "presence_floor": list(self.presence_floor)}
        arrays = {"background": self.background.copy(), "changed": self.changed.copy(),
                  "last_moved": self.last_moved.copy(), "recent": np.stack([f for _, f in self.recent])}
        return values, arrays

    def restore(self, values: dict, arrays: dict[str, np.ndarray]) -> None:
        if not values["started"]:
            self.background = None
            return
        self.background = arrays["background"].astype(np.float32).copy()
        self.changed, self.last_moved = arrays["changed"].astype(bool), arrays["last_moved"].astype(bool)
        self.recent = deque((t, f.astype(np.float32).copy()) for t, f in zip(values["recent"], arrays["recent"]))
        for k in ("noise", "start", "last_t", "still_since", "judged", "peak", "active", "first_on", "last_on"):
            setattr(self, k, values[k])
        self.last_light = -math.inf if values["last_light"] is None else values["last_light"]
        self.gains = deque(tuple(x) for x in values["gains"])
        self.motion_floor = deque(tuple(x) for x in values["motion_floor"])
        self.presence_floor = deque(tuple(x) for x in values["presence_floor"])
