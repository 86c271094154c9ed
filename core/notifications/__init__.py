"""The notifications outbox and its vocabulary: the kinds of notification and the actions they offer."""
