"""The web side: today the controller's local HTTP API (agents and status)."""
