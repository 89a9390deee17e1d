"""Data protection: data-subject requests (search, redacted access export, erasure)."""
