"""docs/asyncapi.yaml is what is published: made from the events, and real payloads of whole
calls (through the fake PBX, and off a real mosquitto in test_mqtt.py) validate against it."""

import json
from pathlib import Path

import jsonschema
import yaml

from controller import events as ev
from integrations.asyncapi import dump, event_classes
from integrations.payloads import encode, payload
from telephony.fakepbx.actors import Caller, Phone

from .world import World, run

DOC = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.yaml"


def schemas():
    return yaml.safe_load(DOC.read_text())["components"]["schemas"]


def validate(body, known=None):
    """Raises jsonschema.ValidationError unless `body` is its event's payload as documented."""
    known = known or schemas()
    jsonschema.validate(body, known[body["event"]])


def test_the_document_is_made_from_the_events_and_committed():
    assert DOC.read_text() == dump(), "run: python -m integrations.asyncapi > docs/asyncapi.yaml"
    doc = yaml.safe_load(DOC.read_text())
    names = {c.__name__ for c in event_classes()}
    assert names <= set(doc["components"]["schemas"])
    routed = {m for ch in doc["channels"].values() for m in ch["messages"]}
    assert names <= routed  # every event has a channel


def test_payloads_of_whole_calls_validate_against_the_document():
    async def main():
        async with World() as w:
            Phone("partner-trunk", busy=True).register(w.pbx)
            w.ctl.agent_login("anna")
            answered = Caller("2001", "0701112233", keys=((3.0, "1"),)).dial(w.pbx)
            # a second later than the first: in line behind it, not in a tie for anna
            gave_up = Caller("2002", "", keys=((4.0, "0"),), hangup_after=9.0).dial(w.pbx)
            await w.until(lambda: answered.hungup and gave_up.hungup and not w.ctl.calls)
            w.ctl.set_crisis(True)
            return list(w.events)

    seen = run(main())
    known = schemas()
    kinds = set()
    for seq, event in enumerate(seen, 1):
        for callers in ("full", "pseudonym", "none"):
            body = json.loads(encode(payload(event, "test", seq, callers, b"key")))
            validate(body, known)  # as it goes on the wire
        kinds.add(type(event).__name__)
    assert {"CallArrived", "IvrStep", "IvrDone", "Queued", "Offered", "Connected",
            "Abandoned", "CallEnded", "AgentChanged", "WrapUpStarted", "LinkUp",
            "CrisisSwitched"} <= kinds


def test_a_payload_that_is_not_as_documented_is_refused():
    body = json.loads(encode(payload(ev.Offered(at=1.0, version=1, call_id="vx-1", group="g",
                                                agent="anna"), "test", 1, "full", b"")))
    validate(body)
    for broken in ({**body, "agent": 7}, {k: v for k, v in body.items() if k != "seq"},
                   {**body, "extra": 1}):
        try:
            validate(broken)
        except jsonschema.ValidationError:
            continue
        raise AssertionError(f"accepted {broken}")
