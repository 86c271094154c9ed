"""Operating the service: the periodic job registry, health status and the development setup."""
