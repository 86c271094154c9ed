"""E-mail: the outbox (queue once, deliver under a lease through Resend) and the bodies it sends."""
