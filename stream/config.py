"""Configuration of sampling, clips, events and the ingestion loop."""
import math
from dataclasses import dataclass, field
from typing import ClassVar

from compression.config import CalibrationConfig, CompactConfig, DropConfig, GateConfig


@dataclass
class ReconnectConfig:
    """How a live source (camera URL, webcam) comes back after its stream drops or never opened."""
    # Seconds to wait before the first reconnection attempt: long enough not to hammer a server that is restarting,
    # short enough that a network blip costs about a second of video.
    initial: float = 0.5
    # Each failed attempt in a row multiplies the wait by this: a camera that is down for hours is tried a few times
    # an hour, not twice a second (1 keeps the wait fixed).
    factor: float = 2.0
    # The longest wait between attempts, seconds: a camera that comes back is seen within a minute.
    cap: float = 60.0
    # Each wait is drawn uniformly from [(1 - jitter) * wait, wait]: many cameras behind one router that failed
    # together do not all reconnect at the same instant (and the cap stays a true cap).
    jitter: float = 0.25
    # Failed attempts in a row after which the source gives up (state "error", the stream ends); None: try forever
    # (a service camera), 0: never reconnect (the stream ends at its first failure).
    max_attempts: int | None = None
    # Seconds OpenCV may take to open a URL (connect, handshake, find the stream's format) before the attempt counts
    # as failed: FFmpeg's own default waits 30 s on a server that accepts the connection but never answers.
    open_timeout: float = 10.0
    # Seconds without a frame after which a read fails and the source reconnects: a frozen server is noticed at
    # once, not after FFmpeg's 30 s. Must exceed the camera's slowest frame interval (a 0.2 fps camera needs > 5 s).
    read_timeout: float = 5.0

    def __post_init__(self):
        times = (self.initial, self.factor, self.cap, self.jitter, self.open_timeout, self.read_timeout)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in times):
            raise ValueError("reconnect times, factor and jitter must be finite numbers")
        if not 0.0 < self.initial <= self.cap:      # a zero wait would retry a refused connection in a tight loop
            raise ValueError(f"reconnect initial wait must be in (0, cap={self.cap:g}] seconds, got {self.initial}")
        if self.factor < 1.0:
            raise ValueError(f"reconnect backoff factor must be at least 1, got {self.factor}")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"reconnect jitter must be a fraction in [0, 1), got {self.jitter}")
        if self.max_attempts is not None and (isinstance(self.max_attempts, bool) or
                                              not isinstance(self.max_attempts, int) or self.max_attempts < 0):
            raise ValueError(f"reconnect max_attempts must be None (forever) or an integer >= 0, got "
                             f"{self.max_attempts!r}")
        if self.open_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError(f"open_timeout and read_timeout must be positive seconds, got {self.open_timeout} and "
                             f"{self.read_timeout}")


@dataclass
class SamplingConfig:
    # Frames per second taken from the source; TimeChat-Online streams at 1 fps.
    fps: float = 1.0
    # Longest frame side kept from the source; bigger frames are shrunk at once so a 4K camera costs no more RAM.
    max_side: int = 1280
    # How live sources reconnect: a property of reading the source, like max_side, so it travels with it.
    reconnect: ReconnectConfig = field(default_factory=ReconnectConfig)
    # The most frames per second worth sampling: cameras rarely send more, and beyond it the vision tower cannot
    # keep up with a live stream on any hardware Vigil targets.
    max_fps: ClassVar[float] = 30.0

    def __post_init__(self):
        if not 0.0 < self.fps <= self.max_fps:      # false for nan too
            raise ValueError(f"fps must be in (0, {self.max_fps:g}], got {self.fps}")
        if self.max_side < 28:
            raise ValueError(f"max_side must be at least 28, got {self.max_side}")


