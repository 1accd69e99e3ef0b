"""The lab report: spans on a time axis in ms, labelled markers, small, and it renders.

The drills here are synthetic (what a crash of node0 looks like to the client
and to the holders sampler), so the page is checked without a lab; the last
test opens it in headless Chromium and looks for the drawn colours in the
screenshot.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from hbd_lab import report
from hbd_lab.holders import Span
from hbd_lab.scenario import VIPS, DrillResult
from hbd_lab.timeline import Probe

VIP1, HOST1, MAC1 = VIPS["node0"]
VIP2, HOST2, MAC2 = VIPS["node2"]
OWN1 = "00:1e:68:1e:19:5e"


def crash(t0: float, length: float = 4.0) -> tuple[DrillResult, list[Probe]]:
    """node0 crashes at t0; node1 answers at +0.95 s (own MAC for 50 ms), node0 is back
    at +2.55 s; vip2 on node2 throughout. 10 ms probes on both VIPs."""
    probes = []
    for i in range(int(length * 100)):
        t = t0 - 0.6 + i * 0.01
        rel = t - t0
        if rel < 0 or rel >= 2.55:
            who = ("node0", HOST1, MAC1)
        elif 0.95 <= rel < 1.0:
            who = ("node1", "node1", OWN1)
        elif 1.0 <= rel < 2.5:
            who = ("node1", HOST1, MAC1)
        else:
            who = None
        probes.append(Probe(t, VIP1, who is not None, *(who or (None, None, None))))
        probes.append(Probe(t + 0.001, VIP2, True, "node2", HOST2, MAC2))
    result = DrillResult("crash", "node0", "hbd", t_fail=t0, t_taken=t0 + 0.95,
                         t_whole=t0 + 1.0, t_recover=t0 + 2.0, t_back=t0 + 2.55,
                         t_end=t0 + 3.4, detection=0.9, outage=0.95, failback_outage=0.05,
                         other_outage=0.01, taker=("node1", HOST1, MAC1), restored=True)
    result.holder_spans = {
        VIP1: [Span(t0 - 0.01, t0 + 0.9, ("node0",), 91),
               Span(t0 + 0.9, t0 + 2.3, ("node0", "node1"), 140),
               Span(t0 + 2.3, t0 + 2.5, ("node1",), 20), Span(t0 + 2.5, t0 + 3.4, ("node0",), 90)],
        VIP2: [Span(t0 - 0.01, t0 + 3.4, ("node2",), 341)]}
    return result, probes


def test_identical_probes_are_merged_into_spans():
    result, probes = crash(100.0)
    spans = report.probe_spans([p for p in probes if p.target == VIP1], 99.5, 103.4)
    assert [(round(a - 100, 2), p.node, p.mac, n) for a, _, p, n in spans] == [
        (-0.5, "node0", MAC1, 50), (0.0, None, None, 95), (0.95, "node1", OWN1, 5),
        (1.0, "node1", MAC1, 150), (2.5, None, None, 5), (2.55, "node0", MAC1, 85)]
    # each span lasts until the next one starts: the axis is tiled without holes
    assert all(b == c for (_, b, _, _), (c, _, _, _) in zip(spans, spans[1:], strict=False))


def test_a_chart_has_a_ms_axis_labelled_markers_and_few_shapes():
    result, probes = crash(100.0)
    page = report.render([result], probes, title="t", summary="s")
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert svg.count("<rect") < 20
    ticks = re.findall(r'text-anchor="middle">(-?\d+)</text>', svg)
    assert ticks[:3] == ["-500", "0", "500"] and "3500" in ticks
    assert "ms after failure" in svg
    for label in ("kernel crash +0 ms", "node1 acts +900 ms", "taker answers +950 ms",
                  "whole identity +1000 ms", "reboot +2000 ms", "back home +2550 ms"):
        assert label in svg
    assert "node1 as node1 (00:1e:68:1e:19:5e), +950 ms to +1000 ms (50 ms, 5 probes)" in svg
    assert f'fill="{report.TWO}"><title>node0 + node1, +900 ms to +2300 ms' in svg


def test_a_demo_sized_report_stays_under_200_kb():
    results, probes = [], []
    for i in range(17):                       # the demo's drills, ten seconds each
        result, mine = crash(100.0 + 20 * i, length=10.0)
        results.append(result)
        probes += mine
    page = report.render(results, probes, title="demo", summary="table\n" * 40)
    assert len(page.encode()) < 200_000


# --- rendered in a real browser -------------------------------------------------------------
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (scripts/bootstrap.sh installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def png_pixels(path: Path) -> tuple[int, int, set[tuple[int, int, int]]]:
    """(width, height, the set of RGB colours) of an 8-bit RGB/RGBA, non-interlaced PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, header = 8, b"", None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0
    bpp = 3 if colour == 2 else 4
    raw, stride, colours = zlib.decompress(idat), width * bpp, set()
    previous = bytearray(stride)
    for row in range(height):
        kind = raw[row * (stride + 1)]
        line = bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else
                                      up if pb <= pc else corner)) & 0xFF
        colours.update(tuple(line[i:i + 3]) for i in range(0, stride, bpp))
        previous = line
    return width, height, colours


def test_the_report_renders_in_headless_chromium(tmp_path):
    browser = chromium()
    result, probes = crash(100.0)
    page = tmp_path / "report.html"
    page.write_text(report.render([result], probes, title="hbd lab demo", summary="table"))
    shot = tmp_path / "shot.png"
    run = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                          "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                          "--window-size=1000,700", f"--screenshot={shot}", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    width, height, colours = png_pixels(shot)
    assert (width, height) == (1000, 700)
    drawn = {tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))
             for c in (*report.COLOURS.values(), report.TWO, report.LOST)}
    assert drawn <= colours, f"missing: {drawn - colours}"
