"""Entry point of `python -m async_ingest` and of the `async-ingest` command.

Importing the command pulls in aioboto3 and botocore (~0.3 s) before main() can handle signals:
a Ctrl-C in that time, or on the way out, ends the run quietly with 130 instead of a traceback.
"""

import sys

EXIT_SIGINT = 130  # as async_ingest.cli.EXIT_SIGINT, which cannot be imported before the guard


def run() -> int:
    try:
        from async_ingest.cli import main

        return main()
    except KeyboardInterrupt:
        return EXIT_SIGINT


if __name__ == "__main__":
    sys.exit(run())
