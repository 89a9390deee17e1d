"""Vigil: an open video management system with built-in video analytics."""

import os

# onnxruntime phones home a few seconds after import unless told not to; a surveillance
# product must never do that, so the switch is set before anything can import it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
