"""Posts: create, edit, reschedule, cancel; provider rules, venue-local times and the views front doors render."""
