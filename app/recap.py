"""A recap as one self-contained HTML page (like the analysis report, app/report.py): per camera a timeline of the
span with its activity and alerts marked, then per hour the facts (activity, alerts with their videos), the video
LLM's sentences and the captions. Served at /api/v1/recap.html, shown on the page, written by `vigil recap --html`.
"""
import html

from app.report import _CSS

WIDTH, PAD = 1000, 10          # the timeline's viewBox width and margin, in its own units

_MORE_CSS = """
.cam{background:#fff;border:1px solid #dde;border-radius:8px;padding:10px 14px;margin:12px 0}
.hour{border-top:1px solid #eef;padding:8px 0}.hour h3{font-size:15px;margin:2px 0}
.sum{white-space:pre-wrap;overflow-wrap:anywhere;background:#f4f5f7;padding:6px;border-radius:4px}
.alert{margin:4px 0;overflow-wrap:anywhere}.caps{color:#445;font-size:13px;margin:4px 0 0 0;padding-left:18px}
.quiet{color:#667}
"""


def _timeline(cam: dict) -> str:
    """An SVG strip of the camera's span: activity as orange bands, alerts as red ticks."""
    lo, hi = cam["start"], cam["end"]
    if lo is None or hi is None or hi <= lo:
        return ""
    x = lambda t: PAD + (WIDTH - 2 * PAD) * (min(max(t, lo), hi) - lo) / (hi - lo)
    bands = "".join(f'<rect x="{x(a["start"]):.1f}" y="8" width="{max(1.5, x(a["end"]) - x(a["start"])):.1f}" '
                    f'height="24" fill="#ffb74d"><title>activity {html.escape(a["label"])}</title></rect>'
                    for a in cam["activity"])
    ticks = "".join(f'<rect x="{x(a["time"]) - 1:.1f}" y="4" width="2" height="32" fill="#d32f2f"><title>'
                    f'{html.escape(a["label"])} {html.escape(a["title"] or "")}</title></rect>'
                    for h in cam["hours"] for a in h["alerts"])
    return f'<svg viewBox="0 0 {WIDTH} 40" preserveAspectRatio="none" style="height:40px">{bands}{ticks}</svg>'


def render_recap_html(recap: dict) -> str:
    e = html.escape
    warn = f'<div class="warn">{e(recap["warning"])}</div>' if recap["warning"] else ""
    noise = '<div class="noise">random weights: noise</div>' if recap["warning"] else ""
    cams = []
    for cam in recap["cameras"]:
        active = sum(a["end"] - a["start"] for a in cam["activity"])
        facts = (f'{len(cam["activity"])} activity spans ({active / 60:.1f} min in all) &middot; {cam["alerts"]} alerts '
                 f'&middot; {cam["clips"]} clips, {cam["captioned"]} captioned')
        hours = []
        for h in cam["hours"]:
            alerts = "".join(
                f'<div class="alert"><b>{e(a["label"])}</b> {e(a["title"] or a["kind"] or "")}'
                + (f' &mdash; {e(a["description"])}' if a["description"] else "")
                + (f' <a href="{e(a["video"])}">video</a>' if a["video"] else "") + "</div>" for a in h["alerts"])
            caps = "".join(f'<li><b>{e(c["label"])}</b> {e(c["text"])}</li>' for c in h["captions"])
            summary = f'{noise}<div class="sum">{e(h["summary"])}</div>' if h["summary"] else ""
            hours.append(f'<div class="hour"><h3>{e(h["label"])}</h3><div class="meta">activity '
                         f'{h["activity_seconds"]:.0f} s in {h["activity_spans"]} spans &middot; {len(h["alerts"])} '
                         f'alerts</div>{summary}{alerts}'
                         + (f'{noise if caps else ""}<ul class="caps">{caps}</ul>' if caps else "") + "</div>")
        body = "".join(hours) or '<div class="quiet">Nothing happened in this span.</div>'
        cams.append(f'<div class="cam"><h2>{e(cam["camera"])}</h2><div class="facts">{facts}</div>'
                    f'{_timeline(cam)}{body}</div>')
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Vigil recap: {e(recap["phrase"] or "all")}</title>
<style>{_CSS}{_MORE_CSS}</style></head><body>
<h1>Recap: {e(recap["phrase"] or "everything stored")}</h1>
<div class="facts">{e(recap["span"])} &middot; {len(recap["cameras"])} cameras &middot; made in {recap["seconds"]:.2f} s</div>
{warn}{"".join(cams) or '<div class="quiet">No camera.</div>'}
</body></html>"""
