"""Everything that speaks S3 or touches botocore/aiohttp: the client (the calls the run makes), the
transport (session, client configuration, request bodies), the multipart writer, checksums, object
options, pacing, the embedded SeaweedFS server. model.py is its plain part, importable without
botocore (dry runs, option checks)."""
