"""Small builders for routing tests."""

from __future__ import annotations

from collections.abc import Sequence

from agents import Agent, Membership
from overflow.partner import PartnerCaps
from overflow.policy import Rule
from queues.group import GroupConfig
from queues.router import Router


def agent(agent_id: str, *groups: str | tuple[str, int], auto_pause_after: int | None = 3) -> Agent:
    members = {}
    for g in groups:
        gid, level = (g, 1) if isinstance(g, str) else g
        members[gid] = Membership(gid, level)
    return Agent(agent_id, members, auto_pause_after=auto_pause_after)


def router(groups: Sequence[GroupConfig | str], agents: Sequence[Agent],
           rules: dict[str, Sequence[Rule]] | None = None,
           partner: PartnerCaps | None = None, login: bool = True, now: float = 0.0) -> Router:
    configs = [GroupConfig(g) if isinstance(g, str) else g for g in groups]
    r = Router(configs, agents, rules=rules, partner=partner)
    if login:
        for a in agents:
            r.agent_logged_in(a.agent_id, now)
    return r
