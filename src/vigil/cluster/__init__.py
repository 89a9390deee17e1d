"""Recorder nodes: camera leases with fencing epochs, heartbeats, placement and failover."""
