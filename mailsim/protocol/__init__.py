"""Sans-IO protocol cores (bytes in, events and replies out; no sockets, no clock)."""
