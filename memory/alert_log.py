"""A memory folder's alert log, alerts.jsonl: one JSON object a line, appended and never rewritten (the camera's log
sink, stream.service.sinks.log, writes it; a shared store keeps its alerts in a table instead)."""
import json
from pathlib import Path

ALERT_LOG = "alerts.jsonl"


def read_alert_log(folder: str | Path) -> list[dict]:
    """The alerts of a folder's alerts.jsonl, oldest first, each as last sent (an update replaces its alert's line);
    a torn or unreadable line is skipped (the log is never rewritten, so one bad line costs only itself)."""
    path = Path(folder) / ALERT_LOG
    alerts: dict[str, dict] = {}
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            a = json.loads(line)
        except ValueError:
            continue
        if isinstance(a, dict) and isinstance(a.get("id"), str):
            alerts[a["id"]] = alerts.get(a["id"], {}) | a
    return list(alerts.values())


def append_alert(folder: str | Path, alert: dict) -> None:
    """Append one alert as a line of the folder's alerts.jsonl, flushed to disk before returning."""
    import os
    with open(Path(folder) / ALERT_LOG, "ab") as f:
        f.write((json.dumps(alert) + "\n").encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())
