"""The analysis report as one self-contained HTML page: the activity timeline (drop ratio over time) with events
marked, a strip of clip thumbnails under it, captions, the summary, and the questions with their answers, each
linking to the times it used. Everything (thumbnails included) is inline, so the page can be mailed or archived.
"""
import base64
import html
from pathlib import Path

import cv2
import numpy as np

from stream.clock import clock_label

from app.timeline import PAD, WIDTH, timeline_svg

_STRIP_HEIGHT = 90     # pixels: thumbnails in the strip are inlined at this height


def jpeg_data_uri(data: bytes | None) -> str:
    """JPEG bytes as an inline image source ("" for none)."""
    return "data:image/jpeg;base64," + base64.b64encode(data).decode() if data else ""


def _strip_image(path: Path) -> str:
    """A small inline JPEG of a clip thumbnail (a long video has thousands of them)."""
    data = np.frombuffer(path.read_bytes(), np.uint8) if path.exists() else np.zeros(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        return ""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, round(w * _STRIP_HEIGHT / h)), _STRIP_HEIGHT), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return jpeg_data_uri(buf.tobytes()) if ok else ""


_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#1d2430;background:#fafbfc}
h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:22px 0 8px}.facts{color:#556}
.warn{background:#b00020;color:#fff;padding:10px 14px;border-radius:6px;font-weight:600;margin:10px 0}
.note{background:#fff3cd;padding:8px 12px;border-radius:6px;margin:10px 0}
.cards{display:flex;gap:10px;flex-wrap:wrap}.card{background:#fff;border:1px solid #dde;border-radius:8px;padding:8px 12px}
.card b{display:block;font-size:20px}
svg{width:100%;background:#fff;border:1px solid #dde;border-radius:8px}.legend span{margin-right:14px;font-size:13px}
.legend i{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle}
.strip{display:flex;gap:8px;overflow-x:auto;padding:8px 2px}
.clip{flex:none;width:170px;background:#fff;border:1px solid #dde;border-radius:6px;padding:4px;font-size:12px}
.clip img{height:90px;max-width:100%;display:block;margin:auto}
.clip .cap{overflow-wrap:anywhere;max-height:4.4em;overflow:hidden}.noise{color:#b00020;font-weight:600;font-size:11px}.clip.hit{outline:3px solid #7e57c2}
.qa{background:#fff;border:1px solid #dde;border-radius:8px;padding:10px 14px;margin:10px 0}
.qa .a{white-space:pre-wrap;overflow-wrap:anywhere;font-family:ui-monospace,monospace;font-size:13px;background:#f4f5f7;padding:6px;
max-height:8em;overflow:auto}.qa a{margin-right:8px}.meta{color:#667;font-size:12px}
"""

_JS = """
const D=%(duration)f,W=%(w)d,P=%(pad)d;
function show(id,s,e){document.querySelectorAll('.clip.hit').forEach(c=>c.classList.remove('hit'));
 const c=document.getElementById('clip-'+id);if(c){c.classList.add('hit');c.scrollIntoView({block:'nearest',inline:'center'});}
 const b=document.getElementById('band');const x=t=>P+(W-2*P)*t/D;b.setAttribute('x',x(s));
 b.setAttribute('width',Math.max(2,x(e)-x(s)));}
document.querySelectorAll('a.t').forEach(a=>a.addEventListener('click',ev=>{ev.preventDefault();
 show(a.dataset.id,+a.dataset.s,+a.dataset.e);}));
"""


def render_html(report: dict, out: Path) -> str:
    """The page for a report (thumbnails read from `out`, where the report's thumbnail paths point)."""
    e = html.escape
    v, tot = report["video"], report["totals"]
    s = report["series"]
    duration = max(v["duration"], max(s["end"], default=0.0), 1e-6)
    svg = timeline_svg(s["time"], s["end"], s["drop_ratio"], s["encoded"], report["activity"],
                       report["scene_changes"], duration)
    random_note = f'<div class="warn">{e(report["warning"])}</div>' if report["warning"] else ""
    broken = (f'<div class="note">The video breaks at {clock_label(v["broken_at"])} ({v["broken_at"]:.2f} s); '
              f'it was analysed up to there.</div>') if v["broken_at"] is not None else ""
    taus = [x for x in s.get("tau", []) if x is not None]
    tau = f"{min(taus):.2f}-{max(taus):.2f}" if taus else "pixel rule"
    cards = [("tokens dropped", f"{1 - tot['kept_ratio']:.1%}"), ("drop threshold tau", tau),
             ("encodes skipped", f"{tot['encodes_skipped']} of {tot['steps']}"),
             ("frames sampled", f"{tot['frames_sampled']} of {tot['frames_in_video']}"),
             ("clips", tot["clips"]), ("scene changes", len(report["scene_changes"])),
             ("activity spans", len(report["activity"]))]
    noise = '<div class="noise">random weights: noise</div>' if report["warning"] else ""
    clips = []
    for c in report["clips"]:
        cap = f'{noise}<div class="cap">{e(c["caption"])}</div>' if c["caption"] is not None else ""
        lost = '<div class="noise">token file lost</div>' if c.get("missing") else ""
        clips.append(f'<div class="clip" id="clip-{c["id"]}"><img alt="clip {c["id"]}" src="{_strip_image(out / c["thumbnail"])}">'
                     f'<div class="meta">{clock_label(c["start"])} - {clock_label(c["end"])}</div>{lost}{cap}</div>')
    summary = ""
    if report["summary"]:
        summary = "<h2>Summary</h2>" + "".join(
            f'<div class="qa"><div class="meta">{clock_label(s["start"])} - {clock_label(s["end"])}</div>{noise}'
            f'<div class="a">{e(s["text"])}</div></div>' for s in report["summary"])
    qa = []
    for a in report["answers"]:
        links = "".join(f'<a class="t" href="#clip-{c["id"]}" data-id="{c["id"]}" data-s="{c["start"]}" '
                        f'data-e="{c["end"]}">{clock_label(c["start"])}-{clock_label(c["end"])}</a>' for c in a["clips"])
        at = f' (asked as of {clock_label(a["at"])})' if a["at"] is not None else ""
        warn = f'<div class="warn">{e(a["warning"])}</div>' if a["warning"] else ""
        lost = ", ".join(f'{clock_label(c["start"])}-{clock_label(c["end"])}' for c in a.get("skipped", []))
        lost = f' &middot; skipped (token file unreadable): {lost}' if lost else ""
        cost = a.get("cost") or f"{a['prompt_tokens']} prompt tokens"    # reports written before servers answered
        qa.append(f'<div class="qa"><b>{e(a["question"])}</b>{at}{warn}<div class="a">{e(a["answer"])}</div>'
                  f'<div class="meta">used: {links or "no clips"}{lost} &middot; {e(cost)} &middot; '
                  f'first token {a["seconds_to_first_token"]:.2f} s, total {a["seconds_total"]:.2f} s</div></div>')
    questions = ("<h2>Questions</h2>" + "".join(qa)) if qa else ""
    js = _JS % {"duration": duration, "w": WIDTH, "pad": PAD}
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Vigil report: {e(v["name"])}</title>
<style>{_CSS}</style></head><body>
<h1>Vigil report: {e(v["name"])}</h1>
<div class="facts">{clock_label(v["duration"])} ({v["duration"]:.1f} s) &middot; {v["width"]}x{v["height"]} &middot; {v["fps"]:g} fps
 &middot; {e(v["codec"])} &middot; model {e(report["config"]["engine"]["model"]["llm"])}
 at {report["config"]["engine"]["ingest"]["sampling"]["fps"]:g} fps sampled</div>
{random_note}{broken}
<div class="cards">{"".join(f'<div class="card"><b>{val}</b>{e(k)}</div>' for k, val in cards)}</div>
<h2>Activity timeline</h2>
<div class="legend"><span><i style="background:#1565c0"></i>share of tokens dropped per step</span>
<span><i style="background:#ffb74d"></i>activity</span><span><i style="background:#d32f2f"></i>scene change</span>
<span><i style="background:#2e7d32"></i>encode skipped by the pixel gate</span></div>
{svg}
<h2>Clips</h2><div class="strip">{"".join(clips)}</div>
{summary}{questions}
<script>{js}</script></body></html>"""
