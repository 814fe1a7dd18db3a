"""One file's way from source to object (detect, skip or upload, fill parts, abort on failure), many
files at once (the scheduler and the memory budget), and the parts in flight (flight.py). It speaks
to S3 only through async_ingest.s3 and to bytes only through async_ingest.transform."""
