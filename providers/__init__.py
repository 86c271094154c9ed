"""Provider adapters (Facebook, Instagram, Google Business Profile) behind one Protocol.

Added by the connections issue."""
