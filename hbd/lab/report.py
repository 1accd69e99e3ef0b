"""`hbd lab demo --report FILE.html`: one self-contained page, no scripts, no fetches.

For every drill, a chart of the client's probes on vip1 and vip2: one thin bar
per probe, coloured by the node that answered (grey: no answer), with the
failure, detection, takeover, recovery and failback instants marked; under it
the drill's figures. Plain HTML with inline SVG and CSS.
"""

from __future__ import annotations

import html
from typing import Iterable

from hbd.lab import timeline
from hbd.lab.drills import VIPS, DrillResult, ms

COLOURS = {"node0": "#1f77b4", "node1": "#ff7f0e", "node2": "#2ca02c"}
LOST = "#bbbbbb"
WIDTH, ROW, LEFT = 900, 34, 120
MARKS = (("failure", "t_fail", "#d62728"), ("takeover", "t_taken", "#ff7f0e"),
         ("recovery", "t_recover", "#9467bd"), ("failback", "t_back", "#1f77b4"))


def _window(result: DrillResult) -> tuple[float, float]:
    start = result.t_fail - 1.0
    end = max(t for t in (result.t_fail, result.t_taken, result.t_recover, result.t_back)
              if t is not None) + 1.0
    return start, end


def _chart(result: DrillResult, probes: list[timeline.Probe]) -> str:
    start, end = _window(result)
    scale = (WIDTH - LEFT - 10) / max(end - start, 0.001)
    x = lambda t: LEFT + (t - start) * scale  # noqa: E731 - tiny local mapping
    height = ROW * len(VIPS) + 40
    parts = [f'<svg width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg" '
             'font-family="sans-serif" font-size="11">']
    for row, (primary, (vip, _, _)) in enumerate(VIPS.items()):
        y = 10 + row * ROW
        parts.append(f'<text x="4" y="{y + 16}">{vip}</text>')
        for probe in timeline.for_target(probes, vip):
            if start <= probe.t <= end:
                colour = COLOURS.get(probe.node or "", "#8c564b") if probe.ok else LOST
                title = (f"{probe.node} as {probe.host} ({probe.mac})" if probe.ok
                         else "no answer")
                parts.append(f'<rect x="{x(probe.t):.1f}" y="{y}" width="1.6" height="24" '
                             f'fill="{colour}"><title>{html.escape(title)}</title></rect>')
    axis_y = 10 + len(VIPS) * ROW
    for label, attr, colour in MARKS:
        t = getattr(result, attr)
        if t is not None:
            parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="6" y2="{axis_y}" '
                         f'stroke="{colour}" stroke-dasharray="3,2"/>')
            parts.append(f'<text x="{x(t) + 2:.1f}" y="{axis_y + 12}" fill="{colour}">'
                         f'{label}</text>')
    if result.detection is not None:
        t = result.t_fail + result.detection
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="6" y2="{axis_y}" '
                     'stroke="#000" stroke-dasharray="1,2"/>')
        parts.append(f'<text x="{x(t) + 2:.1f}" y="{axis_y + 24}">detection</text>')
    parts.append("</svg>")
    return "".join(parts)


def _figures(result: DrillResult) -> str:
    rows = [("verdict", "met" if result.ok else "NOT met: " + "; ".join(result.problems)),
            ("detection", ms(result.detection)), ("outage on the VIP", ms(result.outage)),
            ("answered after takeover", " as ".join(result.taker[:2]) + f" ({result.taker[2]})"
             if result.taker else "-"),
            ("failback outage", ms(result.failback_outage)),
            ("other VIP's longest gap", ms(result.other_outage)),
            ("node1 itself again", "yes" if result.restored else "no")]
    rows += [("note", note) for note in result.notes]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return f'<table class="fig">{cells}</table>'


def render(results: Iterable[DrillResult], probes: list[timeline.Probe], *,
           title: str, summary: str) -> str:
    results = list(results)
    legend = " ".join(f'<span style="color:{c}">&#9632; {n}</span>' for n, c in COLOURS.items())
    sections = []
    for result in results:
        sections.append(f"<h2>{html.escape(result.drill)} on {html.escape(result.primary)}"
                        f" ({html.escape(result.system)})</h2>"
                        f"{_chart(result, probes)}{_figures(result)}")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:960px}}
table.fig th{{text-align:left;padding-right:1em;font-weight:normal;color:#555}}
pre{{background:#f6f6f6;padding:1em}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Each bar is one probe from the client (every 10 ms): its colour is the node that
answered on the VIP ({legend} <span style="color:{LOST}">&#9632; no answer</span>).</p>
<pre>{html.escape(summary)}</pre>
{''.join(sections)}
</body></html>
"""
