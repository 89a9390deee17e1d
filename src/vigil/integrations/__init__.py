"""Integrations with the world outside: MQTT, webhooks, e-mail, Web Push, digital signs."""

from vigil.integrations.hub import Integrations

__all__ = ["Integrations"]