@dataclass
class CutConfig:
    # Scene changes come from PySceneDetect's ContentDetector, fed every decoded frame at the analysis size; a cut
    # is a frame whose HSV distance score to the frame before reaches this. The library's default (27), fit on no
    # clip of ours: it found every cut of bikes and Megamind (frame-accurate) and none on the fixed-camera and
    # handheld clips, at full size and at 160 pixels.
    threshold: float = 27.0
    # A second cut within this many seconds of the last one is the same transition (a flash, a short dissolve):
    # PySceneDetect's own minimum scene length, 15 frames, is 0.5 s at 30 fps.
    min_scene: float = 0.5
    # A frame whose mean brightness (HSV value, 0-255) is below this has no reliable hue: a change from, to or between
    # such frames is a fade through black or a dark camera's noise, never a cut. Set by reasoning (6% brightness), not
    # fit: a black frame is 0, Megamind's scenes 50-60, a dark noisy camera 3-11.
    dark: float = 16.0

    def __post_init__(self):
        if not (math.isfinite(self.threshold) and self.threshold > 0) or not 0.0 <= self.min_scene < 60.0:
            raise ValueError("cut threshold must be positive and min_scene in [0, 60) seconds")
        if not 0.0 <= self.dark < 255.0:
            raise ValueError(f"dark must be a brightness in [0, 255), got {self.dark}")


@dataclass
class ActivityConfig:
    # Where each constant comes from. Fit on clips, leave one clip out in the bench: start_margin, spread_k,
    # min_duration, hold (on one-by-one, bottle-detection and vtest together for the shipped values). Chosen by
    # inspecting one-by-one and bottle-detection, not held out: stillness, overlap, last_share. The rest are set by
    # reasoning about cameras, not fit: noise_k (4 noise sigmas), min_diff (6 grey levels, under which compression
    # noise sits), noise_window, background_tc, motion_lag, settle, floor_window, floor_quantile, least,
    # presence_margin, warmup, lighting, lighting_gap.
    #
    # What changed is measured on a grey image at the analysis size against a background of the scene, every
    # frame. A pixel differs when the difference is above max(min_diff, noise_k * the stream's noise), the noise
    # being the robust spread (1.4826 * median absolute difference) of frame-to-frame change, averaged over
    # noise_window seconds: a noisy camera raises its own bar.
    noise_k: float = 4.0
    min_diff: float = 6.0
    noise_window: float = 5.0
    # Background pixels follow the scene with this time constant (slow light, shadows); changed pixels do not.
    background_tc: float = 2.0
    # Motion is change against the frame this many seconds earlier (so a slow hand at 30 fps still moves).
    motion_lag: float = 0.25
    # When motion stops for `stillness` seconds, the change that stays is judged: if at most `overlap` of what
    # moved last (the last frame whose motion reached `last_share` of the burst's peak) is still changed, the mover
    # left, and what it changed (a moved bottle, a shifted camera) becomes the scene; otherwise it is still there (a
    # visitor standing at a table) and stays present.
    stillness: float = 0.5
    overlap: float = 0.5
    last_share: float = 0.3
    # After this many seconds with no motion at all, whatever changed is the scene now.
    settle: float = 30.0
    # Each stream's own floor: the floor_quantile-th percentile of its motion share over the last floor_window
    # seconds (and of its presence while nothing is going on). A busy path or a noisy camera rests above zero.
    floor_window: float = 60.0
    floor_quantile: float = 20.0
    # Shares below this never count (a few pixels of noise on an empty scene).
    least: float = 0.002
    # Activity starts when the moving share exceeds the motion floor by max(start_margin, spread_k * the stream's
    # own spread of motion: its upper quantile, 100 - floor_quantile, minus its floor) for min_duration seconds: a
    # quiet room wakes for a small mover, a busy path only for more than its usual traffic. It continues while
    # anything moves or stays present (the presence floor plus presence_margin), and ends after `hold` seconds of
    # neither.
    start_margin: float = 0.01
    spread_k: float = 1.5
    presence_margin: float = 0.01
    min_duration: float = 0.3
    hold: float = 0.5
    # No activity is reported in the first seconds of a stream or scene: its floors are still being learned.
    warmup: float = 3.0
    # A brightness change of the whole scene by more than this share within motion_lag (a light switched, a cloud)
    # is a lighting change: compensated, reported as its own event, never activity; and one change that goes on
    # (a fade, a dimmer) is one event: none follows within lighting_gap seconds.
    lighting: float = 0.15
    lighting_gap: float = 2.0

    def __post_init__(self):
        values = [v for v in vars(self).values()]
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError("activity settings must be finite and non-negative")
        if self.noise_window <= 0 or self.background_tc <= 0 or self.motion_lag <= 0 or self.floor_window <= 0:
            raise ValueError("noise_window, background_tc, motion_lag and floor_window must be positive")
        if not (self.overlap <= 1 and self.last_share <= 1 and self.floor_quantile <= 100 and self.least < 1):
            raise ValueError("overlap, last_share and least are shares in [0, 1], floor_quantile in [0, 100]")


