"""Publishers of the domain events to the outside: MQTT, webhooks (docs/events.md)."""
