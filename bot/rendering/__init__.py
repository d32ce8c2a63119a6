"""Pure functions from stored state to Block Kit. No I/O here."""
