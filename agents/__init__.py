"""Agents: the state machine every agent walks through, and the agent entity around it."""

from agents.agent import Agent, Membership
from agents.state import AgentEvent, AgentState, IllegalTransition

__all__ = ["Agent", "AgentEvent", "AgentState", "IllegalTransition", "Membership"]
