"""Pure byte work, incremental and without I/O: encoding detection (detect.py), transcoding to
UTF-8 (transcode.py), the CSV check (csvcheck.py), --compress output (compression.py). The per-byte loops
have a C core (_native.c) and a Python twin (pytwin.py) with identical results; native.py picks one
(ASYNC_INGEST_NO_EXTENSIONS=1 forces the twin)."""
