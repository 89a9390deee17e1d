"""Alarms: the lifecycle operators work through, and escalation."""
