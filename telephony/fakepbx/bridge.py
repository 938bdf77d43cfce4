"""A basic two-party bridge of the fake PBX."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from telephony.fakepbx.channel import Channel, Headers


@dataclass(eq=False)
class Bridge:
    uniqueid: str = field(default_factory=lambda: str(uuid.uuid4()))
    members: list[Channel] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def block(self) -> Headers:
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(len(self.members))),
            ("BridgeVideoSourceMode", "none"),
        ]
