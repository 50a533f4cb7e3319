"""Stream times as people write them: seconds <-> HH:MM:SS."""
import math


def clock_label(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def parse_clock(text: str) -> float:
    """Seconds from "75", "1:15", "00:01:15" or "00:01:15.5"; ValueError with the text otherwise."""
    try:
        parts = [float(p) for p in str(text).strip().split(":")]
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or any(not math.isfinite(p) or p < 0 for p in parts):
        raise ValueError(f"not a time: {text!r} (use seconds or HH:MM:SS)")
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
