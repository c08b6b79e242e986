"""Prevention outreach: the content library citizens browse and search."""
