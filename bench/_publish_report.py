"""The table bench/publish.py prints, and the verdicts against issue 6's targets."""

from __future__ import annotations

from dataclasses import dataclass

from _publish_measure import TwinSeen, percentile
from _publish_world import Batch, Timings

TARGET_RATIO = {"0 ms": 0.35, "50 ms": 0.85}
TARGET_LATENESS_P99 = 2.0
# issue 18: per delivery, all-in (workers, PostgreSQL, Redis, twin, driver), and what the engine adds to the spacing
TARGET_RATIO_18 = 0.55
TARGET_CPU_MS = 4.5
TARGET_ROUNDTRIPS = 6.0
TARGET_BEYOND_SPACING_P99 = 0.5
CPU_COLUMNS = ("twin", "workers", "driver", "postgres", "redis")


@dataclass
class Row:
    label: str
    deliveries: int
    seconds: float
    cpu: dict[str, float]
    seen: TwinSeen
    problems: str = ""
    roundtrips: int | None = None  # the workers' round trips to PostgreSQL (pipeline runs)

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_each(self) -> float:
        return 1000 * sum(self.cpu.values()) / max(1, self.deliveries)

    @property
    def roundtrips_each(self) -> float | None:
        return None if self.roundtrips is None else self.roundtrips / max(1, self.deliveries)


@dataclass(frozen=True)
class BurstShape:
    name: str  # "minute": due times spread over `window` seconds; "instant": all due at once
    per: int  # deliveries per connection
    connections: int
    window: float

    def describe(self) -> str:
        if self.name == "instant":
            return "all due at one instant"
        return f"each due at its own time, uniform (seeded) over {self.window:g} s"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def spread(values: list[float]) -> str:
    """p50, p99 and max of sorted `values`."""
    worst = values[-1] if values else float("nan")
    return f"p50 {percentile(values, 50):6.2f}  p99 {percentile(values, 99):6.2f}  max {worst:6.2f}"


