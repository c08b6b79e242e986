"""The SQLite backend: the only place that speaks SQLite's dialect."""
