"""The publishing engine: dispatcher, one delivery's run, outcomes, transitions, reconcile, actions, packages."""
