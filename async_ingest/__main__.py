"""Entry point of `python -m async_ingest` and of the `async-ingest` command.

Importing the command pulls in aioboto3 and botocore (~0.3 s) before main() can handle signals:
a Ctrl-C in that time, or on the way out, ends the run quietly with 130 instead of a traceback.
"""

import sys  # already loaded by the interpreter: nothing else is imported outside the guard

EXIT_SIGINT = 130  # as async_ingest.cli.main.EXIT_SIGINT, which cannot be imported before the guard


def run() -> int:
    code = _run()
    if code == EXIT_SIGINT:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End an interrupted run here, its output flushed. A KeyboardInterrupt raised inside an import
    leaves CPython believing it went unhandled (measured: `python -m async_ingest` interrupted while
    importing its modules died by SIGINT, exit -2, though run() had caught it and returned 130), and
    the interpreter's exit would then kill the process by the signal: os._exit keeps the code."""
    import contextlib
    import os

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing to keep
            stream.flush()
    os._exit(code)


def _run() -> int:
    try:
        if not _import_quietly():
            return EXIT_SIGINT
        from async_ingest.cli.main import main

        code = main()
        _late_interrupts_exit_130()
        return code
    except KeyboardInterrupt:
        return EXIT_SIGINT


def _late_interrupts_exit_130() -> None:
    """A Ctrl-C that lands once the run is over, while the interpreter shuts down (threads joined,
    modules torn down), would escape every handler and end the process by the signal itself (-2):
    it ends it with 130, the output flushed, instead."""
    import signal

    signal.signal(signal.SIGINT, lambda signum, frame: _exit_now(EXIT_SIGINT))


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
