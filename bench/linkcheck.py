"""How faithful the link emulator is: N parallel PutObject of --size each through bench/linkproxy.py
to a fresh local SeaweedFS, for N in --connections; prints MB/s against what the profile promises.

    python bench/linkcheck.py --link wan --connections 1,4
    python bench/linkcheck.py --link capped --connections 1,2,4,8

The bodies are random bytes stored as application/octet-stream (SeaweedFS does not gzip them), one
boto3 client per thread (one connection each). The clock runs from the first request to the last
answer; the RTT of connect and of each answer is included, so a few percent below the cap is expected.
"link MB/s" is what the proxy delivered to the server from its first to its last upload chunk (the
emulator alone); "direct s" is the same PUTs straight to the server, without the proxy (the server's
own share).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from linkproxy import MB, LinkProfile, LinkProxy, parse_link  # noqa: E402
from run import admin_client, seaweedfs  # noqa: E402


def promised(profile: LinkProfile, connections: int) -> float | None:
    """MB/s in all that the profile allows for this many connections (None: no cap)."""
    caps = []
    if profile.conn_mbps is not None:
        caps.append(profile.conn_mbps * connections)
    if profile.total_mbps is not None:
        caps.append(profile.total_mbps)
    return min(caps) if caps else None


def put_parallel(endpoint_url: str, bucket: str, body: bytes, connections: int) -> float:
    clients = [admin_client(endpoint_url) for _ in range(connections)]
    start = threading.Barrier(connections + 1)
    errors: list[BaseException] = []

    def put(i: int) -> None:
        start.wait()
        try:
            clients[i].put_object(Bucket=bucket, Key=f"check/{connections}-{i}", Body=body)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--link", type=parse_link, default=parse_link("wan"))
    p.add_argument("--connections", default="1,4", help="comma-separated counts (1,4)")
    p.add_argument("--size", type=int, default=50 * MB, help="bytes per connection (50000000)")
    p.add_argument("--workdir", type=Path, default=BENCH_DIR / "data")
    args = p.parse_args(argv)
    counts = [int(c) for c in args.connections.split(",")]
    body = os.urandom(args.size)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"link {args.link.describe()}; {args.size / MB:g} MB per connection")
    columns = "connections, MB in all, seconds, MB/s, promised MB/s, ratio, link MB/s, proxy CPU s, direct s"
    print("| " + " | ".join(columns.split(", ")) + " |")
    print("|---|---|---|---|---|---|---|---|---|")
    with (
        tempfile.TemporaryDirectory(dir=args.workdir) as tmp,
        seaweedfs(Path(tmp)) as server,
    ):
        admin = admin_client(server.endpoint_url)
        admin.create_bucket(Bucket="linkcheck")
        admin.put_object(Bucket="linkcheck", Key="warmup", Body=b"x" * 1024)
        with LinkProxy(("127.0.0.1", server.s3_port), args.link) as proxy:
            for n in counts:
                proxy.snapshot(reset=True)
                seconds = put_parallel(proxy.endpoint_url, "linkcheck", body, n)
                stats = proxy.snapshot()
                rate = n * args.size / MB / seconds
                cap = promised(args.link, n)
                ratio = f"{rate / cap:.2f}" if cap else "—"
                direct = put_parallel(server.endpoint_url, "linkcheck", body, n)  # the server's share
                print(
                    f"| {n} | {n * args.size / MB:g} | {seconds:.2f} | {rate:.1f} | {cap or '—'} | {ratio} "
                    f"| {stats.up_mbps or 0:.1f} | {stats.cpu_s:.1f} | {direct:.2f} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
