"""Facebook Pages: connect through Facebook Login, one target per Page the person ticked."""

from __future__ import annotations

from typing import Any

from providers.base import Finding, StoredCredentials, Target
from providers.errors import MetadataMissing
from providers.meta_adapter import PUBLISH_TASKS, MetaAdapter
from storage.models.connections import Provider


class FacebookAdapter(MetaAdapter):
    """Publishes to Facebook Pages with each Page's own token."""

    provider = Provider.facebook
    required_scopes: tuple[str, ...] = ("pages_show_list", "pages_manage_posts", "pages_read_engagement")
    page_fields = "id,name,access_token,category,tasks"

    async def _page_target(self, page: dict[str, Any], token: str) -> Target:
        """The Page with its token; `token_expires_at` None when it never expires (long-lived login)."""
        tasks = list(page.get("tasks") or [])
        return Target(
            provider=self.provider,
            external_id=str(page["id"]),
            name=str(page.get("name") or page["id"]),
            access_token=token,
            token_expires_at=await self.page_token_expiry(token),
            page_id=str(page["id"]),
            details={"tasks": tasks, "category": page.get("category"), "can_publish": bool(PUBLISH_TASKS & set(tasks))},
        )

    def _no_targets(self) -> MetadataMissing:
        return MetadataMissing(
            "No Facebook Page was shared with CheersAI.",
            provider=self.provider.value,
            remedy="Connect again and tick your venue's Page in the Facebook dialog (you must manage the Page).",
        )

    async def _target_findings(self, credentials: StoredCredentials) -> list[Finding]:
        page, reach = await self._reach_page(credentials, "id,name,tasks")
        if page is None:
            return [reach]
        tasks = page.get("tasks")
        return [reach, self._tasks_finding(list(tasks) if tasks is not None else None, str(page.get("name")))]