def print_report(
    config: str, rows: list[Row], batches: list[Batch], burst: Timings, shape: BurstShape, spacing: float
) -> None:
    print(config)
    head = f"{'run':<22}{'done':>6}{'secs':>7}{'per s':>8}{'ratio':>7}"
    head += "".join(f"{'cpu ' + c:>13}" for c in CPU_COLUMNS) + f"{'cpu ms/each':>12}{'db trips/each':>14}"
    head += f"{'twin >=400':>12}"
    print(head)
    rates = {r.label: r.rate for r in rows}
    ratios: dict[str, float] = {}
    for r in rows:
        ratio = ""
        if r.label.startswith("pipeline"):
            latency = r.label.removeprefix("pipeline ")
            ratios[latency] = r.rate / rates[f"httpx fan-out {latency}"]
            ratio = f"{ratios[latency]:.2f}"
        errors = sum(n for status, n in r.seen.statuses.items() if status >= 400)
        line = f"{r.label:<22}{r.deliveries:>6}{r.seconds:>7.2f}{r.rate:>8.0f}{ratio:>7}"
        trips = "" if r.roundtrips_each is None else f"{r.roundtrips_each:.1f}"
        line += "".join(f"{r.cpu.get(c, 0.0):>13.2f}" for c in CPU_COLUMNS) + f"{r.cpu_ms_each:>12.1f}{trips:>14}"
        line += f"{errors:>12}"
        print(line + (f"  not published: {r.problems}" if r.problems else ""))
    print(
        "posts created through core.posts.service.create_post: "
        + ", ".join(f"{b.label} {b.created_per_second:.0f}/s" for b in batches)
    )
    starts, done, beyond = burst.first_start, burst.published, burst.beyond_spacing
    burst_row = rows[-1]
    print(
        f"burst, shape {shape.name}: {len(done)} of {shape.per * shape.connections} deliveries published "
        f"({shape.per} per connection on {shape.connections}), {shape.describe()}; "
        f"{burst.retried} needed more than one attempt"
    )
    print(
        f"  rate ({burst_row.label} row): {burst_row.deliveries} published / (last published - first due = "
        f"{burst_row.seconds:.2f} s) = {burst_row.rate:.0f}/s; due times span "
        f"{(burst.last_due - burst.first_due).total_seconds():.2f} s"
    )
    print("  lateness per delivery, seconds:")
    print(f"    {'first attempt start - own due':<58}{spread(starts)}")
    print(f"    {'published - own due':<58}{spread(done)}")
    beyond_label = f"first attempt start - max(own due, prev start + {spacing:g} s)"
    print(f"    {beyond_label:<58}{spread(beyond)}")
    print(f"    {'spacing alone (no engine delay; from the due times)':<58}{spread(burst.spacing_floor)}")
    print("    (prev start: the previous first attempt's start on the same connection; that line is what")
    print("     the engine adds beyond the spacing it promises; the floor is what the spacing alone imposes)")
    seen = burst_row.seen
    gap = f"{seen.min_gap:.2f} s" if seen.min_gap is not None else "n/a"
    print(f"  POSTs to one Page less than half the {spacing:g} s spacing apart: {seen.too_close} (smallest gap {gap})")
    too_many = sum(r.seen.statuses.get(429, 0) for r in rows if not r.label.startswith("httpx"))
    throttled = sum(n for r in rows if not r.label.startswith("httpx") for s, n in r.seen.statuses.items() if s >= 400)
    print("targets (issue 6):")
    for latency, target in TARGET_RATIO.items():
        value = ratios.get(latency, 0.0)
        print(f"  pipeline / fan-out at {latency:<5} >= {target:.2f}: {value:.2f} {verdict(value >= target)}")
    lateness = (
        ("raw: first attempt start - own due", starts),
        ("raw: published - own due", done),
        (f"beyond the {spacing:g} s spacing: first attempt start", beyond),
    )
    for name, values in lateness:
        p99 = percentile(values, 99)
        print(
            f"  burst ({shape.name}) lateness p99, {name} <= {TARGET_LATENESS_P99:g} s: {p99:.2f} s "
            + verdict(p99 <= TARGET_LATENESS_P99)
        )
    print(
        f"  no 429 at the twin from the pipeline: {too_many} 429s, {throttled} answers >= 400 {verdict(too_many == 0)}"
    )
    print_targets_18(rows, ratios, percentile(beyond, 99), too_many)


def print_targets_18(rows: list[Row], ratios: dict[str, float], beyond_p99: float, too_many: int) -> None:
    """Issue 18's targets: measured, target, met."""
    print(f"targets (issue 18):  {'measured':>10}  {'target':>8}")
    pipelines = [r for r in rows if r.label.startswith("pipeline")]
    for r in pipelines:
        cpu, trips = r.cpu_ms_each, r.roundtrips_each
        met = verdict(cpu <= TARGET_CPU_MS)
        print(f"  {r.label + ': CPU ms per delivery':<44}{cpu:>10.1f}  <= {TARGET_CPU_MS:<5g} {met}")
        if trips is not None:
            met = verdict(trips <= TARGET_ROUNDTRIPS)
            print(f"  {r.label + ': PostgreSQL round trips each':<44}{trips:>10.1f}  <= {TARGET_ROUNDTRIPS:<5g} {met}")
    for latency, value in ratios.items():
        met = verdict(value >= TARGET_RATIO_18)
        print(f"  {'pipeline / fan-out at ' + latency:<44}{value:>10.2f}  >= {TARGET_RATIO_18:<5g} {met}")
    met = verdict(beyond_p99 <= TARGET_BEYOND_SPACING_P99 and too_many == 0)
    target = TARGET_BEYOND_SPACING_P99
    print(f"  {'burst: beyond the spacing p99 s, no 429':<44}{beyond_p99:>10.2f}  <= {target:<5g} {met}")
