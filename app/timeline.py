"""The activity timeline as an SVG: share of tokens dropped per step as a line, activity spans shaded, scene changes
as red lines, encodes skipped by the pixel gate as green ticks. Used by the report page and the live UI."""
from stream.clock import clock_label

# Drawing constants, in the SVG's own coordinate system (it scales to its box): layout, not behaviour.
WIDTH, HEIGHT, PAD = 1000, 180, 36
_STYLE = ("<style>.drop{fill:none;stroke:#1565c0;stroke-width:1.5}.grid{stroke:#eee}.axis{font-size:11px;fill:#667}"
          ".activity{fill:#ffb74d;opacity:.35}.cut{stroke:#d32f2f;stroke-width:2}.skip{stroke:#2e7d32;stroke-width:1.5}"
          ".band{fill:#7e57c2;opacity:.25}</style>")


def timeline_svg(time: list[float], end: list[float], drop: list[float], encoded: list[bool], activity: list[dict],
                 cuts: list[float], duration: float, start: float = 0.0) -> str:
    """Per step: `time`, `end` (s), `drop` ratio, `encoded`; `activity` spans {start, end}; `cuts` (s). The x axis
    runs from `start` to `duration` stream seconds."""
    span = max(duration - start, 1e-6)
    x = lambda t: PAD + (WIDTH - 2 * PAD) * (t - start) / span            # noqa: E731
    y = lambda r: HEIGHT - PAD - (HEIGHT - 2 * PAD) * r                    # noqa: E731
    parts = [f'<svg id="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="drop ratio over time">', _STYLE]
    for a in activity:
        a0, a1 = max(a["start"], start), a["end"]
        if a1 >= start:
            parts.append(f'<rect class="activity" x="{x(a0):.1f}" y="{PAD}" width="{max(1.0, x(a1) - x(a0)):.1f}" '
                         f'height="{HEIGHT - 2 * PAD}"><title>activity {clock_label(a["start"])} - '
                         f'{clock_label(a["end"])}</title></rect>')
    for r in (0.0, 0.5, 1.0):
        parts.append(f'<line class="grid" x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(r):.1f}" y2="{y(r):.1f}"/>'
                     f'<text class="axis" x="{PAD - 6}" y="{y(r) + 4:.1f}" text-anchor="end">{r:.0%}</text>')
    for k in range(6):
        t = start + span * k / 5
        parts.append(f'<text class="axis" x="{x(t):.1f}" y="{HEIGHT - PAD + 28}" text-anchor="middle">{clock_label(t)}</text>')
    points = " ".join(f"{x((t0 + t1) / 2):.1f},{y(r):.1f}" for t0, t1, r in zip(time, end, drop) if t0 >= start)
    parts.append(f'<polyline class="drop" points="{points}"/>')
    for t0, enc in zip(time, encoded):
        if not enc and t0 >= start:
            parts.append(f'<line class="skip" x1="{x(t0):.1f}" x2="{x(t0):.1f}" y1="{HEIGHT - PAD + 3}" y2="{HEIGHT - PAD + 10}"/>')
    for t in cuts:
        if t >= start:
            parts.append(f'<line class="cut" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{PAD - 6}" y2="{HEIGHT - PAD}">'
                         f'<title>scene change {clock_label(t)}</title></line>')
    parts.append(f'<rect id="band" class="band" x="0" y="{PAD - 8}" width="0" height="{HEIGHT - 2 * PAD + 8}"/></svg>')
    return "".join(parts)
