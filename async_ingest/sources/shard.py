"""This worker's share of the sources (--shard INDEX/COUNT, or what a Kubernetes Indexed Job or an
AWS Batch array job says): a stable hash of each source's relative path picks its worker.

Separate from walk.py: every worker lists the same sources; the shard is applied after the listing
(run.py), over the whole of it, so key collisions are found whatever the shard."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from async_ingest.sources.files import SourceFile


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= INDEX < COUNT")

    def owns(self, source: SourceFile) -> bool:
        """Stable across machines and runs: a hash of the relative path, not Python's salted hash()."""
        digest = hashlib.sha256(source.relpath.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index


def parse_shard(text: str) -> Shard:
    index, sep, count = text.partition("/")
    if not sep or not text.isascii() or not index.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(f"shard {text!r}: expected INDEX/COUNT, e.g. 0/4")
    return Shard(int(index), int(count))


def shard_from_environment(env: dict[str, str]) -> Shard | None:
    """Kubernetes Indexed Jobs and AWS Batch array jobs say which worker this is."""
    if "JOB_COMPLETION_INDEX" in env:
        count = _first_set(env, "ASYNC_INGEST_SHARD_COUNT", "JOB_COMPLETIONS")
        if count:
            return _env_shard(env, "JOB_COMPLETION_INDEX", count)
    if "AWS_BATCH_JOB_ARRAY_INDEX" in env:
        size = _first_set(env, "AWS_BATCH_JOB_ARRAY_SIZE", "ASYNC_INGEST_SHARD_COUNT")
        if size:
            return _env_shard(env, "AWS_BATCH_JOB_ARRAY_INDEX", size)
    return None


def _first_set(env: dict[str, str], *names: str) -> str | None:
    """The name of the first variable set to a non-empty value."""
    return next((name for name in names if env.get(name)), None)


def _env_int(env: dict[str, str], name: str) -> int:
    text = env[name].strip()
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{name}={env[name]!r}: expected a whole number >= 0")
    return int(text)


def _env_shard(env: dict[str, str], index_name: str, count_name: str) -> Shard:
    """The shard the variables name; an error names them, as the user set them."""
    index, count = _env_int(env, index_name), _env_int(env, count_name)
    if count < 1 or index >= count:
        raise ValueError(f"{index_name}={index}, {count_name}={count}: need 0 <= index < count")
    return Shard(index, count)
