"""The report's plots as inline SVG: bars, bars against a goal line, a curve. Each is a `Chart`,
its picture and the numbers it shows; the page puts the numbers in a table beside the picture,
which is what a screen reader reads (the picture is labelled and summarised).

Hand-drawn rather than a plotting library: four kinds of simple chart, in a file that must open
anywhere with nothing fetched, and whose text a test can read; matplotlib would bring NumPy,
Pillow and fonts for that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

W, H = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 28, 40
BAR = "#1f5fa8"  # 6.4:1 on white (WCAG non-text contrast asks for 3:1)
GOAL = "#a4161a"
AIM = "#2b7a0b"


@dataclass(frozen=True)
class Chart:
    title: str
    svg: Markup
    rows: tuple[tuple[str, str], ...]  # (label, value) as the table shows them
    summary: str


def _frame(title: str, body: list[str], summary: str) -> Markup:
    tid = "c" + hashlib.sha1(title.encode()).hexdigest()[:8]  # a page's titles differ
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="{tid}t {tid}d" class="chart">'
        f'<title id="{tid}t">{escape(title)}</title><desc id="{tid}d">{escape(summary)}</desc>'
        + "".join(body) + "</svg>")


def _axis(top: float, label: str) -> list[str]:
    y0, x0 = H - BOTTOM, LEFT
    return [f'<line x1="{x0}" y1="{y0}" x2="{W - RIGHT}" y2="{y0}" stroke="#333"/>',
            f'<line x1="{x0}" y1="{TOP}" x2="{x0}" y2="{y0}" stroke="#333"/>',
            f'<text x="{x0 - 6}" y="{TOP + 4}" text-anchor="end" font-size="11">'
            f'{escape(label)}</text>',
            f'<text x="{x0 - 6}" y="{y0}" text-anchor="end" font-size="11">0</text>']


def _bars(values: Sequence[tuple[str, float]], top: float, every: int = 1) -> list[str]:
    out: list[str] = []
    n = max(len(values), 1)
    step = (W - LEFT - RIGHT) / n
    for i, (label, v) in enumerate(values):
        h = 0.0 if top <= 0 else (H - TOP - BOTTOM) * min(v / top, 1.0)
        x = LEFT + i * step + step * 0.15
        out.append(f'<rect class="bar" x="{x:.1f}" y="{H - BOTTOM - h:.1f}" '
                   f'width="{step * 0.7:.1f}" height="{h:.1f}" fill="{BAR}"/>')
        if i % every == 0:
            out.append(f'<text x="{x + step * 0.35:.1f}" y="{H - BOTTOM + 14}" '
                       f'text-anchor="middle" font-size="11">{escape(label)}</text>')
    return out


def bars(values: Mapping[str, float], title: str) -> Chart:
    items = [(str(k), float(v)) for k, v in values.items()]
    top = max((v for _, v in items), default=0.0)
    body = _axis(top, f"{top:g}") + _bars(items, top, every=max(1, len(items) // 16))
    summary = ", ".join(f"{k}: {v:g}" for k, v in items) or "inga samtal"
    return Chart(title, _frame(title, body, summary),
                 tuple((k, f"{v:g}") for k, v in items), summary)


def hourly_bars(values: Mapping[int, float | None], title: str, goal: float,
                aim: float) -> Chart:
    """Shares (0-1) per hour of the day, with the goal and the aim as lines across."""
    hours = sorted(values)
    items = [(f"{h:02d}", values[h] or 0.0) for h in hours]
    body = _axis(1.0, "100 %") + _bars(items, 1.0)
    for share, colour, cls, word in ((goal, GOAL, "goal-line", "mål"),
                                     (aim, AIM, "aim-line", "ambition")):
        y = H - BOTTOM - (H - TOP - BOTTOM) * share
        body.append(f'<line class="{cls}" data-share="{share:g}" x1="{LEFT}" y1="{y:.1f}" '
                    f'x2="{W - RIGHT}" y2="{y:.1f}" stroke="{colour}" stroke-width="2" '
                    f'stroke-dasharray="6 4"/>')
        body.append(f'<text x="{W - RIGHT}" y="{y - 4:.1f}" text-anchor="end" font-size="11" '
                    f'fill="{colour}">{word} {100 * share:.0f} %</text>')
    rows = tuple((f"{h:02d}–{h + 1:02d}", "–" if values[h] is None
                  else f"{100 * (values[h] or 0):.1f} %") for h in hours)
    summary = (f"mål {100 * goal:.0f} %, ambition {100 * aim:.0f} %; "
               + ", ".join(f"kl {label}: {v}" for label, v in rows))
    return Chart(title, _frame(title, body, summary), rows, summary)


def curve(points: Sequence[tuple[float, float]], title: str) -> Chart:
    """A rising step curve: share (0-1) by seconds."""
    right = max((x for x, _ in points), default=1.0) or 1.0
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    path = [f"M{LEFT},{H - BOTTOM}"]
    for x, share in points:
        px = LEFT + plot_w * x / right
        path.append(f"H{px:.1f}V{H - BOTTOM - plot_h * share:.1f}")
    body = [*_axis(1.0, "100 %"),
            f'<path class="curve" d="{"".join(path)}" fill="none" stroke="{BAR}" '
            'stroke-width="2"/>',
            f'<text x="{W - RIGHT}" y="{H - BOTTOM + 14}" text-anchor="end" font-size="11">'
            f'{right:.0f} s</text>']
    marks = [q for q in (0.25, 0.5, 0.75, 1.0) if points]
    rows = tuple((f"{100 * q:.0f} % efter", f"{_at_share(points, q):.0f} s")
                 for q in marks)
    summary = ("; ".join(f"{a} {b}" for a, b in rows) + " hade lagt på") if rows \
        else "inga avbrutna samtal"
    return Chart(title, _frame(title, body, summary), rows, summary)


def _at_share(points: Sequence[tuple[float, float]], q: float) -> float:
    for x, share in points:
        if share >= q:
            return x
    return points[-1][0]
