"""What a scenario left behind: deliveries lost, copies at the twin, how fast doubt was flagged; one table row each."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from storage.models import AttemptOutcome, DeliveryStatus, Post, PostTarget, PublishAttempt
from tests.chaos.cluster import Cluster
from tests.factories import eventually

# Where a delivery may rest: out, or stopped with a reason a person can act on.
FLAGGED = frozenset(
    {
        DeliveryStatus.in_doubt,
        DeliveryStatus.needs_attention,
        DeliveryStatus.failed,
        DeliveryStatus.missed,
        DeliveryStatus.needs_reconnect,
    }
)
SETTLED = FLAGGED | {DeliveryStatus.published}
DOUBT = frozenset({DeliveryStatus.in_doubt, DeliveryStatus.needs_attention})
FLAG_SLACK = 1.5  # seconds past the lease a sweep may take to notice (dispatch interval, a busy tick)
MIN_RATIO = 0.95  # issue 6: deliveries per second after a fault at least 95 % of before

Rest = Callable[[PostTarget], bool]


def settled(target: PostTarget) -> bool:
    return target.status in SETTLED


@dataclass
class Row:
    scenario: str
    deliveries: int
    published: int
    flagged: dict[str, int]
    lost: int
    duplicated: int
    missing_at_twin: int  # marked published, yet the twin has no copy
    in_doubt_live: int  # flagged in doubt (or for a person) though the twin has it: work for reconciliation
    flag_seconds: float | None  # slowest in-doubt flag, from the attempt's start (database clock)
    lease: float
    recovery_seconds: float | None
    stalled: float = 0.0  # seconds the database itself could not be written: no sweep can flag meanwhile
    notes: str = ""
    rate_before: float | None = None  # deliveries per second on a batch before the fault (tests/chaos/throughput.py)
    rate_after: float | None = None  # … and on a batch after recovery
    rate_note: str = ""  # how busy the machine was during those batches

    @property
    def ratio(self) -> float | None:
        if self.rate_before is None or self.rate_after is None:
            return None
        return self.rate_after / self.rate_before

    @property
    def passed(self) -> bool:
        in_time = self.flag_seconds is None or self.flag_seconds <= self.lease + self.stalled + FLAG_SLACK
        fast = self.ratio is None or self.ratio >= MIN_RATIO
        return self.lost == 0 and self.duplicated == 0 and self.missing_at_twin == 0 and in_time and fast

    def line(self) -> str:
        flagged = " ".join(f"{k}={v}" for k, v in sorted(self.flagged.items())) or "-"
        if self.in_doubt_live:
            flagged += f" ({self.in_doubt_live} live at the twin)"
        flag = f"{self.flag_seconds:.1f}/{self.lease:.0f}" if self.flag_seconds is not None else "-"
        if self.flag_seconds is not None and self.stalled:
            flag += f" (+{self.stalled:.0f} stalled)"
        recovery = f"{self.recovery_seconds:.1f}" if self.recovery_seconds is not None else "-"
        before = f"{self.rate_before:.1f}" if self.rate_before is not None else "-"
        after = f"{self.rate_after:.1f}" if self.rate_after is not None else "-"
        if self.ratio is not None:
            after += f" ({math.floor(self.ratio * 1000) / 10:.1f} %)"  # floored: 94.96 % must not read 95 %
        cells = [
            self.scenario,
            str(self.deliveries),
            str(self.published),
            flagged,
            str(self.lost),
            str(self.duplicated),
            flag,
            recovery,
            before,
            after,
            "pass" if self.passed else "FAIL",
            "; ".join(n for n in (self.notes, self.rate_note) if n),
        ]
        return "| " + " | ".join(cells) + " |"


ROWS: list[Row] = []  # this run's rows, printed as one table at the end (tests/chaos/conftest.py)
HEADER = (
    "| scenario | deliveries | published | flagged (live at the twin) | lost | duplicated | in-doubt flagged (s/lease) "
    "| recovery (s) | before (/s) | after (/s) | result | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
)


async def wait_settled(
    cluster: Cluster, target_ids: Sequence[int], *, within: float, rest: Rest = settled
) -> tuple[list[PostTarget], float | None]:
    """Poll until every delivery rests; (the deliveries as they are, seconds it took or None on timeout)."""
    started = time.monotonic()

    async def check() -> list[PostTarget] | None:
        rows = await cluster.deliveries(target_ids)
        return rows if all(rest(t) for t in rows) else None

    try:
        rows = await eventually(check, what="deliveries to settle", within=within, interval=0.2)
        return rows, time.monotonic() - started
    except AssertionError:
        return await cluster.deliveries(target_ids), None


async def copies_at_twin(cluster: Cluster, targets: Sequence[PostTarget]) -> dict[int, int]:
    """How many visible copies of each delivery's text the twins hold (Page posts, Instagram media, local posts)."""
    async with cluster.runtime.db.session() as session:
        posts = {p.id: p for p in (await session.execute(select(Post))).scalars()}
    fb: Counter[tuple[str, str]] = Counter()
    for p in await cluster.meta.visible_posts():
        fb[(p["page_id"], p["message"])] += 1
    ig: Counter[tuple[str, str]] = Counter()
    for m in await cluster.meta.instagram_media():
        ig[(m["ig_user_id"], m["caption"])] += 1
    gbp: Counter[tuple[str, str]] = Counter()
    for lp in await cluster.google.local_posts() if cluster.locations else []:
        if lp.state != "REJECTED":  # the twin's `visible`: live, or in review and going to be
            gbp[(lp.location_id, str(lp.body.get("summary") or ""))] += 1
    found: dict[int, int] = {}
    for t in targets:
        text = posts[t.post_id].captions.get(t.provider.value) or posts[t.post_id].text
        if t.connection_id in cluster.page_ids:
            found[t.id] = fb[(cluster.page_ids[t.connection_id], text)]
        elif t.connection_id in cluster.locations:
            found[t.id] = gbp[(cluster.locations[t.connection_id], text)]
        else:
            found[t.id] = ig[(cluster.ig_ids[t.connection_id], text)]
    return found


