"""taskiq wiring: the broker factory, the scheduler, periodic tasks and in-process workers."""
