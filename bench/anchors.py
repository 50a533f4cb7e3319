"""The anchors of item 6: PySceneDetect's ContentDetector for cuts (every frame) and OpenCV's MOG2 background
subtraction for activity starts (sampled frames, foreground share over a threshold, same hold as Vigil's)."""
import cv2
import numpy as np

from stream.sources import FileSource


def scenedetect_cuts(path: str) -> list[float]:
    from scenedetect import ContentDetector, detect
    scenes = detect(path, ContentDetector(), show_progress=False)
    return [start.get_seconds() for start, _ in scenes[1:]]


def mog2_starts(path: str, fps: float, share: float, warmup: float, hold: float) -> list[float]:
    """Activity starts where the foreground share of a sampled frame reaches `share`, after `warmup` seconds of
    learning; an activity ends after `hold` seconds below it (Vigil's EventConfig.activity_hold)."""
    mog = cv2.createBackgroundSubtractorMOG2(detectShadows=False)
    starts, active, last = [], False, -1e9
    for frame in FileSource(path, fps).frames():
        small = cv2.resize(frame.image, (320, round(320 * frame.image.shape[0] / frame.image.shape[1])))
        fg = mog.apply(small)
        if frame.time < warmup:
            continue
        moving = float(np.mean(fg > 0)) >= share
        if moving:
            if not active:
                starts.append(frame.time)
            active, last = True, frame.time
        elif active and frame.time - last >= hold:
            active = False
    return starts
