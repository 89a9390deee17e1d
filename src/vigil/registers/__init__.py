"""Registers of vehicles: plate readings looked up in them become ``watchlist.hit`` events."""
