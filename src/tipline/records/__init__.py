"""What is kept for accountability: the hash-chained audit log, exports and statistics."""
