"""The Google twin (OAuth and Business Profile) on loopback, with its control interface."""
