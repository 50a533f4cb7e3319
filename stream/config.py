"""Configuration of sampling, clips, events and the ingestion loop."""
import math
from dataclasses import dataclass, field
from typing import ClassVar

from compression.config import CompactConfig, DropConfig, GateConfig


@dataclass
class SamplingConfig:
    # Frames per second taken from the source; TimeChat-Online streams at 1 fps.
    fps: float = 1.0
    # Longest frame side kept from the source; bigger frames are shrunk at once so a 4K camera costs no more RAM.
    max_side: int = 1280
    # The most frames per second worth sampling: cameras rarely send more, and beyond it the vision tower cannot
    # keep up with a live stream on any hardware Vigil targets.
    max_fps: ClassVar[float] = 30.0

    def __post_init__(self):
        if not 0.0 < self.fps <= self.max_fps:      # false for nan too
            raise ValueError(f"fps must be in (0, {self.max_fps:g}], got {self.fps}")
        if self.max_side < 28:
            raise ValueError(f"max_side must be at least 28, got {self.max_side}")


@dataclass
class EventConfig:
    # A scene change (a cut) is a step that keeps at least this share of its tokens (it is then kept whole, becomes
    # the new reference and starts a new clip)...
    scene_keep: float = 0.6
    # ...and whose colours jump: half the L1 distance between HSV histograms of consecutive sampled frames at least
    # this. Motion keeps a scene's colours and a cut changes them, which the token share alone cannot tell apart
    # in busy footage. On the real clips: cuts 0.57-0.88, street motion at most 0.40, a hand over the lens 0.47-0.54.
    scene_color: float = 0.55
    # Activity is presence: a step whose tokens differ from the scene's background (the scene as it last settled)
    # in at least this share...
    presence_on: float = 0.05
    # ...and by this much more than the scene's noise floor: the floor_quantile-th percentile of the presence share
    # over the last floor_window seconds with no activity (a noisy or busy camera never rests at zero).
    presence_margin: float = 0.1
    floor_quantile: float = 20.0
    floor_window: float = 60.0
    # Motion (the share the drop kept) below max(activity_on, its floor + presence_margin / 2) is stillness; after
    # `settle` seconds of it the scene as it is becomes the background. Longer than a visitor standing still at the
    # table (14 s on the fixed-camera clip), so a still person stays present.
    activity_on: float = 0.01
    settle: float = 20.0
    # Activity ends when no step was present for this many seconds; shorter gaps are one activity.
    activity_hold: float = 1.0

    def __post_init__(self):
        if not 0.0 < self.scene_keep <= 1.0 or not 0.0 <= self.scene_color <= 1.0:
            raise ValueError("scene_keep must be in (0, 1] and scene_color in [0, 1]")
        if not 0.0 < self.activity_on < 1.0 or not 0.0 < self.presence_on < 1.0 or self.presence_margin < 0.0:
            raise ValueError("activity_on and presence_on must be in (0, 1) and presence_margin non-negative")
        times = (self.presence_margin, self.activity_hold, self.settle, self.floor_window)
        if not all(math.isfinite(v) for v in times):
            raise ValueError("event thresholds and times must be finite numbers")
        if self.activity_hold < 0.0 or self.settle <= 0.0 or self.floor_window <= 0.0:
            raise ValueError("activity_hold must be non-negative, settle and floor_window positive")
        if not 0.0 <= self.floor_quantile <= 100.0:
            raise ValueError(f"floor_quantile is a percentile in [0, 100], got {self.floor_quantile}")


@dataclass
class IngestConfig:
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    drop: DropConfig = field(default_factory=DropConfig)
    compact: CompactConfig = field(default_factory=CompactConfig)
    events: EventConfig = field(default_factory=EventConfig)
    # Seconds of stream per clip memory: short enough that retrieval can point at a moment, long enough that the
    # clip count (index size, selection work) stays small. A scene change also starts a new clip.
    clip_seconds: float = 8.0
    # Steps encoded in one vision-tower call on file sources (throughput); live sources always use 1 (latency).
    encode_batch: int = 4
    # Longest side of the stored JPEG thumbnail.
    thumb_side: int = 320

    def __post_init__(self):
        if not (math.isfinite(self.clip_seconds) and self.clip_seconds > 0):
            raise ValueError(f"clip_seconds must be a positive number, got {self.clip_seconds}")
        if self.encode_batch < 1:
            raise ValueError(f"encode_batch must be at least 1, got {self.encode_batch}")
        if self.thumb_side < 16:
            raise ValueError(f"thumb_side must be at least 16, got {self.thumb_side}")


@dataclass
class AlertConfig:
    # Automatic alerts from the engine's events; each can be switched off.
    scene_changes: bool = True
    activity: bool = True
    # Stream seconds after an automatic alert of one kind during which that kind stays quiet: a busy scene must not
    # page someone every step, yet visitors 15 s apart (the fixed-camera clip) are each worth an alert.
    cooldown: float = 10.0
    # Stream seconds after a watch rule fired before it may fire again (in a new occurrence).
    rule_cooldown: float = 60.0
    # At most this many alerts per rule per hour of stream: a rule that keeps matching is a bad rule, not news.
    rule_per_hour: int = 20
    # Webhook delivery: attempts per alert, the first retry's wait (doubled each time), and the seconds one POST may
    # take. Failures are retried in the background and never stop ingestion.
    webhook_attempts: int = 5
    webhook_backoff: float = 1.0
    webhook_timeout: float = 10.0
    # Alerts waiting for the webhook beyond this many are dropped (oldest first) and counted.
    webhook_queue: int = 1000

    def __post_init__(self):
        if not all(math.isfinite(v) for v in (self.cooldown, self.rule_cooldown, self.webhook_backoff,
                                              self.webhook_timeout)):
            raise ValueError("cooldowns and webhook times must be finite numbers")
        if self.cooldown < 0 or self.rule_cooldown < 0:
            raise ValueError("cooldowns must be non-negative")
        if self.rule_per_hour < 1 or self.webhook_attempts < 1 or self.webhook_queue < 1:
            raise ValueError("rule_per_hour, webhook_attempts and webhook_queue must be at least 1")
        if self.webhook_backoff < 0 or self.webhook_timeout <= 0:
            raise ValueError("webhook_backoff must be non-negative and webhook_timeout positive")
