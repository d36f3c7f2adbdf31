"""twincast trainer service."""
