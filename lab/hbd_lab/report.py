"""`hbd-lab demo --report FILE.html`: one self-contained page, no scripts, no fetches.

For every drill, an SVG chart on a time axis in ms from the failure:

* one row per VIP for what the client saw: runs of identical probes (same
  answerer, host name and MAC, or no answer) merged into one span, coloured by
  the node that answered; a span with less than the whole identity (the
  standby's own MAC or name) is drawn pale; grey is no answer;
* one row per VIP for who held it (the 10 ms holders sampler): one colour per
  holder, red where two nodes held it at once;
* dashed markers, labelled, at the failure, node1's first action, the taker's
  first answer, the whole identity, the recovery and the return home.

Under each chart, the drill's figures and verdict. Plain HTML, inline SVG and
CSS; a span's tooltip gives its times, length and probe count.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from hbd_lab import timeline
from hbd_lab.holders import Span
from hbd_lab.scenario import VIPS, DrillResult, ms

COLOURS = {"node0": "#1f77b4", "node1": "#ff7f0e", "node2": "#2ca02c"}
LOST, TWO, NOBODY = "#bbbbbb", "#d62728", "#ffffff"
WIDTH, LEFT, RIGHT, ROW, GAP = 960, 150, 16, 20, 6
STEPS_MS = (10, 20, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000)
LABEL_PX = 6.2          # approximate width of a character at 11 px
MARK_ROWS = 4            # marker labels stack in up to this many rows above the chart


def probe_spans(probes: list[timeline.Probe], start: float, end: float,
                interval: float = 0.01) -> list[tuple[float, float, timeline.Probe, int]]:
    """Runs of identical probes in [start, end]: (from, to, first probe, count). A run
    lasts until the next run's first probe (the last one, one interval)."""
    runs: list[list] = []
    for probe in probes:
        if not start <= probe.t <= end:
            continue
        key = (probe.ok, probe.node, probe.host, probe.mac)
        if runs and runs[-1][3] == key:
            runs[-1][1] = probe.t
            runs[-1][4] += 1
        else:
            if runs:
                runs[-1][1] = probe.t
            runs.append([probe.t, probe.t + interval, probe, key, 1])
    return [(a, b, p, n) for a, b, p, _, n in runs]


def _step(window_s: float) -> int:
    return next((s for s in STEPS_MS if window_s * 1000 / s <= 12), STEPS_MS[-1])


class Chart:
    def __init__(self, result: DrillResult, start: float, end: float) -> None:
        self.result = result
        self.start, self.end = start, end
        self.scale = (WIDTH - LEFT - RIGHT) / max(end - start, 0.001)
        self.parts: list[str] = []

    def x(self, t: float) -> float:
        return LEFT + (min(max(t, self.start), self.end) - self.start) * self.scale

    def rel(self, t: float) -> str:
        return f"{(t - self.result.t_fail) * 1000:+.0f} ms"

    def rect(self, y: float, a: float, b: float, fill: str, title: str,
             opacity: float = 1.0) -> None:
        x0, x1 = self.x(a), self.x(b)
        extra = f' fill-opacity="{opacity}"' if opacity < 1 else ""
        self.parts.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1.0):.1f}" '
                          f'height="{ROW}" fill="{fill}"{extra}><title>{html.escape(title)}'
                          f'</title></rect>')

    def text(self, x: float, y: float, content: str, colour: str = "#000",
             anchor: str = "start") -> None:
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" fill="{colour}" '
                          f'text-anchor="{anchor}">{html.escape(content)}</text>')

    def client_row(self, y: float, vip: str, whole: tuple[str, str],
                   probes: list[timeline.Probe]) -> None:
        self.text(4, y + 14, f"{vip} client")
        for a, b, p, n in probe_spans(timeline.for_target(probes, vip), self.start, self.end):
            span = f"{self.rel(a)} to {self.rel(b)} ({(b - a) * 1000:.0f} ms, {n} probes)"
            if not p.ok:
                self.rect(y, a, b, LOST, f"no answer, {span}")
                continue
            partial = (p.host, p.mac) != whole
            self.rect(y, a, b, COLOURS.get(p.node or "", "#8c564b"),
                      f"{p.node} as {p.host} ({p.mac}), {span}", 0.35 if partial else 1.0)

    def holders_row(self, y: float, vip: str, spans: list[Span]) -> None:
        self.text(4, y + 14, f"{vip} held by")
        for s in spans:
            fill = (TWO if len(s.holders) > 1 else
                    COLOURS.get(s.holders[0], "#8c564b") if s.holders else NOBODY)
            who = " + ".join(s.holders) or "nobody"
            self.rect(y, s.start, s.end, fill, f"{who}, {self.rel(s.start)} to "
                      f"{self.rel(s.end)} ({s.seconds * 1000:.0f} ms, {s.samples} samples)")
        if spans:
            self.parts.append(f'<rect x="{LEFT}" y="{y}" width="{WIDTH - LEFT - RIGHT}" '
                              f'height="{ROW}" fill="none" stroke="#ddd"/>')

    def axis(self, y: float) -> None:
        step = _step(self.end - self.start)
        self.parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" '
                          'stroke="#444"/>')
        first = int((self.start - self.result.t_fail) * 1000 // step) * step
        for tick in range(first, int((self.end - self.result.t_fail) * 1000) + 1, step):
            t = self.result.t_fail + tick / 1000
            if t < self.start:
                continue
            self.parts.append(f'<line x1="{self.x(t):.1f}" x2="{self.x(t):.1f}" y1="{y}" '
                              f'y2="{y + 4}" stroke="#444"/>')
            self.text(self.x(t), y + 15, str(tick), "#444", "middle")
        self.text(4, y + 15, "ms after failure", "#444")

    def markers(self, top: float, bottom: float) -> None:
        rows: list[float] = []           # right edge of the last label in each row
        for t, label in self.result.marks():
            x = self.x(t)
            text = f"{label} {self.rel(t)}"
            row = next((i for i, edge in enumerate(rows) if x > edge + 4), len(rows))
            if row == len(rows):
                rows.append(0.0)
            rows[row] = x + LABEL_PX * len(text)
            y = top - 4 - 12 * (MARK_ROWS - 1 - min(row, MARK_ROWS - 1))
            self.parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 2}" y2="{bottom}" '
                              'stroke="#000" stroke-dasharray="3,2" stroke-opacity="0.6"/>')
            self.text(x + 2, y, text)


