"""Evidence: hash-chained recordings, evidence locks and signed export packages."""
