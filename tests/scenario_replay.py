"""vaxel on a real Asterisk (tests/fixtures/asterisk/vaxel-on-asterisk), played again against the
fake PBX.

Those recordings are an administrator's AMI session that read every event while vaxel (at the
commit they name) drove Asterisk through its own session: vaxel's actions are not in them. They
are rebuilt here from what Asterisk reported about each one, at the time it reported it:

- an AGI command: its AGIExecStart (channel and command) and the AsyncAGIExec that answered it
  (vaxel's CommandID);
- an Originate of an agent leg: the Newchannel of `Local/<agent>@vaxel-agents-...;1` (its Uniqueid
  is the ChannelId vaxel chose), the caller it was for from vaxel's log (the i-th OfferCall), its
  caller ID from the leg's NewCallerid, its ActionID from the OriginateResponse;
- a Setvar: the VarSet it caused (VAXEL_PLACE);
- the lease renewals, which leave no event: Setvar TIMEOUT(absolute) every third of the 30 s lease
  for each caller in AGI, as vaxel's lease keeper sent them.

The phones do what the probe typed into pjsua, as in the other replays. The fake's events on the
administrator's session are then compared with Asterisk's, per channel (tests/replay.py).

Compared as for the other replays, but for the HangupRequests of a Local pair: Asterisk orders
them by race (s1 and s9d show both orders after the same swap), see `is_race`.
"""

from __future__ import annotations

import re
from pathlib import Path

from telephony.ami_codec import Message
from telephony.fakepbx import AmiUser, Dialplan
from telephony.trace import read_bytes, read_lines

from .recordings import RECORDINGS
from .replay import Recorded, Replay

VAXEL_ON_ASTERISK = RECORDINGS / "vaxel-on-asterisk"
ETC = VAXEL_ON_ASTERISK / "etc"
LEASE = 30.0
_AGENT_LEG = re.compile(r"^Local/([a-z0-9._-]+)@vaxel-agents-[0-9a-f]{8};1$")
_OFFER = re.compile(r"router: OfferCall\(call_id='([^']+)'")
BEFORE = 0.0005  # an action goes out this long before what Asterisk reports of it


def is_race(channel: str, event: str) -> bool:
    """Events whose place the recordings show to be a race inside Asterisk."""
    return event == "HangupRequest" and channel.startswith("Local/")


def messages(path: Path) -> list[Recorded]:
    """The line trace's messages, per connection and direction."""
    out: list[Recorded] = []
    current: dict[tuple[str, bool], tuple[float, list[tuple[str, str]]]] = {}
    for line in read_lines(path):
        key = (line.conn, line.received)
        if line.text == "":
            if key in current and current[key][1]:
                t, headers = current.pop(key)
                out.append(Recorded(t, line.conn, line.received, Message.of(headers)))
            continue
        if ": " not in line.text and not line.text.endswith(":"):
            continue  # the banner
        k, _, v = line.text.partition(":")
        t, headers = current.setdefault(key, (line.t, []))
        headers.append((k, v.removeprefix(" ")))
    return sorted(out, key=lambda r: r.t)