@dataclass
class EventConfig:
    # Every decoded frame is analysed at this size (its longest side, pixels): enough for cuts and for a hand
    # moving a bottle, small enough to cost about a millisecond a frame.
    side: int = 160
    cuts: CutConfig = field(default_factory=CutConfig)
    activity: ActivityConfig = field(default_factory=ActivityConfig)

    def __post_init__(self):
        if not 32 <= self.side <= 320:      # resume points carry a few frames at this size
            raise ValueError(f"analysis side must be in [32, 320] pixels, got {self.side}")


@dataclass
class StoreRetryConfig:
    """How a live stream rides out a store that refuses writes (a full or read-only disk, a lost database): the
    loop goes on watching (the live window, alerts) and holds the clips it could not store, trying again with
    backoff; stored again, nothing is missing but what it had to let go."""
    # Closed clips held in RAM while writes fail: past this the oldest held clip's tokens are let go (its steps and
    # events stay, stored with the next clip). 8 clips of 8 s are about a minute of video, a few MB.
    hold_clips: int = 8
    # Seconds before the first retry after a failed write (then doubled by `factor` each failure up to `cap`): a disk
    # freed by hand is seen within seconds, a disk full for hours is tried a few times a minute.
    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    # Share of each wait drawn at random (one store per stream: no herd of retries to spread), as ReconnectConfig.
    jitter: float = 0.0

    def __post_init__(self):
        if isinstance(self.hold_clips, bool) or not isinstance(self.hold_clips, int) or self.hold_clips < 1:
            raise ValueError(f"store retry hold_clips must be an integer >= 1, got {self.hold_clips!r}")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (self.initial, self.factor, self.cap)):
            raise ValueError("store retry times must be finite numbers")
        if not 0.0 < self.initial <= self.cap or self.factor < 1.0 or not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"store retry needs 0 < initial <= cap, factor >= 1 and jitter in [0, 1); got "
                             f"initial={self.initial}, cap={self.cap}, factor={self.factor}, jitter={self.jitter}")


