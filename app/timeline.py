"""The activity timeline as an SVG: share of tokens dropped per step as a line, activity spans shaded, scene changes
as red lines, encodes skipped by the pixel gate as green ticks, stretches with no video (a live source that lost its
stream) as grey hatched bands, and a legend row naming them. Used by the report page and the live UI."""
from stream.clock import clock_label

# Drawing constants, in the SVG's own coordinate system (it scales to its box): layout, not behaviour.
WIDTH, HEIGHT, PAD = 1000, 180, 36
# Each mark's legend swatch has a class of its own (key-*) styled alike, so the legend never counts as a mark (the
# report's tests and scripts select marks by class).
_STYLE = ("<style>.drop,.key-drop{fill:none;stroke:#1565c0;stroke-width:1.5}.grid{stroke:#eee}"
          ".axis{font-size:11px;fill:#667}.activity,.key-activity{fill:#ffb74d;opacity:.35}"
          ".cut,.key-cut{stroke:#d32f2f;stroke-width:2}.skip,.key-skip{stroke:#2e7d32;stroke-width:1.5}"
          ".band{fill:#7e57c2;opacity:.25}.gap,.key-gap{fill:url(#gap-hatch);stroke:#9e9e9e;stroke-width:.5}"
          ".legend{font-size:11px;fill:#445}</style>"
          '<defs><pattern id="gap-hatch" width="6" height="6" patternUnits="userSpaceOnUse"'
          ' patternTransform="rotate(45)"><rect width="6" height="6" fill="#eeeeee"/>'
          '<line x1="0" y1="0" x2="0" y2="6" stroke="#9e9e9e" stroke-width="2"/></pattern></defs>')
# The legend row above the plot: baseline, swatch size, and the width given to each character of a label (11 px
# text averages about 6 px a character), so entries do not overlap.
LEGEND_Y, SWATCH, CHAR_W, LEGEND_GAP = 16, 14, 6, 18


def _legend() -> str:
    """One row naming each mark: its swatch (styled as the mark, by a key-* class of its own), then its label."""
    mid = LEGEND_Y - 4                                       # the swatches' vertical middle, on the text's x-height
    swatches = [
        ("drop ratio", lambda x: f'<line class="key-drop" x1="{x}" x2="{x + SWATCH}" y1="{mid}" y2="{mid}"/>'),
        ("activity", lambda x: f'<rect class="key-activity" x="{x}" y="{mid - 5}" width="{SWATCH}" height="10"/>'),
        ("scene change", lambda x: f'<line class="key-cut" x1="{x + SWATCH / 2}" x2="{x + SWATCH / 2}" y1="{mid - 6}" '
                                   f'y2="{mid + 6}"/>'),
        ("encode skipped", lambda x: f'<line class="key-skip" x1="{x + SWATCH / 2}" x2="{x + SWATCH / 2}" '
                                     f'y1="{mid - 3}" y2="{mid + 4}"/>'),
        ("no video (source gap)", lambda x: f'<rect class="key-gap" x="{x}" y="{mid - 5}" width="{SWATCH}" '
                                            f'height="10"/>'),
    ]
    parts, x = ['<g class="legend-row">'], PAD
    for label, swatch in swatches:
        parts.append(swatch(x) + f'<text class="legend" x="{x + SWATCH + 4}" y="{LEGEND_Y}">{label}</text>')
        x += SWATCH + 4 + CHAR_W * len(label) + LEGEND_GAP
    parts.append("</g>")
    return "".join(parts)


def timeline_svg(time: list[float], end: list[float], drop: list[float], encoded: list[bool], activity: list[dict],
                 cuts: list[float], duration: float, start: float = 0.0, *,
                 gaps: list[tuple[float, float]] | None = None) -> str:
    """Per step: `time`, `end` (s), `drop` ratio, `encoded`; `activity` spans {start, end}; `cuts` (s); `gaps`
    (from, to) stream seconds with no video (the times and detail["end"] of "source_gap" events). The x axis runs
    from `start` to `duration` stream seconds."""
    span = max(duration - start, 1e-6)
    x = lambda t: PAD + (WIDTH - 2 * PAD) * (t - start) / span            # noqa: E731
    y = lambda r: HEIGHT - PAD - (HEIGHT - 2 * PAD) * r                    # noqa: E731
    parts = [f'<svg id="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="drop ratio over time">', _STYLE,
             _legend()]
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
    # Over the line, opaque: the line joins the steps either side of a gap, but nothing was seen in between.
    for g0, g1 in gaps or []:
        a0, a1 = max(g0, start), min(g1, duration)
        if a1 >= a0:
            parts.append(f'<rect class="gap" x="{x(a0):.1f}" y="{PAD}" width="{max(1.0, x(a1) - x(a0)):.1f}" '
                         f'height="{HEIGHT - 2 * PAD}"><title>no video {clock_label(g0)} - {clock_label(g1)}</title>'
                         f'</rect>')
    for t0, enc in zip(time, encoded):
        if not enc and t0 >= start:
            parts.append(f'<line class="skip" x1="{x(t0):.1f}" x2="{x(t0):.1f}" y1="{HEIGHT - PAD + 3}" y2="{HEIGHT - PAD + 10}"/>')
    for t in cuts:
        if t >= start:
            parts.append(f'<line class="cut" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{PAD - 6}" y2="{HEIGHT - PAD}">'
                         f'<title>scene change {clock_label(t)}</title></line>')
    parts.append(f'<rect id="band" class="band" x="0" y="{PAD - 8}" width="0" height="{HEIGHT - 2 * PAD + 8}"/></svg>')
    return "".join(parts)
