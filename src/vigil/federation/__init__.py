"""Federated sites: a centre's server mirrors the cameras, events and alarms of the sites it
registered (each reached over HTTPS with its certificate pinned, with a token the site
issued), forwards operators' work on their alarms, and catches up after a cut link."""
