"""bench/chat.py can't rot: `--quick` runs the whole benchmark (twins, web, workers, a burst, commands and alerts,
Slack's and Telegram's) with tiny numbers and prints its table, with every command and update answered, each
Telegram update's reply at the twin, and no alert lost or posted twice.

No timing is asserted: the figures are the benchmark's to report, not the suite's to judge."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PG_URL, NO_POSTGRES, NO_REDIS, POSTGRES_UP, REDIS_UP, TEST_REDIS_URL

BENCH = Path(__file__).resolve().parents[1] / "bench" / "chat.py"


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
async def test_quick_chat_bench_prints_its_table_and_loses_no_alert_in_slack_or_telegram(tmp_path: Path) -> None:
    if not POSTGRES_UP:
        pytest.skip(NO_POSTGRES)
    if not REDIS_UP:
        pytest.skip(NO_REDIS)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CHEERS_") and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env |= {"CHEERS_BENCH_POSTGRES_URL": ADMIN_PG_URL, "CHEERS_BENCH_REDIS_URL": TEST_REDIS_URL}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(BENCH), "--quick", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
    finally:
        if proc.returncode is None:
            proc.terminate()  # the bench cleans up its processes and database on SIGTERM
            await proc.wait()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "ack latency (sent -> answer read)" in text and "alert latency beyond pacing" in text, text
    assert "acks: 12 answered, 0 failed" in text, text
    assert "alerts: 12 arrived, 0 still queued" in text and "0 lost, 0 posted twice" in text, text
    assert "This week at" in text, text  # `/cheers week` did real work: the linked person's venue and its posts
    # Telegram: real updates to the webhook under the same burst, a reply for each at the twin, alerts to private
    # chats and groups within Telegram's limits.
    assert "Telegram webhook answer (sent -> answer read)" in text and "Telegram alert latency beyond pacing" in text
    assert "telegram answers: 12 answered, 0 failed; replies at the twin: 32 of 32 updates" in text, text
    assert "0 missing, 0 doubled" in text, text
    assert "telegram answers: /week -> 'This week at" in text, text
    assert "telegram alerts: 12 arrived, 0 still queued" in text, text
    assert "0 lost, 0 posted twice; the Telegram twin answered 0 calls with 429" in text, text
