"""The event bus: one interface, an in-process implementation, and a hub client that
carries it between the processes of one installation (NATS JetStream comes later)."""

from vigil.bus.base import Envelope, EventBus, subject_matches

__all__ = ["Envelope", "EventBus", "subject_matches"]
