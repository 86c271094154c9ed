"""`make dev` runs the Resend twin beside the other twins and points e-mail at it (ops e-mails to a sandbox address),
unless a Resend URL or key is given; the banner says where the inbox is."""

from __future__ import annotations

from pathlib import Path

import httpx

from api.devserver import email_line
from api.devtwins import DEV_OPS_EMAILS, sandbox_twins
from core.settings import Settings
from providers.email import OutgoingEmail, ResendClient
from sandbox.resend.control import ResendTwinControl
from tests.test_devserver import dev_ports


async def test_make_dev_sends_e_mail_to_the_resend_twin(tmp_path: Path) -> None:
    base = dev_ports()
    given = Settings(_env_file=None, cheers_public_url=f"http://127.0.0.1:{base}")
    async with sandbox_twins(given, tmp_path, base) as settings:
        resend_url = f"http://127.0.0.1:{base + 5}"
        assert settings.cheers_resend_api_url == resend_url
        assert settings.cheers_resend_api_key, "a dev API key the twin accepts"
        assert settings.ops_emails == [DEV_OPS_EMAILS]
        client = ResendClient(api_url=resend_url, api_key=settings.cheers_resend_api_key, timeout=10)
        try:
            await client.send(OutgoingEmail("CheersAI <a@cheers.test>", DEV_OPS_EMAILS, "Hello", "t", "<p>t</p>", "k"))
        finally:
            await client.close()
        async with httpx.AsyncClient(trust_env=False) as http:
            [mail] = await ResendTwinControl(resend_url, http).emails()
            assert mail["subject"] == "Hello"
            assert "Hello" in (await http.get(f"{resend_url}/")).text, "the inbox page shows it"
        assert f"sandbox inbox at {resend_url}/" in email_line(settings)
        assert f"CHEERS_RESEND_API_URL={resend_url}\n" in (tmp_path / "dev-twins.env").read_text()
    assert (tmp_path / "twins" / "resend.json").is_file(), "the inbox is kept for the next run"


async def test_a_resend_key_given_explicitly_keeps_e_mail_away_from_the_twin(tmp_path: Path) -> None:
    base = dev_ports()
    given = Settings(_env_file=None, cheers_resend_api_key="re_my_own", cheers_ops_emails="me@pub.test")
    async with sandbox_twins(given, tmp_path, base) as settings:
        assert settings.cheers_resend_api_key == "re_my_own"
        assert settings.cheers_resend_api_url == "https://api.resend.com", "a real key is never sent to the twin"
        assert settings.ops_emails == ["me@pub.test"]
        assert "Resend https://api.resend.com" in email_line(settings)
