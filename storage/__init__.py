"""Models, sessions, queries (all SQL), token crypto and migrations."""
