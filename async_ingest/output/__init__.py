"""Where a run's events end up: terminal bars and lines, JSON lines, the report file, the run
manifest, and the escaping that keeps file names and keys printable. Nothing here uploads."""
