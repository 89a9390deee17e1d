"""Rules: the engine that turns events into alarms and actions, and the action outbox."""
