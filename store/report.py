"""Reports from the call log: the municipal goals over a period, for the whole centre or one
group, as text, CSV or one self-contained HTML file with its plots (docs/kpi.md).

`load()` reads a period's calls, wrap-ups and agents' spans from the database, a day at a time
(a progress callback per day); `build()` folds them into a `Report` by hour, day, week, month,
group, entry number, IVR choice and agent - pure, in the centre's time zone; `text()`, `csv()`
and `html()` write it. A baseline (nollmätning) is the same figures for one function before it
moves into the contact centre; `compare()` sets two periods side by side.
"""

from __future__ import annotations

import csv as csvlib
import datetime as dt
import io
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import or_

from queues.kpi import (
    COUNTS,
    RATIOS,
    CallbackFigures,
    CallbackRecord,
    CallRecord,
    Figures,
    StateSpan,
    WrapUp,
    by,
    callback_figures,
    figures,
)
from store import charts, schema
from store.calllog import record
from store.database import Database

WAIT_BINS = ((0, 30), (30, 60), (60, 120), (120, 180), (180, 300), (300, 600), (600, None))


@dataclass(frozen=True)
class Goals:
    """The targets a report measures against (the configuration's goals:)."""

    answered_within: float = 120.0
    answered_target: float = 0.70
    answered_aim: float = 0.80
    first_contact_target: float = 0.50
    first_contact_aim: float = 0.70
    short_abandon: float = 5.0


@dataclass
class Period:
    start: dt.date
    end: dt.date  # inclusive
    tz: zoneinfo.ZoneInfo

    def bounds(self) -> tuple[float, float]:
        """Seconds since the epoch: from the first day's midnight to the day after the last."""
        first = dt.datetime.combine(self.start, dt.time(), self.tz)
        after = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), self.tz)
        return first.timestamp(), after.timestamp()

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d} – {self.end:%Y-%m-%d}"


@dataclass
class Loaded:
    calls: list[CallRecord] = field(default_factory=list)
    wrap_ups: list[WrapUp] = field(default_factory=list)
    spans: list[StateSpan] = field(default_factory=list)
    callbacks: list[CallbackRecord] = field(default_factory=list)
    transfers: list[tuple[str, bool | None]] = field(default_factory=list)  # to whom, reached


async def load(db: Database, period: Period, group: str | None = None, *,
               threshold: float = 120.0,
               progress: Callable[[int], None] | None = None) -> Loaded:
    """The period's calls (by arrival), their wrap-ups, and the agents' spans clipped to it."""
    out = Loaded()
    c, w, a = schema.calls, schema.wrap_ups, schema.agent_states
    for day in period.days():
        start, end = Period(day, day, period.tz).bounds()
        where = [c.c.arrived_at >= start, c.c.arrived_at < end]
        if group is not None:
            where.append(c.c.group_id == group)
        rows = await db.rows(c, *where, order=[c.c.arrived_at])
        out.calls.extend(record(r, threshold) for r in rows)
        ids = {r["call_id"] for r in rows}
        for r in await db.rows(w, w.c.at >= start, w.c.at < end, order=[w.c.at]):
            if group is None or r["call_id"] in ids:
                out.wrap_ups.append(WrapUp(r["call_id"], r["agent"], r["at"], r["reason"],
                                           bool(r["resolved"]), r["department"]))
        if group is None:
            for r in await db.rows(a, a.c.start_at < end,
                                   or_(a.c.end_at.is_(None), a.c.end_at > start),
                                   order=[a.c.start_at]):
                if r["end_at"] is None:
                    continue  # still open: its length is not known yet
                out.spans.append(StateSpan(r["agent"], r["state"], max(r["start_at"], start),
                                           min(r["end_at"], end), r["reason"]))
        cb = schema.callbacks
        where = [cb.c.requested_at >= start, cb.c.requested_at < end]
        if group is not None:
            where.append(cb.c.group_id == group)
        out.callbacks.extend(
            CallbackRecord(r["call_id"], r["group_id"], r["requested_at"], r["outcome"],
                           r["attempts"], r["reached_at"], r["target"])
            for r in await db.rows(cb, *where, order=[cb.c.requested_at]))
        e = schema.events
        started: dict[str, str] = {}
        for r in await db.rows(e, e.c.at >= start, e.c.at < end,
                               e.c.kind.in_(("TransferStarted", "Transferred")),
                               order=[e.c.id]):
            if group is not None and r["group_id"] != group:
                continue
            data = r["data"]
            if r["kind"] == "TransferStarted":
                started[r["call_id"]] = data.get("department") or data.get("target") or "?"
            elif r["call_id"] in started:  # each transfer once, with whether it was reached
                out.transfers.append((started.pop(r["call_id"]), bool(data.get("answered"))))
        out.transfers.extend((to, None) for to in started.values())
        if progress is not None:
            progress(1)
    return out


