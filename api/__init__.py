"""HTTP API, CLI and dev server: the front doors."""
