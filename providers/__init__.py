"""Provider adapters (Facebook, Instagram, Google Business Profile) behind one Protocol, added by the connections issue."""
