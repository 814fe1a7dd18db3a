"""async_ingest: stream CSV files into an S3 data lake as clean UTF-8."""

__version__ = "0.1.0"
