"""The Meta twin (Facebook Login and the Graph API) on loopback, with its control interface."""
