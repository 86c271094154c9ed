"""Use-cases shared by every front door, plus settings, logging and runtime wiring."""
