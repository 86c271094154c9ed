"""Timings for tests that make a client give up on a held answer, chosen for a loaded machine.

A client that gives up after IMPATIENT seconds still gets every ordinary twin answer in time on a busy machine
(they take milliseconds; a CPU hog makes that tens), and a fault that holds an answer HELD seconds is always
the one it gives up on. Keep HELD well above IMPATIENT: the margin is what a loaded scheduler eats.
"""

IMPATIENT = 1.0
HELD = 3.0
