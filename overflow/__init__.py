"""Overflow: when a caller leaves a group's line for another group or the external partner."""

from overflow.partner import PartnerCaps, PartnerLedger
from overflow.policy import Condition, Destination, OverflowDecision, Rule, Situation, decide

__all__ = [
    "Condition",
    "Destination",
    "OverflowDecision",
    "PartnerCaps",
    "PartnerLedger",
    "Rule",
    "Situation",
    "decide",
]
