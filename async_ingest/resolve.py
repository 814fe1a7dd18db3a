"""resolve(): an IngestOptions -> the frozen RunSettings of one run, every check made (validate.py)
before anything is read or sent, or ConfigError naming the option; and the connection's own
checks, which read the environment (endpoint URL, credentials)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from async_ingest import validate as check
from async_ingest.keys import InvalidKey, validate_template
from async_ingest.options import IngestOptions, PathLike
from async_ingest.outcome import ConfigError
from async_ingest.pipeline.parts import MAX_PART_SIZE, MIN_PART_SIZE
from async_ingest.s3.local import PLACEHOLDER_KEY_ID, PLACEHOLDER_SECRET
from async_ingest.s3.model import (
    ConnectionSettings,
    Credentials,
    credentials_file_too_open,
    load_credentials_file,
    validate_bucket_name,
    validate_endpoint_url,
    validate_region,
)
from async_ingest.settings import IngestSettings, RunSettings
from async_ingest.sources.walk import FileFilter
from async_ingest.transform.compression import output_compression
from async_ingest.transform.detect import resolve_codec

LOCAL_CREDENTIALS = Credentials(PLACEHOLDER_KEY_ID, PLACEHOLDER_SECRET)  # the embedded server takes any


def resolve(
    sources: Sequence[PathLike],
    options: IngestOptions,
    environ: Mapping[str, str],
    warn: Callable[[str], None],
) -> RunSettings:
    """Options -> the run's frozen settings, every check made before anything is read or sent.
    environ: the AWS_* variables (endpoint) and, for the command line, the job's shard index.
    warn: one line about the configuration that does not stop the run (a credentials file others can
    read, a metadata key given with S3's prefix)."""
    check.types(options)
    endpoint = _endpoint(options, environ)  # first: a refused URL may hold a password, say so at once
    paths = tuple(Path(source) for source in sources)
    if not paths:
        raise ConfigError("no SOURCE given: name CSV files or folders")
    bucket = check.bucket(options)
    try:
        if options.region is not None:
            validate_region(options.region)
        validate_bucket_name(bucket)
        validate_template(options.key_template)
        encoding = options.encoding if options.encoding == "auto" else resolve_codec(options.encoding)
        compress = output_compression(options.compress, options.compress_level)
    except (ValueError, InvalidKey) as exc:
        raise ConfigError(str(exc)) from None
    manifest = check.manifest_key(options)
    shard = check.shard(options.shard, environ)
    part_size = check.size("part_size", options.part_size)
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise check.fail("part_size", options.part_size, "must be between 5MiB and 5GiB")
    pinned = check.parts_in_flight(options.parts_in_flight)
    max_memory = check.max_memory(options, part_size, pinned)
    if options.concurrency < 1:
        raise ConfigError("must be at least 1", option="concurrency")
    read_timeout = check.seconds("read_timeout", options.read_timeout)
    progress_interval = check.seconds("progress_interval", options.progress_interval)
    if options.max_attempts < 1:
        raise ConfigError("must be at least 1", option="max_attempts")
    check.sse(options)
    ingest = IngestSettings(
        bucket=bucket,
        key_template=options.key_template,
        date=check.date(options.date),
        encoding=encoding,
        on_decode_error=options.on_decode_error,
        part_size=part_size,
        concurrency=options.concurrency,
        max_memory=max_memory,
        parts_in_flight=pinned,
        dry_run=options.dry_run,
        force=options.force,
        resume=options.resume,
        sse=options.sse,
        sse_kms_key_id=options.sse_kms_key_id,
        checksum=options.checksum,  # type: ignore[arg-type]  # checked against CHECKSUM_NAMES
        compress=compress,
        max_expanded_size=check.max_expanded_size(options.max_expanded_size),
        **check.object_fields(options, warn),
        **check.csv_fields(options),
    )
    connection = ConnectionSettings(
        endpoint_url=endpoint,
        region=options.region,
        profile=options.profile,
        credentials=_credentials(options, environ, warn),
        max_connections=options.concurrency + (pinned or max(1, max_memory // part_size)),
        max_attempts=options.max_attempts,
        read_timeout_s=read_timeout,
    )
    return RunSettings(
        sources=paths,
        ingest=ingest,
        connection=connection,
        create_bucket=options.create_bucket,
        report=Path(options.report) if options.report is not None else None,
        local=options.local,
        local_dir=Path(options.local_dir),
        follow_symlinks=options.follow_symlinks,
        filters=FileFilter(
            check.strings("include", options.include), check.strings("exclude", options.exclude)
        ),
        shard=shard,
        bwlimit=check.bwlimit(options.bwlimit),
        quiet=options.quiet,
        log_format=options.log_format,
        progress_interval=progress_interval,
        manifest_key=manifest,
        manifest_always=options.manifest_always,
        verbose=options.verbose,
        stdin_name=check.stdin_name(paths, options),
        serve=check.serve(options),
    )


def _endpoint(options: IngestOptions, environ: Mapping[str, str]) -> str | None:
    """The endpoint URL in use, checked (the local server is ours: nothing to check). The URL is
    never echoed: it may hold a password."""
    if options.local:
        return None
    for option, url in (
        ("endpoint_url", options.endpoint_url),
        ("AWS_ENDPOINT_URL_S3", environ.get("AWS_ENDPOINT_URL_S3")),
        ("AWS_ENDPOINT_URL", environ.get("AWS_ENDPOINT_URL")),
    ):
        if url:
            origin = "{opt:endpoint_url}" if option == "endpoint_url" else option
            try:
                return validate_endpoint_url(url, origin)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
    return None


def _credentials(
    options: IngestOptions, environ: Mapping[str, str], warn: Callable[[str], None]
) -> Credentials | None:
    if options.credentials is not None:
        if options.credentials_file is not None or options.profile is not None:
            raise ConfigError("give one of {opt:credentials}, {opt:credentials_file} and {opt:profile}")
        return _given_credentials(options.credentials)
    if options.credentials_file is None:
        local_default = options.local and not options.profile and not environ.get("AWS_ACCESS_KEY_ID")
        return LOCAL_CREDENTIALS if local_default else None
    path = Path(options.credentials_file)
    try:
        credentials = load_credentials_file(path)
        if credentials_file_too_open(path):
            warn(f"{path} is readable by group or others; chmod 600 it")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return credentials


def _given_credentials(given: Any) -> Credentials:
    """Credentials as an orchestrator holds them: ours, a boto3/aioboto3/botocore Session
    (get_credentials()), or a botocore credential provider (load()). Read once, at the call: keys
    that expire during a long run are the caller's to refresh (a new run). Never echoed."""
    if isinstance(given, Credentials):
        return given
    getter = getattr(given, "get_credentials", None) or getattr(given, "load", None)
    found = getter() if callable(getter) else None
    frozen = getattr(found, "get_frozen_credentials", None)
    found = frozen() if callable(frozen) else found
    key = getattr(found, "access_key", None)
    secret = getattr(found, "secret_key", None)
    if not isinstance(key, str) or not isinstance(secret, str):
        raise ConfigError(
            "{opt:credentials}: expected async_ingest.Credentials(access_key_id, secret_access_key), "
            "a boto3 Session or a botocore credential provider that holds keys"
        )
    token = getattr(found, "token", None)
    return Credentials(key, secret, token if isinstance(token, str) and token else None)
