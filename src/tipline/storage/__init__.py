"""Storage: repositories behind a unit of work (``ports``), implemented for SQLite (``sqlite``)."""
