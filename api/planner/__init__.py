"""The planner: the venue's server-rendered web pages (Jinja templates, htmx where it helps, usable without JS)."""