@dataclass
class IngestConfig:
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    drop: DropConfig = field(default_factory=DropConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    compact: CompactConfig = field(default_factory=CompactConfig)
    events: EventConfig = field(default_factory=EventConfig)
    # Seconds of stream per clip memory: short enough that retrieval can point at a moment, long enough that the
    # clip count (index size, selection work) stays small. A scene change also starts a new clip.
    clip_seconds: float = 8.0
    # Steps encoded in one vision-tower call on file sources (throughput); live sources always use 1 (latency).
    encode_batch: int = 4
    # Longest side of the stored JPEG thumbnail.
    thumb_side: int = 320
    # Keyframes stored per clip (its first step and the steps that kept the most tokens), so an answer server that
    # takes only images can be shown the clip: 4 is every step of an 8 s clip at 1 fps (one frame every 2 s), 15-35 KB
    # each at 448 px on the test clips, a few percent of the clip's token file. 0 stores none. The loop holds at most
    # this many full frames per open clip.
    keyframes: int = 4
    # Longest side of a keyframe JPEG: 448 px is a size VLM servers take well, a whole number of Qwen2.5-VL's 28-pixel
    # and Qwen3-VL's 32-pixel token cells (16 and 14), so a server need not resize it.
    keyframe_side: int = 448
    # Steps kept whole (every token, not compacted) in RAM as the stream's live window, newest last: a question about
    # now sees them at full resolution. 2 steps are the last 4 sampled frames, SimpleStream's setting (arXiv
    # 2604.02317: Qwen3-VL shown the last 4 frames beats every published streaming memory on real-time questions).
    window_steps: int = 2
    # A live stream whose store refuses writes keeps watching and retries (a file run stops at once: run it again).
    store_retry: StoreRetryConfig = field(default_factory=StoreRetryConfig)
    # False: the vision tower never runs (an events-only camera: its frames cost the shared model nothing). Events
    # still come from the frame analyzer, steps are still recorded, and clips are stored with their keyframes,
    # thumbnail and key but no tokens: clip search and the timeline work, questions do not. Kept rather than no clips
    # at all because none of that needs the tower (the embedder keys the thumbnail, compaction of no tokens is an
    # empty clip, retention counts its keyframes' bytes) and a clip is what search and the timeline point at.
    encode: bool = True

    def __post_init__(self):
        if self.window_steps < 0:
            raise ValueError(f"window_steps must be 0 or more, got {self.window_steps}")
        if not (math.isfinite(self.clip_seconds) and self.clip_seconds > 0):
            raise ValueError(f"clip_seconds must be a positive number, got {self.clip_seconds}")
        if self.encode_batch < 1:
            raise ValueError(f"encode_batch must be at least 1, got {self.encode_batch}")
        if self.thumb_side < 16:
            raise ValueError(f"thumb_side must be at least 16, got {self.thumb_side}")
        if isinstance(self.keyframes, bool) or not isinstance(self.keyframes, int) or self.keyframes < 0:
            raise ValueError(f"keyframes must be an integer >= 0 (0: none), got {self.keyframes!r}")
        if self.keyframe_side < 64:           # smaller shows a VLM too little to answer from
            raise ValueError(f"keyframe_side must be at least 64, got {self.keyframe_side}")


# What a question is shown (`--answer-policy`).
ANSWER_POLICIES = {
    "hybrid": "the live window at full resolution, then memory clips by relevance in the rest of the token budget",
    "window": "the live window alone: the newest frames, as SimpleStream's baseline does",
    "memory": "memory clips alone, the newest compacted like every other",
}


@dataclass
class AnswerConfig:
    # Recent frames whole carry most questions about now; memory carries questions about earlier (SimpleStream,
    # arXiv 2604.02317). A question asked of a stored memory (`ask`) has no live window: it gets memory alone.
    policy: str = "hybrid"

    def __post_init__(self):
        if self.policy not in ANSWER_POLICIES:
            raise ValueError(f"unknown answer policy {self.policy!r}: use {', '.join(ANSWER_POLICIES)}")


@dataclass
class RecapConfig:
    """What a recap of a span is made of (stream.service.recap): captions of the clips activity touched, written in
    the background, and the alerts; a few sentences per hour from the video LLM."""
    # Caption, on the camera's verifier thread (never the ingest thread), each clip activity touched.
    captions: bool = True
    # At most this many captions per hour of a camera's stream: a busy street must not keep the model busy; at 8 s
    # clips an hour of constant activity is 450 clips, and a recap needs one line a minute, not one every 8 s.
    captions_per_hour: int = 60
    # A few sentences per hour of the span, written by the video LLM from that hour's captions and alerts; off, the
    # recap is the facts alone (activity, alerts, captions), which need no model.
    summaries: bool = True
    # Captions and alert lines per hour given to the summary's prompt (the latest kept): a bounded prompt.
    lines_per_hour: int = 40
    # The span a recap covers when none is said.
    default_span: str = "today"

    def __post_init__(self):
        if self.captions_per_hour < 1 or self.lines_per_hour < 1:
            raise ValueError("captions_per_hour and lines_per_hour must be at least 1")


@dataclass
class EvidenceConfig:
    """Each alert's video: an H.264 MP4 of its span with a little before and after, cut from a ring of small frames
    the camera keeps in RAM and encoded off the ingest thread (stream.service.evidence)."""
    enabled: bool = True
    # Seconds of video before the alert's moment and after its span ends: what led up to it and how it left.
    before: float = 5.0
    after: float = 5.0
    # The longest video, seconds from its first frame: an activity span that lasts an hour is not an hour of video.
    max_seconds: float = 60.0
    # Longest side of the video's frames, pixels: enough to see who came in; some 3.6 KB a frame in H.264 at 1 fps
    # (bench item 15).
    side: int = 480
    # x264's constant rate factor (0-51, lower is better and bigger; 23 is x264's default) and speed preset: a
    # camera's evidence is small and cheap to make, not archival.
    crf: int = 28
    preset: str = "veryfast"
    # Videos waiting to be encoded, per camera; beyond this the oldest request is dropped and counted.
    queue: int = 32
    # Clip videos (an answer's clips played) kept in RAM per camera: a player fetches one range by range, and a
    # clip made of keyframes is encoded once, not once a range.
    played: int = 8

    @property
    def ring_seconds(self) -> float:
        """Seconds of frames the ring must hold: the longest video and the wait for its last frame."""
        return self.before + self.max_seconds + self.after

    def __post_init__(self):
        for name in ("before", "after", "max_seconds"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"evidence {name} must be a non-negative number of seconds, got {v!r}")
        if self.max_seconds <= 0:
            raise ValueError(f"evidence max_seconds must be positive, got {self.max_seconds}")
        if self.side < 32 or self.side % 2:
            raise ValueError(f"evidence side must be an even number of pixels >= 32 (H.264's 4:2:0), got {self.side}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"evidence crf must be in [0, 51], got {self.crf}")
        if self.queue < 1:
            raise ValueError(f"evidence queue must be at least 1, got {self.queue}")
        if self.played < 0:
            raise ValueError(f"evidence played must be >= 0 (0: none kept), got {self.played}")


@dataclass
class AlertConfig:
    # Automatic alerts from the detectors' events (stream.detectors); those of cuts and of activity can each be
    # switched off (a detector registered later raises its alerts unless `enabled` is taught its switch).
    scene_changes: bool = True
    activity: bool = True
    # Stream seconds after an automatic alert of one kind during which that kind stays quiet: a busy scene must not
    # page someone every step (a cut storm, a restart inside an open activity span). A new activity span always
    # alerts: visitors 10 s apart are each worth an alert.
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
    # Scene-change and activity alerts carry the video LLM's description of their clip (title, a sentence or two,
    # severity). The clip closes up to clip_seconds after the event, so an alert waits at most describe_wait seconds
    # for it: an alert is worth more now than described later; the description then follows as an update.
    describe: bool = True
    describe_wait: float = 5.0
    # Rule checks and descriptions waiting for the model, per stream; beyond this the oldest is dropped and counted
    # (a model that cannot keep up must not grow memory or make alerts arrive ever later).
    verify_queue: int = 16
    # Each alert's video (its span as an MP4, for the page, the API and the sinks' links).
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)

    def enabled(self, detector: str) -> bool:
        """Whether the automatic alerts of this detector (its registry name) are on."""
        return {"cuts": self.scene_changes, "activity": self.activity}.get(detector, True)

    def __post_init__(self):
        if not all(math.isfinite(v) for v in (self.cooldown, self.rule_cooldown, self.webhook_backoff,
                                              self.webhook_timeout)):
            raise ValueError("cooldowns and webhook times must be finite numbers")
        if self.cooldown < 0 or self.rule_cooldown < 0:
            raise ValueError("cooldowns must be non-negative")
        if not (math.isfinite(self.describe_wait) and self.describe_wait >= 0):
            raise ValueError(f"describe_wait must be a non-negative number, got {self.describe_wait}")
        if self.verify_queue < 1:
            raise ValueError(f"verify_queue must be at least 1, got {self.verify_queue}")
        if self.rule_per_hour < 1 or self.webhook_attempts < 1 or self.webhook_queue < 1:
            raise ValueError("rule_per_hour, webhook_attempts and webhook_queue must be at least 1")
        if self.webhook_backoff < 0 or self.webhook_timeout <= 0:
            raise ValueError("webhook_backoff must be non-negative and webhook_timeout positive")


@dataclass
class ReviewConfig:
    """Review items: a camera's alerts grouped per activity span (stream.service.reviews)."""
    # Stream seconds: alerts outside any activity span (a cut, a lighting change, a span that history no longer
    # holds) within this of the first alert of the item before them join it, so a burst of cuts is one item to
    # review, not ten; measured from its first, so an edited stream's cuts are an item per `join`, not one forever.
    join: float = 30.0

    def __post_init__(self):
        if not (math.isfinite(self.join) and self.join >= 0):
            raise ValueError(f"join must be a non-negative number of seconds, got {self.join}")
