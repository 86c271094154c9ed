"""Google Business Profile: OAuth, account and location APIs, local posts, checks and errors."""
