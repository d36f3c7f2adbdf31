"""twincast worker service."""
