"""The command line: one front end of the library. Arguments and ASYNC_INGEST_* variables become
IngestOptions (table.py), the run goes through async_ingest.run like the Python API's, and events
become lines, bars or JSON (async_ingest.output). Nothing in the library imports this package."""
