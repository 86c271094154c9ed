"""`cheers emails list|send`, run for real: the operator sees what waits and why, then sends what is due."""

from __future__ import annotations

from pathlib import Path

from core.runtime import Runtime
from core.settings import Settings
from tests.email.test_outbox import ADDRESS, queue
from tests.sandbox_resend.conftest import ResendTwin
from tests.test_cli import acheers, as_json, succeeded


async def test_list_says_why_an_email_waits_and_send_delivers_it(
    settings: Settings, keyless_runtime: Runtime, resend: ResendTwin, tmp_path: Path
) -> None:
    assert succeeded(await acheers(settings, "emails", "list", cwd=tmp_path)).strip() == "no e-mails"
    await queue(keyless_runtime, "incident:1:opened:ops@cheers.test", subject="Job housekeeping is failing")
    waiting = succeeded(await acheers(settings, "emails", "send", cwd=tmp_path))
    assert "waiting_no_key" in waiting, f"without an API key nothing is sent, and the command says so: {waiting}"

    out = succeeded(await acheers(settings, "emails", "list", cwd=tmp_path))
    assert "pending" in out and ADDRESS in out and "Job housekeeping is failing" in out, out
    assert "CHEERS_RESEND_API_KEY is not set" in out, f"the list should say why it waits:\n{out}"

    keyed = {"CHEERS_RESEND_API_URL": resend.url, "CHEERS_RESEND_API_KEY": resend.api_key}
    sent = as_json(await acheers(settings, "--json", "emails", "send", cwd=tmp_path, **keyed))
    assert sent["result"] == {"sent": 1}, sent
    [email] = await resend.control.emails()
    assert email["to"] == [ADDRESS] and email["subject"] == "Job housekeeping is failing", email

    listed = as_json(await acheers(settings, "--json", "emails", "list", "--status", "sent", cwd=tmp_path))
    assert [e["to"] for e in listed["emails"]] == [ADDRESS], listed
    assert listed["emails"][0]["last_error"] is None, "a sent e-mail keeps no error"
