"""Media: ingest, recording, segment index, playback and export, live streaming."""