@dataclass
class AgentLine:
    answered: int = 0
    talk: float = 0.0
    logged_in: float = 0.0
    working: float = 0.0
    paused: float = 0.0
    wrap_ups: int = 0
    resolved: int = 0


@dataclass
class Report:
    title: str
    period: Period
    group: str | None
    goals: Goals
    total: Figures
    hours: dict[int, Figures]  # the hour of the day, in the centre's time zone
    days: dict[dt.date, Figures]
    weekdays: dict[int, Figures]  # 0 Monday
    weeks: dict[str, Figures]
    months: dict[str, Figures]
    groups: dict[str, Figures]
    numbers: dict[str, Figures]
    choices: dict[str, Figures]
    departments: dict[str, int]  # forwarded to
    agents: dict[str, AgentLine]
    choice_names: dict[str, str]  # keys -> where they led ("21" -> "bygglov")
    pauses: dict[str, float]  # seconds per pause reason
    wait_bins: list[tuple[str, int]]
    abandon_curve: list[tuple[float, float]]  # (seconds waited, share of abandons by then)
    callbacks: CallbackFigures = field(default_factory=CallbackFigures)  # made in the period
    callback_groups: dict[str, CallbackFigures] = field(default_factory=dict)
    # callers sent on (menus' options, duty lines, agents' transfers), by department or number:
    # (sent, reached)
    transfers: dict[str, tuple[int, int]] = field(default_factory=dict)
    baseline: bool = False