def vaxels_actions(received: list[Recorded], controller_log: str, conn: str) -> list[Recorded]:
    """What vaxel sent, rebuilt from what Asterisk reported (see the module's docstring)."""
    events = [r for r in received if r.received and r.msg.event]
    by_uid = {r.msg.get("Uniqueid"): r.msg.get("Channel", "") for r in events
              if r.msg.event == "Newchannel"}
    offers = [by_uid.get(call_id.removeprefix("vx-"), "")
              for call_id in _OFFER.findall(controller_log)]
    ids = iter(range(1, 10**6))
    out: list[Recorded] = []

    def action(t: float, *headers: tuple[str, str]) -> None:
        out.append(Recorded(t - BEFORE, conn, False, Message.of(
            [("Action", headers[0][1]), ("ActionID", f"vaxel-{next(ids)}"), *headers[1:]])))

    for i, r in enumerate(events):
        m = r.msg
        if m.event == "AGIExecStart":
            reply = next((e.msg for e in events[i:] if e.msg.event == "AsyncAGIExec"
                          and e.msg.get("Channel") == m.get("Channel")), None)
            if reply is not None:
                action(r.t, ("Action", "AGI"), ("Channel", m["Channel"]),
                       ("Command", m.get("Command", "")), ("CommandID", reply["CommandId"]))
        elif m.event == "Newchannel" and (leg := _AGENT_LEG.match(m.get("Channel", ""))):
            uid = m["Uniqueid"]
            caller = offers.pop(0) if offers else ""
            cid = next((e.msg for e in events[i:] if e.msg.event == "NewCallerid"
                        and e.msg.get("Channel") == m["Channel"]), None)
            response = next((e.msg for e in events[i:] if e.msg.event == "OriginateResponse"
                             and e.msg.get("Uniqueid") == uid), None)
            caller_id = f"{cid['CallerIDName']} <{cid['CallerIDNum']}>" if cid else ""
            action(r.t, ("Action", "Originate"),
                   ("Channel", f"Local/{leg.group(1)}@vaxel-agents"), ("Application", "Bridge"),
                   ("Data", caller), ("Async", "true"), ("ChannelId", uid),
                   ("Timeout", "20000"), ("CallerID", caller_id))
            if response is not None and response.action_id:
                out[-1] = Recorded(out[-1].t, conn, False, Message.of(
                    [(k, response.action_id if k == "ActionID" else v)
                     for k, v in out[-1].msg.headers]))
        elif m.event == "VarSet" and m.get("Variable") == "VAXEL_PLACE":
            action(r.t, ("Action", "Setvar"), ("Channel", m["Channel"]),
                   ("Variable", "VAXEL_PLACE"), ("Value", m.get("Value", "")))
    out += _lease_renewals(events, conn)
    return out


def _lease_renewals(events: list[Recorded], conn: str) -> list[Recorded]:
    """Every third of a lease, a Setvar for each caller idle in AGI (no event shows them)."""
    out = []
    for start in (r for r in events if r.msg.event == "AsyncAGIStart"
                  and r.msg.get("Context") == "vaxel-inbound"):
        channel = start.msg["Channel"]
        end = next((r.t for r in events if r.t > start.t and r.msg.get("Channel") == channel
                    and r.msg.event in ("AsyncAGIEnd", "Hangup", "BridgeEnter")), start.t)
        t = start.t + LEASE / 3
        n = 0
        while t < end:
            n += 1
            out.append(Recorded(t, conn, False, Message.of([
                ("Action", "Setvar"), ("ActionID", f"lease-{channel}-{n}"),
                ("Channel", channel), ("Variable", "TIMEOUT(absolute)"),
                ("Value", str(int(LEASE)))])))
            t += LEASE / 3
    return out


def dialplan() -> Dialplan:
    """The recorded extensions.conf with its #include of vaxel's rendering put in."""
    text = (ETC / "extensions.conf").read_text(encoding="utf-8")
    vaxel = (ETC / "extensions_vaxel.conf").read_text(encoding="utf-8")
    return Dialplan.parse(text.replace("#include extensions_vaxel.conf", vaxel))


def scenario(name: str) -> Replay:
    folder = VAXEL_ON_ASTERISK / name
    trace = folder / "ami.trace.gz"
    received = messages(trace)
    conn = received[0].conn
    records = sorted(received + vaxels_actions(
        received, (folder / "controller.log").read_text(encoding="utf-8"), conn),
        key=lambda r: r.t)
    text = read_bytes(trace).decode("utf-8", errors="replace")
    # which way each Local pair was optimized away is a race on Asterisk: as recorded
    swaps = ["caller_in" if r.msg["SwapUniqueid"].endswith(";2") else "agent_in"
             for r in received if r.msg.event == "BridgeEnter" and "SwapUniqueid" in r.msg]
    # and who won when an Originate and the Dial in its leg timed out together
    timeouts = ["dial" if r.msg["DialStatus"] == "NOANSWER" else "originate"
                for r in received if r.msg.event == "DialEnd"
                and r.msg.get("Channel", "").startswith("Local/")
                and r.msg.get("DialStatus") in ("NOANSWER", "CANCEL")]
    return Replay(name, time_scale=1.0, dialplan=dialplan(), records=records, local_swaps=swaps,
                  local_timeouts=timeouts,
                  trace_text=text, pjsip_conf=ETC / "pjsip.conf",
                  users={"e2e": AmiUser("vx-e2e-admin")},
                  sounds=Path(__file__).resolve().parent.parent / "sounds")
