"""Forensic search and heatmaps over stored events and tracks."""
