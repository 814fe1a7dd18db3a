"""Where bytes come from: walk.py (SOURCE arguments, folders, links, filters), archives.py (zip
members), compressed.py (.gz/.zst/.bz2, bounded), files.py (a source and its reader), stdin.py
(standard input), shard.py (this worker's share). Decoding is not done here (async_ingest.transform)."""
