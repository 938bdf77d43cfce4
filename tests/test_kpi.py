"""The KPIs (queues/kpi.py, docs/kpi.md) on a hand-computed day: every outcome, short abandons,
the partner, and a caller moved between groups who keeps their arrival."""

from __future__ import annotations

import pytest

from controller import events as ev
from queues.kpi import CallRecord, Outcome, StateSpan, WrapUp, by, figures
from store.calllog import CallLog, Rows, record

T0 = 1_800_000_000.0


def call(n: int, outcome: Outcome, *, offered: bool = True, waited: float | None = None,
         abandoned_in: str | None = None, group: str = "bygglov") -> CallRecord:
    return CallRecord(call_id=f"c{n}", arrived=T0 + n * 60, number="0101234500",
                      outcome=outcome, group=group, offered=offered, waited=waited,
                      threshold=60.0, abandoned_in=abandoned_in)


A, AB = Outcome.ANSWERED, Outcome.ABANDONED
DAY = [
    call(1, A, waited=30), call(2, A, waited=90), call(3, A, waited=150),
    call(4, AB, waited=3, abandoned_in="waiting"),  # short: a wrong number
    call(5, AB, waited=40, abandoned_in="offered"),
    call(6, AB, waited=200, abandoned_in="waiting"),
    call(7, Outcome.OVERFLOWED, waited=130), call(8, Outcome.PARTNER_ANSWERED, waited=125),
    call(9, Outcome.REFUSED), call(10, Outcome.CLOSED),
    call(11, Outcome.CLOSED, offered=False, group=""),  # the number was closed
    call(12, Outcome.RESOLVED_IN_IVR, offered=False, group=""),
    call(13, AB, offered=False, abandoned_in="ivr", group=""),
    call(14, Outcome.UNFINISHED, waited=None),
]
WRAP_UPS = [WrapUp("c1", "anna", T0, "rosa1", True), WrapUp("c2", "anna", T0, "rosa2", False),
            WrapUp("c3", "anna", T0, "forwarded", False, "Bygglovsenheten")]
SPANS = [StateSpan("anna", "ready", 0, 100), StateSpan("anna", "busy", 100, 200),
         StateSpan("anna", "wrap_up", 200, 230), StateSpan("anna", "paused", 230, 300, "lunch")]


def test_a_hand_computed_day() -> None:
    f = figures(DAY, WRAP_UPS, SPANS)
    assert (f.calls, f.offered, f.short_abandoned, f.counted) == (14, 11, 1, 10)
    assert (f.answered, f.answered_in_threshold, f.answered_in_goal) == (3, 1, 2)
    assert (f.abandoned, f.abandoned_in_threshold, f.abandoned_in_ivr) == (3, 1, 1)
    assert (f.overflowed, f.partner_answered, f.refused, f.closed) == (2, 1, 1, 2)
    assert (f.resolved_in_ivr, f.unfinished) == (1, 1)
    assert f.service_level == pytest.approx(1 / 3)
    assert f.goal == pytest.approx(2 / 10)  # answered within 2 min / offered, short out
    assert f.sl2 == pytest.approx((1 + 1) / (3 + 2))
    assert f.asa == pytest.approx(90.0)
    assert f.abandon_rate == pytest.approx(2 / 10)
    assert f.overflow_rate == pytest.approx(2 / 10)
    assert f.partner_share == pytest.approx(1 / 2)
    assert f.availability == pytest.approx((3 + 1 + 1) / 13)
    assert f.first_contact_resolution == pytest.approx(1 / 3)
    assert f.forwarded_rate == pytest.approx(1 / 3)
    assert f.occupancy == pytest.approx(130 / 300)


def test_a_short_abandon_threshold_of_the_configuration() -> None:
    f = figures(DAY, short_abandon=45.0)  # 3 s and 40 s are both short now
    assert (f.short_abandoned, f.abandoned_in_threshold, f.counted) == (2, 0, 9)
    assert f.sl2 == pytest.approx(1 / 4)


def test_no_calls_give_no_ratios_rather_than_zero() -> None:
    f = figures([])
    assert all(v is None for v in f.ratios().values())


def test_grouped_by_a_key_in_the_order_first_seen() -> None:
    groups = by(DAY, lambda c: c.outcome)
    assert list(groups)[:3] == [A, AB, Outcome.OVERFLOWED]
    assert [c.call_id for c in groups[A]] == ["c1", "c2", "c3"]