async def flag_spans(cluster: Cluster, target_ids: Sequence[int]) -> list[float]:
    """For each attempt the sweep put in doubt: seconds from its start to the flag (both database time)."""
    async with cluster.runtime.db.session() as session:
        rows = await session.execute(
            select(PublishAttempt).where(
                PublishAttempt.target_id.in_(target_ids),
                PublishAttempt.outcome == AttemptOutcome.in_doubt,
            )
        )
        spans = [
            (a.finished_at - a.started_at).total_seconds()
            for a in rows.scalars()
            if a.finished_at is not None and a.error and "lease expired" in a.error
        ]
    return spans


async def measure(
    cluster: Cluster,
    scenario: str,
    target_ids: Sequence[int],
    *,
    within: float,
    rest: Rest = settled,
    since: float | None = None,
    notes: str = "",
    stalled: float = 0.0,
) -> Row:
    """Wait for the deliveries to rest, count what matters, print and record the table row."""
    rows, took = await wait_settled(cluster, target_ids, within=within, rest=rest)
    spans = await flag_spans(cluster, target_ids)
    copies = await copies_at_twin(cluster, rows)
    published = [t for t in rows if t.status is DeliveryStatus.published]
    flagged = Counter(t.status.value for t in rows if t.status in FLAGGED)
    # Lost: not resting where the scenario allows, or stopped without a word to the venue.
    lost = [t for t in rows if not rest(t) or (t.status in FLAGGED and not (t.last_error or t.note))]
    recovery = None
    if took is not None:
        recovery = time.time() - since if since is not None else took
    row = Row(
        scenario=scenario,
        deliveries=len(rows),
        published=len(published),
        flagged=dict(flagged),
        lost=len(lost),
        duplicated=sum(1 for n in copies.values() if n > 1),
        missing_at_twin=sum(1 for t in published if copies[t.id] == 0),
        in_doubt_live=sum(1 for t in rows if t.status in DOUBT and copies[t.id] > 0),
        flag_seconds=max(spans, default=None),
        lease=cluster.settings.cheers_publish_lease_seconds,
        recovery_seconds=recovery,
        stalled=stalled,
        notes=notes,
    )
    ROWS.append(row)
    print(f"\n{HEADER}\n{row.line()}")
    if not row.passed:
        print(f"deliveries:\n{await evidence(cluster, rows, copies)}\n{cluster.log_tails()}")
    return row


async def evidence(cluster: Cluster, rows: Sequence[PostTarget], copies: dict[int, int]) -> str:
    """Each delivery with its attempts (worker, lease token, outcome): what a failed scenario shows."""
    async with cluster.runtime.db.session() as session:
        found = await session.execute(
            select(PublishAttempt)
            .where(PublishAttempt.target_id.in_([t.id for t in rows]))
            .order_by(PublishAttempt.target_id, PublishAttempt.number)
        )
        attempts = list(found.scalars())
    lines = []
    for t in rows:
        lines.append(f"  delivery {t.id}: {t.status.value}, {copies[t.id]} copies at the twin, note={t.note!r}")
        lines += [
            f"    attempt {a.number}: worker={a.worker} lease={a.lease_token[:8]} outcome={a.outcome.value} "
            f"started={a.started_at:%H:%M:%S.%f} error={a.error!r}"
            for a in attempts
            if a.target_id == t.id
        ]
    return "\n".join(lines)
