"""Meta's Graph API: the shared client and Facebook Login, and the Facebook and Instagram adapters."""