def test_a_caller_moved_between_groups_keeps_their_arrival() -> None:
    """In line for bygglov at T0, moved to växeln by an overflow rule, answered there 150 s
    after the first arrival: one call, counted in växeln's figures with the whole wait."""
    c = {"call_id": "c1", "version": 1}
    events = [
        ev.CallArrived(at=T0 - 10, **c, number="0101234500", caller="0701234567"),
        ev.IvrDone(at=T0, **c, outcome="group", target="bygglov", language="sv", keys="21"),
        ev.Queued(at=T0, **c, group="bygglov", position=1, arrival=T0),
        ev.Overflowed(at=T0 + 90, **c, group="bygglov", target="vaxeln", rule="waited 90 s"),
        ev.Offered(at=T0 + 145, **c, group="vaxeln", agent="anna"),
        ev.Connected(at=T0 + 150, **c, group="vaxeln", agent="anna", waited=150.0,
                     threshold=120.0),
        ev.CallEnded(at=T0 + 300, **c, group="vaxeln", hung_up_by="agent", phase="connected",
                     agent="anna"),
    ]
    log, rows = CallLog("r"), Rows()
    for e in events:
        log.add(e, rows)
    [row] = rows.tables["calls"]
    assert (row["first_group"], row["group_id"], row["queued_at"]) == ("bygglov", "vaxeln", T0)
    rec = record(row, 60.0)
    f = figures([rec])
    assert (rec.group, rec.waited, f.answered, f.answered_in_threshold, f.answered_in_goal) \
        == ("vaxeln", 150.0, 1, 0, 0)


def test_every_ending_of_a_call_has_its_outcome() -> None:
    """The call log's fold: the events of each kind of ending give the outcome counted."""
    def outcome(*tail: ev.CallEvent, queued: bool = True) -> tuple[str, str | None]:
        c = {"call_id": "c", "version": 1}
        head: list[ev.Event] = [ev.CallArrived(at=T0, **c, number="1", caller="2")]
        if queued:
            head.append(ev.Queued(at=T0, **c, group="g", position=1, arrival=T0))
        log, rows = CallLog("r"), Rows()
        for e in [*head, *tail]:
            log.add(e, rows)
        row = rows.tables["calls"][0]
        return row["outcome"], row["abandoned_in"]

    g = {"call_id": "c", "version": 1, "group": "g"}
    end = ev.CallEnded(at=T0 + 9, **g, hung_up_by="caller", phase="waiting")
    to_partner = ev.Overflowed(at=T0 + 5, **g, target="partner", rule="r")
    assert outcome(ev.Abandoned(at=T0 + 9, **g, phase="waiting", waited=9.0), end) \
        == ("abandoned", "waiting")
    assert outcome(to_partner, ev.PartnerResult(at=T0 + 7, **g, status="ANSWER",
                                                answered=True), end) == ("partner_answered",
                                                                         None)
    assert outcome(to_partner, end) == ("overflowed", None)  # hung up at the partner's
    assert outcome(ev.Refused(at=T0 + 1, **g, why="group closed", prompt="stangt"), end) \
        == ("closed", None)
    assert outcome(ev.Refused(at=T0 + 1, **g, why="line full (5 waiting)", prompt=None), end) \
        == ("refused", None)
    assert outcome(ev.LeftLine(at=T0 + 3, **g, then="har-lamnat-kon"), end) \
        == ("abandoned", "left_line")
    ivr = {"call_id": "c", "version": 1}
    for chose, expected in (("message", "resolved_in_ivr"), ("closed", "closed"),
                            ("transfer", "transferred")):
        assert outcome(ev.IvrDone(at=T0 + 1, **ivr, outcome=chose, target="x", language="sv",
                                  keys="2"),
                       ev.CallEnded(at=T0 + 9, **ivr, hung_up_by="vaxel", phase="ivr"),
                       queued=False) == (expected, None)
    assert outcome(ev.CallEnded(at=T0 + 9, **ivr, hung_up_by="caller", phase="ivr"),
                   queued=False) == ("abandoned", "ivr")


def test_a_callback_from_the_line_leaves_the_goals_base_and_counts_by_its_own() -> None:
    from queues.kpi import CallbackRecord, callback_figures

    f = figures([*DAY, call(15, Outcome.CALLBACK, waited=None),  # asked for while waiting
                 call(16, Outcome.CALLBACK, offered=False, group="")])  # in the menu
    assert (f.callbacks, f.callbacks_from_line, f.offered, f.counted) == (2, 1, 12, 10)
    assert f.goal == pytest.approx(2 / 10)  # as without them
    hour = 3600.0
    requests = [
        CallbackRecord("r1", "g", T0, "reached", 1, T0 + 600, target=hour),  # in target
        CallbackRecord("r2", "g", T0, "reached", 3, T0 + 2 * hour, target=hour),  # late
        CallbackRecord("r3", "g", T0, "failed", 3),
        CallbackRecord("r4", "g", T0, "expired", 1),
        CallbackRecord("r5", "g", T0, "cancelled", 0),  # the citizen called again
        CallbackRecord("r6", "g", T0, None, 1),  # still pending
    ]
    cf = callback_figures(requests)
    assert (cf.requested, cf.reached, cf.reached_in_target, cf.failed, cf.expired,
            cf.cancelled, cf.pending, cf.decided) == (6, 2, 1, 1, 1, 1, 1, 4)
    assert cf.service_level == pytest.approx(1 / 4)
    assert cf.reached_share == pytest.approx(2 / 4)
    assert cf.attempts_per_request == pytest.approx((1 + 3 + 3 + 1) / 4)
    assert callback_figures([]).service_level is None
