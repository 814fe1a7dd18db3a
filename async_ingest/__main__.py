"""Entry point of `python -m async_ingest` and of the `async-ingest` command.

Importing the command pulls in aioboto3 and botocore (~0.3 s) before main() can handle signals:
a Ctrl-C in that time, or on the way out, ends the run quietly with 130 instead of a traceback.
"""

import sys  # already loaded by the interpreter: nothing else is imported outside the guard

EXIT_SIGINT = 130  # as async_ingest.cli.main.EXIT_SIGINT, which cannot be imported before the guard


def run() -> int:
    try:
        if not _import_quietly():
            return EXIT_SIGINT
        from async_ingest.cli.main import main

        return main()
    except KeyboardInterrupt:
        return EXIT_SIGINT


def _import_quietly() -> bool:
    """Import the command; False if Ctrl-C struck in a callback that could not raise it.

    A KeyboardInterrupt raised inside a weakref callback (importlib drops a module lock that way after
    each import) is printed as "Exception ignored" and lost: the run would go on as if not interrupted.
    """
    interrupted: list[bool] = []
    previous = sys.unraisablehook

    def hook(unraisable: "sys.UnraisableHookArgs") -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            interrupted.append(True)
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        import async_ingest.cli.main  # noqa: F401
    finally:
        sys.unraisablehook = previous
    return not interrupted


if __name__ == "__main__":
    sys.exit(run())
