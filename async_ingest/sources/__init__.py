"""Where bytes come from: files and folders (walk, filters, links), zip members, standard input,
this worker's shard. Decoding is not done here (async_ingest.transform)."""
