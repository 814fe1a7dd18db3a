"""Medians per (input, tool), async_ingest's ratios to each peer, the targets of issue 22 and the
before/after checks of another checkout, in markdown."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

GiB = 1024**3

MB = 1_000_000
REFERENCE = "async_ingest"


@dataclass
class Measurement:
    run: int
    input_name: str
    tool: str
    source_bytes: int
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_bytes: int = 0
    server_cpu_s: float = 0.0
    error: str | None = None  # None: exit 0 and every object checked
    link: str = "loopback"  # the emulated link (bench/linkproxy.py) the tool went through
    connections: int | None = None  # through the link: connections opened, most at once
    max_concurrent: int | None = None
    proxy_cpu_s: float | None = None
    steady_mbps: float | None = None  # async_ingest on a single file (bench/convergence.py)
    converged_fraction: float | None = None
    converged_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Row:
    """The medians of one tool on one input, over its successful runs."""

    input_name: str
    tool: str
    label: str
    source_bytes: int
    runs: int = 0
    ok_runs: int = 0
    wall_s: float | None = None
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    peak_rss_max_mb: float | None = None  # the worst run (the memory targets hold for every run)
    server_cpu_s: float | None = None
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def failed(self) -> bool:
        return self.ok_runs < self.runs

    @property
    def mb_per_s(self) -> float | None:
        return self.source_bytes / MB / self.wall_s if self.wall_s else None


def _median(values: Iterable[float]) -> float | None:
    data = list(values)
    return statistics.median(data) if data else None


def summarise(
    measurements: Sequence[Measurement],
    order: Sequence[tuple[str, str, str]],
    skipped: dict[tuple[str, str], str],
) -> list[Row]:
    """order: (input name, tool name, tool label) in table order, skipped ones included."""
    sizes = {m.input_name: m.source_bytes for m in measurements}
    rows = []
    for input_name, tool, label in order:
        row = Row(input_name, tool, label, sizes.get(input_name, 0), skipped=skipped.get((input_name, tool)))
        mine = [m for m in measurements if m.input_name == input_name and m.tool == tool]
        good = [m for m in mine if m.ok]
        row.runs, row.ok_runs = len(mine), len(good)
        row.errors = [f"run {m.run + 1}: {m.error}" for m in mine if not m.ok]
        row.wall_s = _median(m.wall_s for m in good)
        row.cpu_s = _median(m.cpu_s for m in good)
        row.peak_rss_mb = _median(m.peak_rss_bytes / MB for m in good)
        row.peak_rss_max_mb = max((m.peak_rss_bytes / MB for m in good), default=None)
        row.server_cpu_s = _median(m.server_cpu_s for m in good)
        rows.append(row)
    return rows


def _find(rows: Sequence[Row], input_name: str, tool: str) -> Row | None:
    return next((r for r in rows if r.input_name == input_name and r.tool == tool), None)


def _ratio(mine: float | None, theirs: float | None) -> float | None:
    return mine / theirs if mine is not None and theirs else None


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _digits(value: float | None) -> int:
    return 0 if (value or 0) >= 100 else 1 if (value or 0) >= 1 else 2


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def markdown_table(rows: Sequence[Row]) -> str:
    head = (
        "| input | tool | ok runs | wall s | MB/s | client CPU s | peak RSS MB | server CPU s "
        "| async_ingest wall ratio | async_ingest CPU ratio |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in rows:
        if row.skipped:
            label = row.label.replace("|", "\\|")
            lines.append(f"| {row.input_name} | {label} | {row.skipped} | | | | | | | |")
            continue
        ref = _find(rows, row.input_name, REFERENCE)
        is_ref = row.tool == REFERENCE
        wall_ratio = None if is_ref or ref is None else _ratio(ref.wall_s, row.wall_s)
        cpu_ratio = None if is_ref or ref is None else _ratio(ref.cpu_s, row.cpu_s)
        status = f"{row.ok_runs}/{row.runs}" + (" **FAILED**" if row.failed else "")
        cells = [
            row.input_name,
            row.label,
            status,
            _fmt(row.wall_s),
            _fmt(row.mb_per_s, _digits(row.mb_per_s)),
            _fmt(row.cpu_s),
            _fmt(row.peak_rss_mb, 0),
            _fmt(row.server_cpu_s),
            _fmt_ratio(wall_ratio),
            _fmt_ratio(cpu_ratio),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return head + "\n".join(lines) + "\n"


def convergence(measurements: Sequence[Measurement], order: Sequence[tuple[str, str, str]]) -> str:
    """Medians of the async_ingest runs whose part events were analysed (bench/convergence.py)."""
    lines = []
    for input_name, tool, label in order:
        mine = [
            m for m in measurements
            if m.ok and m.input_name == input_name and m.tool == tool and m.steady_mbps is not None
        ]  # fmt: skip
        if not mine:
            continue
        steady = _median(m.steady_mbps or 0 for m in mine)
        fraction = _median(m.converged_fraction or 0 for m in mine)
        seconds = _median(m.converged_s or 0 for m in mine)
        cells = [input_name, label, _fmt(steady), f"{_fmt(100 * (fraction or 0), 0)}%", _fmt(seconds, 2)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if not lines:
        return ""
    return (
        "Convergence (async_ingest on single files, medians): steady = MB/s acknowledged over the 50%-90% "
        "span; converged = share of the bytes acknowledged, and seconds since the file started, when the "
        "throughput over the last 8 parts or 1 s first reached 90% of steady.\n\n"
        "| input | tool | steady MB/s | converged after | seconds |\n|---|---|---|---|---|\n"
        + "\n".join(lines) + "\n"
    )  # fmt: skip


def failures(rows: Sequence[Row]) -> str:
    items = [f"- {r.input_name} / {r.tool}: {e}" for r in rows for e in r.errors]
    return ("Failed runs (not counted in the medians):\n" + "\n".join(items) + "\n") if items else ""


# --- targets (issue 22; the before/after check of issue 21) -----------------------------------------


@dataclass(frozen=True)
class Verdict:
    target: str
    status: str  # PASS, FAIL, n/a
    detail: str

    def line(self) -> str:
        return f"- **{self.status}** {self.target}: {self.detail}"


Metric = Callable[[Row], float | None]
METRICS: dict[str, Metric] = {
    "wall": lambda r: r.wall_s,
    "CPU": lambda r: r.cpu_s,
    "peak RSS": lambda r: r.peak_rss_max_mb,
}


def _ratio_target(
    rows: Sequence[Row],
    input_name: str,
    peers: Sequence[str],
    limit: float,
    metric: str,
    target: str,
    mine_tool: str = REFERENCE,
) -> Verdict:
    """mine / the best of peers (the faster or leaner one) against limit."""
    get = METRICS[metric]
    mine = _find(rows, input_name, mine_tool)
    theirs = [r for r in (_find(rows, input_name, peer) for peer in peers) if r and r.runs and not r.failed]
    if mine is None or not mine.runs or not theirs:
        return Verdict(target, "n/a", "not measured in this invocation")
    if mine.failed:
        return Verdict(target, "FAIL", f"{mine_tool} failed {mine.runs - mine.ok_runs} of {mine.runs} runs")
    best = min(theirs, key=lambda r: get(r) or float("inf"))
    ratio = _ratio(get(mine), get(best))
    if ratio is None:
        return Verdict(target, "n/a", f"no {metric} figure")
    unit = "MB" if metric == "peak RSS" else "s"
    detail = (
        f"{metric} {_fmt(get(mine), 2)} {unit} vs {best.tool} {_fmt(get(best), 2)} {unit} = {ratio:.2f}x "
        f"(limit {limit}x)"
    )
    return Verdict(target, "PASS" if ratio <= limit else "FAIL", detail)


def _rss_target(rows: Sequence[Row], input_names: Sequence[str], target: str, limit_mb: float) -> Verdict:
    mine = [r for r in rows if r.tool == REFERENCE and r.input_name in input_names and r.runs]
    if not mine:
        return Verdict(target, "n/a", "not measured in this invocation")
    if any(r.failed for r in mine):
        return Verdict(target, "FAIL", "async_ingest failed a run")
    worst = max(r.peak_rss_max_mb or 0 for r in mine)
    detail = ", ".join(
        f"{r.input_name}: {_fmt(r.peak_rss_mb, 0)} MB ({_fmt(r.peak_rss_max_mb, 0)} worst run)" for r in mine
    )
    return Verdict(
        target, "PASS" if worst <= limit_mb else "FAIL", f"{detail}; limit {limit_mb:.0f} MB in every run"
    )


@dataclass(frozen=True)
class InputNames:
    """Which measured inputs the targets refer to (empty or None when not part of this invocation)."""

    utf8_1g: Sequence[str]  # 1 GiB UTF-8 inputs: the plain file and any --shape ...:utf-8
    cp1252_1g: Sequence[str]  # 1 GiB Windows-1252 inputs: the plain file and any --shape
    big: Sequence[str]  # every single-file input
    many: str | None  # the folder of large files
    many_label: str | None  # e.g. "8 x 128 MiB"
    small: str | None  # the folder of 1000 small files
    loopback: bool  # no link emulation


def _check_share(rows: Sequence[Row], input_name: str, off: str) -> Verdict:
    """What the CSV check costs: 1 - wall(--csv-check off) / wall(defaults), at most 10%."""
    target = f"{input_name}: CSV check <= 10% of the wall time"
    on, without = _find(rows, input_name, REFERENCE), _find(rows, input_name, off)
    if on is None or without is None or not on.wall_s or not without.wall_s or on.failed or without.failed:
        return Verdict(target, "n/a", "not measured in this invocation")
    share = 1 - without.wall_s / on.wall_s
    detail = f"wall {on.wall_s:.2f} s, {without.wall_s:.2f} s with {off}: {100 * share:.1f}% (limit 10%)"
    return Verdict(target, "PASS" if share <= 0.10 else "FAIL", detail)


def targets(
    rows: Sequence[Row],
    names: InputNames,
    baselines: Sequence[str] = (),
    zstd: Sequence[str] = (),
    csv_off: Sequence[str] = (),
) -> list[Verdict]:
    """Issue 22's targets that this invocation measured, then each baseline (another checkout,
    --baseline) against today's code: no figure worse than 1.05x (issue 21)."""
    verdicts: list[Verdict] = []
    for name in names.cp1252_1g if names.loopback else ():
        verdicts += [
            _ratio_target(rows, name, ["iconv_aws"], 0.6, "CPU", f"{name}: client CPU <= 0.6x iconv | aws"),
            _ratio_target(rows, name, ["iconv_aws"], 0.9, "wall", f"{name}: wall <= 0.9x iconv | aws"),
            _ratio_target(rows, name, ["s5cmd_raw"], 1.1, "wall", f"{name}: wall <= 1.1x s5cmd, raw bytes"),
        ]
    for name in names.utf8_1g if names.loopback else ():
        verdicts += [
            _ratio_target(rows, name, ["aws"], 1.0, "CPU", f"{name}: client CPU <= 1.0x aws s3 cp"),
            _ratio_target(
                rows, name, ["aws", "s5cmd"], 1.0, "wall", f"{name}: wall <= 1.0x the faster of aws, s5cmd"
            ),
        ]
    if not names.loopback and names.many:
        target = f"{names.many}: wall <= 1.0x s5cmd"
        verdicts.append(_ratio_target(rows, names.many, ["s5cmd"], 1.0, "wall", target))
    for variant in zstd if not names.loopback else ():
        for name in names.cp1252_1g:
            target = f"{name}, {variant}: wall <= 0.3x iconv | aws"
            verdicts.append(_ratio_target(rows, name, ["iconv_aws"], 0.3, "wall", target, variant))
    limit = 100 if names.loopback else 250
    every = [*names.big, *([names.many] if names.many else [])]
    verdicts.append(_rss_target(rows, every, f"peak RSS <= {limit} MB with defaults", limit))
    if names.small:
        target = "1000 small files: wall <= 0.8x aws s3 cp --recursive"
        verdicts.append(_ratio_target(rows, names.small, ["aws"], 0.8, "wall", target))
    for off in csv_off:
        verdicts += [_check_share(rows, name, off) for name in names.big]
    for baseline in baselines:
        for name in dict.fromkeys(r.input_name for r in rows if r.tool == REFERENCE):
            for metric in ("wall", "CPU", "peak RSS"):
                target = f"{name}: {metric} <= 1.05x {baseline}"
                verdicts.append(_ratio_target(rows, name, [baseline], 1.05, metric, target))
    return verdicts


def size_label(size: int) -> str:
    for unit, name in ((GiB, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"
