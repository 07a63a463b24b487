"""Grid carbon intensity and operational carbon (layer 1)."""
