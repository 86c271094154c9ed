"""The image engine: safe decode, presets per surface, derivatives. Pure: no database, no HTTP."""
