"""The PostgreSQL backend (asyncpg): the same repositories as SQLite's, for deployments with several
workers on one database. The only place that speaks PostgreSQL's dialect."""
