"""Item 6: events against annotations.json, leave one clip out.

Every decoded frame of each clip is read once (through FileSource, as in production) at the analysis size; Vigil's
analyzer then runs over those frames for each setting of the constants under test. A figure for a clip comes from
the setting that scored best on the *other* clips; when several tie there, the clip is scored by the mean over all
of them (the held-out clip never breaks a tie), so no figure is fit on the clip it is scored on. The clips each
setting was fit on are named. The shipped defaults, fit on all clips, are shown
beside (in-sample). Anchors in the same run: PySceneDetect's own pipeline (ContentDetector, full frames) for cuts,
OpenCV's MOG2 background subtractor at frame rate on the same frames for activity, its share threshold chosen by
the same leave-one-out protocol.
"""
import itertools
from dataclasses import replace

import cv2
import numpy as np

from bench.score import f1
from stream.analyzer import FrameAnalyzer
from stream.config import ActivityConfig, CutConfig, EventConfig
from stream.sources import FileSource


class _Recorder:
    """Stands in for an analyzer in FileSource.frames: keeps every decoded frame at the analysis size."""

    def __init__(self, side: int):
        self.side, self.frames = side, []
        self._shrink = FrameAnalyzer(EventConfig(side=side)).small

    def see(self, bgr, t):
        self.frames.append((t, self._shrink(bgr)))

    def take(self):
        return []

    def snapshot(self):
        return None


def decoded(path: str, side: int) -> list[tuple[float, np.ndarray]]:
    rec = _Recorder(side)
    for _ in FileSource(path, 1.0).attach(rec).frames():
        pass
    return rec.frames


def _events(frames, config: EventConfig) -> list:
    analyzer, out = FrameAnalyzer(config), []
    for t, frame in frames:
        analyzer.see(frame, t)
        out += analyzer.take()
    return out + analyzer.finish()


def _pooled(scores: list[dict]) -> dict:
    hits, pred, truth = (sum(s[k] for s in scores) for k in ("hits", "predicted", "truth"))
    p = hits / pred if pred else (1.0 if not truth else 0.0)
    r = hits / truth if truth else 1.0
    return {"f1": round(2 * p * r / (p + r), 3) if p + r else 0.0, "hits": hits, "predicted": pred, "truth": truth}


def _loo(per_setting: dict, clip: str, fit_on: list[str]) -> dict:
    """The held-out `clip` scored with the settings that did best on `fit_on`: the mean of their hits and reports
    when several tie. per_setting: {setting: {clip: score}}."""
    on_others = {s: _pooled([per_setting[s][c] for c in fit_on])["f1"] for s in per_setting}
    top = max(on_others.values())
    tied = [s for s in per_setting if on_others[s] == top]
    held = [per_setting[s][clip] for s in tied]
    hits, pred = (sum(h[k] for h in held) / len(held) for k in ("hits", "predicted"))
    score = _pooled([{"hits": hits, "predicted": pred, "truth": held[0]["truth"]}])
    return score | {"settings": tied, "fit_on": fit_on, "hits": round(hits, 2), "predicted": round(pred, 2)}


def _mog2_starts(frames, share: float, activity: ActivityConfig) -> list[float]:
    """MOG2's foreground share at frame rate, read with the same start, hold and warm-up as Vigil's activity."""
    mog = cv2.createBackgroundSubtractorMOG2(detectShadows=False)
    starts, active, first_on, last_on, t0 = [], False, None, 0.0, frames[0][0] if frames else 0.0
    for t, frame in frames:
        on = float(np.mean(mog.apply(frame) > 0)) >= share
        if t - t0 < activity.warmup:
            continue
        if on:
            first_on = t if first_on is None else first_on
            if not active and t - first_on >= activity.min_duration:
                active = True
                starts.append(first_on)
            last_on = t
        else:
            first_on = None
            if active and t - last_on >= activity.hold:
                active = False
    return starts


def evaluate(paths: dict[str, str], ann: dict, config) -> dict:
    """config: BenchConfig (its grids and tolerances)."""
    from scenedetect import ContentDetector, detect
    base = EventConfig()
    frames = {name: decoded(path, base.side) for name, path in paths.items()}
    edited = [n for n in paths if ann[n]["camera"] == "edited"]
    fixed = [n for n in paths if ann[n]["camera"] == "fixed"]
    # Cuts: the ContentDetector threshold, fit on the other edited clips and every unedited one (a false cut there
    # counts against a setting).
    cut_scores = {}
    for th in config.cut_thresholds:
        cfg = replace(base, cuts=CutConfig(threshold=th))
        cut_scores[th] = {}
        for name in paths:
            cuts = [e.time for e in _events(frames[name], cfg) if e.kind == "scene_change"]
            cut_scores[th][name] = f1(cuts, ann[name]["cuts"], config.cut_tolerance) | {"times": cuts}
    cuts = {"tolerance": config.cut_tolerance, "rows": []}
    for name in edited:
        anchor = [s.get_seconds() for s, _ in detect(paths[name], ContentDetector(), show_progress=False)[1:]]
        cuts["rows"].append({"clip": name, "loo": _loo(cut_scores, name, [n for n in paths if n != name]),
                             "default": cut_scores[base.cuts.threshold][name],
                             "pyscenedetect": f1(anchor, ann[name]["cuts"], config.cut_tolerance)})
    cuts["false_on_unedited"] = {n: cut_scores[base.cuts.threshold][n]["predicted"] for n in paths if n not in edited}
    # Activity: start margin, spread factor and hold, fit on the other fixed-camera clips.
    grid = [dict(zip(config.activity_grid, v)) for v in itertools.product(*config.activity_grid.values())]
    default = tuple(getattr(base.activity, k) for k in config.activity_grid)
    if default not in {tuple(v.values()) for v in grid}:
        grid.append(dict(zip(config.activity_grid, default)))      # the shipped defaults are scored in-sample too
    act_scores, mog_scores = {}, {}
    for values in grid:
        cfg = replace(base, activity=replace(base.activity, **values))
        key = tuple(values.values())
        act_scores[key] = {}
        for name in fixed:
            starts = [e.time for e in _events(frames[name], cfg) if e.kind == "activity_start"]
            act_scores[key][name] = f1(starts, [s for s, _ in ann[name]["events"]], config.activity_tolerance) | {
                "starts": [round(s, 2) for s in starts]}
    for share in config.mog2_shares:
        mog_scores[share] = {n: f1(_mog2_starts(frames[n], share, base.activity), [s for s, _ in ann[n]["events"]],
                                   config.activity_tolerance) for n in fixed}
    others = {n: [c for c in fixed if c != n] for n in fixed}
    loo = {n: _loo(act_scores, n, others[n]) for n in fixed}
    mog = {n: _loo(mog_scores, n, others[n]) for n in fixed}
    for n in fixed:
        loo[n]["settings"] = [dict(zip(config.activity_grid, s)) for s in loo[n]["settings"]]
    activity = {"tolerance": config.activity_tolerance, "constants": list(config.activity_grid),
                "rows": [{"clip": n, "loo": loo[n], "default": act_scores[default][n], "mog2": mog[n]} for n in fixed],
                "pooled": {"loo": _pooled([loo[n] for n in fixed]),
                           "default": _pooled([act_scores[default][n] for n in fixed]),
                           "mog2": _pooled([mog[n] for n in fixed])}}
    return {"cuts": cuts, "activity": activity}
