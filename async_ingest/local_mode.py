"""--local: the run against an embedded SeaweedFS (s3/local.py) started for it, and --serve, which
keeps that server answering after the run so that what landed can be read back. Apart from run.py
because it is a mode around the run, with its own signals, not a step of it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace

from async_ingest.outcome import ConfigError, Output, RunResult
from async_ingest.output.display import printable
from async_ingest.output.lines import headed_line
from async_ingest.settings import RunSettings


async def run_local(
    settings: RunSettings,
    ingest: Callable[[RunSettings], Awaitable[RunResult]],
    output: Output,
    *,
    serve: bool = False,
) -> RunResult:
    """ingest(settings) against an embedded SeaweedFS started for it in settings.local_dir; with
    serve, kept answering after the run until SIGINT or SIGTERM; stopped in every case."""
    from async_ingest.s3.local import LocalS3Server, LocalServerError

    server = LocalS3Server(settings.local_dir.resolve())
    try:
        await asyncio.to_thread(server.start)
    except LocalServerError as exc:
        raise ConfigError(str(exc)) from None
    try:
        if not settings.quiet and settings.log_format == "text":
            head = f"local S3 server (SeaweedFS) at {server.endpoint_url},"
            for line in headed_line(head, "data in", printable(str(settings.local_dir)), output.columns()):
                output.say(line)
        connection = replace(settings.connection, endpoint_url=server.endpoint_url)
        result = await ingest(replace(settings, connection=connection))
        if serve:
            await _serve(server.endpoint_url, settings, result, output)
        return result
    finally:
        await asyncio.to_thread(server.stop)


async def _serve(endpoint_url: str, settings: RunSettings, result: RunResult, output: Output) -> None:
    """--local --serve: after the run, say where the data can be read back (endpoint, a key pair,
    ready-made commands) and wait for SIGINT or SIGTERM; the caller then stops the server."""
    from async_ingest.s3.local import PLACEHOLDER_KEY_ID, PLACEHOLDER_SECRET, serve_instructions

    landed = [r for r in result.results if r.status in ("uploaded", "skipped") and r.key]
    example = landed[0] if landed else None
    delimiter = example.csv.delimiter if example is not None and example.csv is not None else None
    if settings.log_format == "json":
        event = {
            "event": "serving",
            "endpoint_url": endpoint_url,
            "bucket": settings.ingest.bucket,
            "aws_access_key_id": PLACEHOLDER_KEY_ID,
            "aws_secret_access_key": PLACEHOLDER_SECRET,
        }
        output.say(json.dumps(event))
    else:
        for line in serve_instructions(
            endpoint_url,
            settings.ingest.bucket,
            settings.local_dir,
            example.key if example else None,
            delimiter,
        ):
            output.say(line)
    sys.stdout.flush()  # a pipe (tee, a test) must see the endpoint now, not when the server stops
    await _until_signal()


async def _until_signal() -> None:
    """Until SIGINT or SIGTERM: on the main thread these replace the command's handlers (which
    would report an interruption, though stopping the server is the way a served run ends);
    elsewhere (an API call on a thread) the wait ends when the task is cancelled. A second signal
    while the server stops is ignored: it is stopping already."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()