def _chart(result: DrillResult, probes: list[timeline.Probe]) -> str:
    instants = [t for t in (result.t_fail, result.t_taken, result.t_recover, result.t_back,
                            result.t_end) if t is not None]
    chart = Chart(result, result.t_fail - 0.5, max(instants) + 0.2)
    top = 12 * MARK_ROWS + 8
    rows = [(vip, (host, mac)) for vip, host, mac in VIPS.values()]
    y = top
    for vip, whole in rows:
        chart.client_row(y, vip, whole, probes)
        y += ROW + GAP
    for vip, _ in rows:
        chart.holders_row(y, vip, result.holder_spans.get(vip, []))
        y += ROW + GAP
    chart.axis(y)
    chart.markers(top, y)
    height = y + 24
    return (f'<svg width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
            'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">'
            + "".join(chart.parts) + "</svg>")


def _figures(result: DrillResult) -> str:
    two = ", ".join(f"{vip} {ms(s)}" for vip, s in result.two_holders.items())
    rows = [("verdict", "met" if result.ok else "NOT met: " + "; ".join(result.problems
                                                                     + result.late)),
            ("detection (node1's first change)", ms(result.detection)),
            ("outage on the VIP", ms(result.outage)),
            ("node1's first change to the whole identity", ms(result.identity)),
            ("answered after takeover", " as ".join(result.taker[:2]) + f" ({result.taker[2]})"
             if result.taker else "-"),
            ("failback outage", ms(result.failback_outage)),
            ("other VIP's longest gap", ms(result.other_outage)),
            ("two holders (sampled)", two or "-"),
            ("node1 itself again", "yes" if result.restored else "no")]
    if result.after_heal_outage is not None:
        rows.append(("longest gap after the heal", ms(result.after_heal_outage)))
    if result.fenced:
        rows.append(("fenced", "yes: the primary was powered off by the STONITH device"))
    rows += [("note", note) for note in result.notes]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return f'<table class="fig">{cells}</table>'


def render(results: Iterable[DrillResult], probes: list[timeline.Probe], *,
           title: str, summary: str) -> str:
    legend = " ".join(f'<span style="color:{c}">&#9632; {n}</span>' for n, c in COLOURS.items())
    sections = []
    for result in results:
        verdict = "met" if result.ok else "NOT met"
        sections.append(f'<h2 class="{"ok" if result.ok else "no"}">'
                        f"{html.escape(result.drill)} on {html.escape(result.primary)} "
                        f"({html.escape(result.system)}): {verdict}</h2>"
                        f"{_chart(result, probes)}{_figures(result)}")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}
h2.ok{{color:#2a7a2a}} h2.no{{color:#b22222}}
table.fig th{{text-align:left;padding-right:1em;font-weight:normal;color:#555;white-space:nowrap;vertical-align:top}}
pre{{background:#f6f6f6;padding:1em;overflow-x:auto}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>The client probes each VIP every 10 ms; runs of identical answers are drawn as one span,
coloured by the node that answered ({legend} <span style="color:{LOST}">&#9632; no
answer</span>; pale: node1 answering without the whole identity). The "held by" rows are
the 10 ms samples of every node's addresses (<span style="color:{TWO}">&#9632; configured on
two nodes</span>; a powered-off or crashed node keeps its addresses configured but answers
nothing, so red there is no conflict). Times are in ms from the failure; hover a span for
its figures.</p>
<pre>{html.escape(summary)}</pre>
{''.join(sections)}
</body></html>
"""