def build(data: Loaded, period: Period, goals: Goals = Goals(), group: str | None = None,
          title: str | None = None, baseline: bool = False) -> Report:
    tz = period.tz

    def local(t: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(t, tz)

    def fig(calls: Iterable[CallRecord], wraps: Iterable[WrapUp] = (),
            spans: Iterable[StateSpan] = ()) -> Figures:
        return figures(calls, wraps, spans, short_abandon=goals.short_abandon,
                       goal_seconds=goals.answered_within)

    calls = data.calls

    def split(key: Callable[[dt.datetime], Any]) -> dict[Any, Figures]:
        grouped = by(calls, lambda c: key(local(c.arrived)))
        wraps = by(data.wrap_ups, lambda w: key(local(w.at)))
        spans = by(data.spans, lambda s: key(local(s.start)))
        return {k: fig(v, wraps.get(k, ()), spans.get(k, ()))
                for k, v in sorted(grouped.items())}

    def split_calls(key: Callable[[CallRecord], str]) -> dict[str, Figures]:
        of_call = {c.call_id: key(c) for c in calls}  # a wrap-up counts where its call does
        wraps = by(data.wrap_ups, lambda w: of_call.get(w.call_id, ""))
        return {k: fig(v, wraps.get(k, ())) for k, v in sorted(by(calls, key).items())}

    agents: dict[str, AgentLine] = defaultdict(AgentLine)
    pauses: dict[str, float] = defaultdict(float)
    for c in calls:
        if c.agent and c.outcome.value == "answered":
            agents[c.agent].answered += 1
            agents[c.agent].talk += c.talk or 0.0
    for s in data.spans:
        line = agents[s.agent]
        if s.state != "logged_out":
            line.logged_in += s.seconds
        if s.state in ("ringing", "busy", "wrap_up"):
            line.working += s.seconds
        if s.state == "paused":
            line.paused += s.seconds
            pauses[s.reason or "(no reason)"] += s.seconds
    departments: dict[str, int] = defaultdict(int)
    for w in data.wrap_ups:
        agents[w.agent].wrap_ups += 1
        agents[w.agent].resolved += w.resolved
        if w.reason == "forwarded":
            departments[w.department or "(not named)"] += 1
    total = fig(calls, data.wrap_ups, data.spans)
    led: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in calls:  # where each choice led, most often (a group; else how the call ended)
        led[_choice(c)][c.first_group or c.outcome.value] += 1
    choice_names = {k: max(v.items(), key=lambda kv: kv[1])[0] for k, v in led.items()}
    what = "Nollmätning" if baseline else "Rapport"
    return Report(
        title=title or f"{what}: {group or 'hela kontaktcenter'}, {period}",
        period=period, group=group, goals=goals, total=total,
        hours=split(lambda t: t.hour), days=split(lambda t: t.date()),
        weekdays=split(lambda t: t.weekday()),
        weeks=split(lambda t: f"{t.isocalendar().year}-V{t.isocalendar().week:02d}"),
        months=split(lambda t: f"{t:%Y-%m}"),
        groups=split_calls(_group), numbers=split_calls(lambda c: c.number),
        choices=split_calls(_choice),
        departments=dict(sorted(departments.items(), key=lambda kv: -kv[1])),
        agents=dict(sorted(agents.items())), choice_names=choice_names,
        pauses=dict(sorted(pauses.items())),
        wait_bins=_wait_bins(total.waits), abandon_curve=_abandon_curve(total.abandon_waits),
        callbacks=callback_figures(data.callbacks),
        callback_groups={g: callback_figures(v) for g, v in sorted(
            by(data.callbacks, lambda r: r.group).items())},
        transfers={to: (len(v), sum(1 for _, reached in v if reached)) for to, v in sorted(
            by(data.transfers, lambda t: t[0]).items(), key=lambda kv: -len(kv[1]))},
        baseline=baseline)


def _choice_label(report: Report, keys: str) -> str:
    name = report.choice_names.get(keys)
    return keys if name is None or name == keys else f"{keys} → {name}"


def _group(c: CallRecord) -> str:
    return c.group or "(no group)"


def _choice(c: CallRecord) -> str:
    return c.ivr_choice or "(none)"


def _wait_bins(waits: Iterable[float]) -> list[tuple[str, int]]:
    counts = [0] * len(WAIT_BINS)
    for w in waits:
        for i, (low, high) in enumerate(WAIT_BINS):
            if w >= low and (high is None or w < high):
                counts[i] += 1
                break
    return [(_bin_label(low, high), n) for (low, high), n in zip(WAIT_BINS, counts,
                                                                 strict=True)]


def _bin_label(low: int, high: int | None) -> str:
    def m(s: int) -> str:
        return f"{s // 60} min" if s % 60 == 0 and s >= 60 else f"{s} s"
    return f"{m(low)}+" if high is None else f"{m(low)}–{m(high)}"


def _abandon_curve(waits: Iterable[float]) -> list[tuple[float, float]]:
    ordered = sorted(waits)
    n = len(ordered)
    return [(w, (i + 1) / n) for i, w in enumerate(ordered)]


# ---- writing it ------------------------------------------------------------------------------

def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def secs(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f} s"


def hours_text(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


LABELS = {  # Swedish first: the readers are the municipality's
    "calls": "samtal", "offered": "erbjudna", "answered": "besvarade",
    "answered_in_threshold": "besvarade inom målet", "answered_in_goal": "besvarade inom 2 min",
    "abandoned": "avbrutna", "short_abandoned": "korta avbrott", "abandoned_in_ivr":
    "avbrutna i menyn", "overflowed": "till partnern", "partner_answered": "partnern besvarade",
    "refused": "avvisade", "closed": "stängt", "resolved_in_ivr": "lösta i menyn",
    "callbacks": "återuppringningar", "transferred": "kopplade vidare",
    "unfinished": "pågående", "wrap_ups": "efterarbeten",
    "resolved_first_contact": "lösta vid första kontakten",
    "forwarded": "till förvaltningen",
    "service_level": "servicenivå", "goal": "besvarade inom 2 min av erbjudna",
    "sl2": "SL2", "asa": "snittväntetid (ASA)", "abandon_rate": "avbrottsandel",
    "overflow_rate": "andel till partnern", "partner_share": "partnerns svarsandel",
    "first_contact_resolution": "lösta vid första kontakten",
    "forwarded_rate": "andel till förvaltningen", "availability": "tillgänglighet",
    "occupancy": "beläggning",
}
WEEKDAYS = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")


def ratio_text(name: str, value: float | None) -> str:
    return secs(value) if name == "asa" else pct(value)


def text(report: Report) -> str:
    t, g = report.total, report.goals
    lines = [report.title, "=" * len(report.title), ""]
    lines.append(f"Besvarade inom {g.answered_within / 60:.0f} min av erbjudna: {pct(t.goal)} "
                 f"(mål {pct(g.answered_target)}, ambition {pct(g.answered_aim)})"
                 + ("" if t.goal is None else
                    "  UPPNÅTT" if t.goal >= g.answered_target else "  EJ UPPNÅTT"))
    lines.append(f"Lösta vid första kontakten: {pct(t.first_contact_resolution)} "
                 f"(mål {pct(g.first_contact_target)}, ambition {pct(g.first_contact_aim)})")
    lines.append("")
    for name in COUNTS:
        lines.append(f"  {LABELS[name]:<32}{getattr(t, name):>8}")
    lines.append("")
    for name in RATIOS:
        lines.append(f"  {LABELS[name]:<32}{ratio_text(name, getattr(t, name)):>8}")

    def table(title: str, rows: dict[Any, Figures], label: Callable[[Any], str] = str) -> None:
        if not rows:
            return
        width = max(24, *(len(label(k)) + 1 for k in rows))
        lines.extend(["", title, f"  {'':<{width}}{'samtal':>7}{'besv.':>7}{'SL':>9}"
                     f"{'2 min':>9}{'ASA':>7}{'avbr.':>9}{'partner':>8}"])
        for key, f in rows.items():
            lines.append(f"  {label(key):<{width}}{f.calls:>7}{f.answered:>7}"
                         f"{pct(f.service_level):>9}{pct(f.goal):>9}{secs(f.asa):>7}"
                         f"{pct(f.abandon_rate):>9}{f.overflowed:>8}")

    for _, title, rows, label in _breakdowns(report):
        table(title, rows, label)
    if report.callbacks.requested:
        lines.extend(["", "Återuppringningar",
                      f"  {'':<24}{'begärda':>8}{'nådda':>7}{'inom mål':>10}{'misslyckade':>12}"
                      f"{'utgångna':>9}{'avbrutna':>9}{'försök/st':>10}"])
        for key, cf in {"totalt": report.callbacks, **report.callback_groups}.items():
            per = "–" if cf.attempts_per_request is None else f"{cf.attempts_per_request:.1f}"
            lines.append(f"  {key:<24}{cf.requested:>8}{cf.reached:>7}"
                         f"{pct(cf.service_level):>10}{cf.failed:>12}{cf.expired:>9}"
                         f"{cf.cancelled:>9}{per:>10}")
    if report.transfers:
        lines.extend(["", "Vidarekopplade (meny, jour, handläggare)",
                      f"  {'':<32}{'skickade':>9}{'nådde':>7}"])
        lines.extend(f"  {to:<32}{sent:>9}{reached:>7}"
                     for to, (sent, reached) in report.transfers.items())
    if report.departments:
        lines.extend(["", "Till förvaltningen"])
        lines.extend(f"  {d:<32}{n:>8}" for d, n in report.departments.items())
    if report.agents:
        lines.extend(["", "Per handläggare (för arbetsledaren)",
                      f"  {'':<20}{'besv.':>7}{'samtalstid':>12}{'inloggad':>10}"
                      f"{'beläggning':>11}{'paus':>8}"])
        for aid, a in report.agents.items():
            occ = pct(a.working / a.logged_in) if a.logged_in else "–"
            lines.append(f"  {aid:<20}{a.answered:>7}{hours_text(a.talk):>12}"
                         f"{hours_text(a.logged_in):>10}{occ:>11}{hours_text(a.paused):>8}")
    return "\n".join(lines) + "\n"


def csv(report: Report) -> str:
    """One row per breakdown and key, every count and ratio a column (a spreadsheet's)."""
    out = io.StringIO()
    w = csvlib.writer(out)
    w.writerow(["breakdown", "key", *COUNTS, *RATIOS])

    def rows(breakdown: str, items: dict[Any, Figures]) -> None:
        for key, f in items.items():
            w.writerow([breakdown, key, *(getattr(f, n) for n in COUNTS),
                        *("" if (v := getattr(f, n)) is None else f"{v:.4f}" for n in RATIOS)])

    rows("total", {"": report.total})
    rows("group", report.groups)
    rows("day", {f"{d:%Y-%m-%d}": f for d, f in report.days.items()})
    rows("hour", {f"{h:02d}": f for h, f in report.hours.items()})
    rows("weekday", {WEEKDAYS[d]: f for d, f in report.weekdays.items()})
    rows("week", report.weeks)
    rows("month", report.months)
    rows("number", report.numbers)
    rows("ivr_choice", report.choices)
    return out.getvalue()


_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True)


def html(report: Report, before: Report | None = None) -> str:
    """One file, nothing fetched: the styles inline, the plots as SVG with their numbers in a
    table beside them (a screen reader reads the table)."""
    t = report.total
    goals = report.goals
    plots = {
        "service_level": charts.hourly_bars(
            {h: f.goal for h, f in report.hours.items()},
            title="Besvarade inom 2 minuter per timme",
            goal=goals.answered_target, aim=goals.answered_aim),
        "choices": charts.bars({_choice_label(report, k): f.calls
                                for k, f in report.choices.items()},
                               title="Samtal per menyval"),
        "waits": charts.bars(dict(report.wait_bins), title="Väntetid för besvarade samtal"),
        "abandons": charts.curve(report.abandon_curve,
                                 title="Avbrutna samtal: andel som lagt på efter väntetid"),
        "partner": charts.bars({f"{h:02d}": f.partner_answered
                                for h, f in report.hours.items()},
                               title="Samtal som partnern besvarade per timme"),
    }
    tables = [(id_, title, [(label(k), f) for k, f in rows.items()])
              for id_, title, rows, label in _breakdowns(report) if rows]
    return _TEMPLATES.get_template("report.html.j2").render(
        r=report, t=t, before=before, plots=plots, counts=COUNTS, ratios=RATIOS,
        labels=LABELS, pct=pct, secs=secs, hours=hours_text, ratio_text=ratio_text,
        tables=tables, made=f"{dt.datetime.now(report.period.tz):%Y-%m-%d %H:%M}",
        callback_rows=[("Totalt", report.callbacks), *report.callback_groups.items()])


def _breakdowns(report: Report) -> list[tuple[str, str, dict[Any, Figures],
                                              Callable[[Any], str]]]:
    """The tables of a report, in the order it shows them: (id, title, rows, key as text)."""
    out: list[tuple[str, str, dict[Any, Figures], Callable[[Any], str]]] = [
        ("groups", "Per grupp", report.groups, str),
        ("days", "Per dag", report.days,
         lambda d: f"{d:%Y-%m-%d} {WEEKDAYS[d.weekday()]}"),
    ]
    if report.baseline or len(report.days) > 7:
        out.append(("weekdays", "Per veckodag", report.weekdays, lambda d: WEEKDAYS[d]))
    out.append(("hours", "Per timme", report.hours, lambda h: f"{h:02d}–{h + 1:02d}"))
    out.append(("numbers", "Per nummer", report.numbers, str))
    out.append(("choices", "Per menyval", report.choices, lambda k: _choice_label(report, k)))
    if len(report.weeks) > 1:
        out.append(("weeks", "Per vecka", report.weeks, str))
    if len(report.months) > 1:
        out.append(("months", "Per månad", report.months, str))
    return out


def compare(before: Report, after: Report) -> str:
    """Two periods side by side, in text: the before / after of a change."""
    lines = [f"Före: {before.title}", f"Efter: {after.title}", "",
             f"  {'':<36}{'före':>10}{'efter':>10}{'skillnad':>12}"]
    for name in COUNTS:
        a, b = getattr(before.total, name), getattr(after.total, name)
        lines.append(f"  {LABELS[name]:<36}{a:>10}{b:>10}{b - a:>+12}")
    for name in RATIOS:
        a, b = getattr(before.total, name), getattr(after.total, name)
        diff = "–" if a is None or b is None else (
            f"{b - a:+.0f} s" if name == "asa" else f"{100 * (b - a):+.1f} p.e.")
        lines.append(f"  {LABELS[name]:<36}{ratio_text(name, a):>10}{ratio_text(name, b):>10}"
                     f"{diff:>12}")
    return "\n".join(lines) + "\n"
