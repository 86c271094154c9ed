"""The twins keep their state in a file when given one (`make dev`'s var/twins/), and only in memory otherwise."""

from __future__ import annotations

from pathlib import Path

import httpx

from sandbox.google.twin import running_google_twin
from sandbox.meta.twin import running_meta_twin
from tests.providers.google_support import CLIENT_ID, CLIENT_SECRET
from tests.providers.test_google_twin import tokens
from tests.providers.test_meta_twin import RED_LION, Twin

STATE = "twins"


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_meta_tokens_and_posts_outlive_a_restart_on_another_port(tmp_path: Path) -> None:
    kept = tmp_path / STATE / "meta.json"
    async with httpx.AsyncClient() as http:
        async with running_meta_twin(state_file=kept) as (url, control, state):
            twin = Twin(url, control, state, http)
            code = await twin.code("pages_show_list,pages_manage_posts,pages_read_engagement")
            user_token = (await twin.token(code)).json()["access_token"]
            accounts = (await twin.get("me/accounts", user_token)).json()["data"]
            page_token = next(a["access_token"] for a in accounts if a["id"] == RED_LION)
            posted = await http.post(
                f"{url}/v25.0/{RED_LION}/feed",
                data={"message": "Quiz night"},
                headers={"Authorization": f"Bearer {page_token}"},
            )
            assert posted.status_code == 200, posted.text
            post_id = posted.json()["id"]
            first_port = url
        async with running_meta_twin(state_file=kept) as (url, control, state):
            assert url != first_port
            twin = Twin(url, control, state, http)
            assert (await twin.debug(user_token))["is_valid"] is True
            accounts = (await twin.get("me/accounts", user_token)).json()["data"]
            assert page_token in [a["access_token"] for a in accounts], "the Page token is the one handed out before"
            read = await twin.get(post_id, page_token, fields="message")
            assert read.status_code == 200 and read.json()["message"] == "Quiz night", read.text
            again = await http.post(
                f"{url}/v25.0/{RED_LION}/feed",
                data={"message": "Curry club"},
                headers={"Authorization": f"Bearer {page_token}"},
            )
            assert again.json()["id"] != post_id, "ids go on from where they were"


async def test_google_refresh_tokens_outlive_a_restart(tmp_path: Path) -> None:
    kept = tmp_path / STATE / "google.json"
    async with httpx.AsyncClient() as http:
        async with running_google_twin(state_file=kept) as (url, _, _):
            issued = await tokens(http, url)
        async with running_google_twin(state_file=kept) as (url, _, _):
            form = {
                "grant_type": "refresh_token",
                "refresh_token": issued["refresh_token"],
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            }
            refreshed = await http.post(f"{url}/token", data=form)
            assert refreshed.status_code == 200, refreshed.text
            listed = await http.get(f"{url}/v1/accounts", headers={"Authorization": f"Bearer {issued['access_token']}"})
            assert listed.status_code == 200, "the access token issued before the restart still works"


async def test_without_a_file_nothing_is_written_and_nothing_is_remembered(tmp_path: Path) -> None:
    async with httpx.AsyncClient() as http:
        async with running_meta_twin() as (url, control, state):
            user_token = await Twin(url, control, state, http).user_token()
        async with running_meta_twin() as (url, control, state):
            assert (await Twin(url, control, state, http).debug(user_token))["is_valid"] is False
    assert files_in(tmp_path) == []


async def test_an_unreadable_state_file_is_set_aside_and_the_twin_starts_afresh(tmp_path: Path) -> None:
    kept = tmp_path / STATE / "meta.json"
    kept.parent.mkdir()
    kept.write_text('{"version": 1, "twin": "meta", "state": {"tokens": {"__twin__": "dataclass", "cls": "os:system"')
    async with running_meta_twin(state_file=kept) as (_, _, state):
        assert state.tokens == {} and RED_LION in state.pages, "the default scenario"
    assert (tmp_path / STATE / "meta.unreadable.json").exists(), "kept for a look, not deleted"
