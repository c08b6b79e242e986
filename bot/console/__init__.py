"""Local console mode: the citizen conversation in a terminal."""
