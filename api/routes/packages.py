"""Manual packages: a signed download link per delivery, and `GET /packages/{token}` serving the zip."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, Response, get
from pydantic import BaseModel, Field

from api.deps import require
from api.problems import problem
from core.access.policy import VenueAccess
from core.publishing import packages as packages_core
from core.publishing.packages import PackageLinkExpired, PackageLinkInvalid, verify_package_token
from core.runtime import Runtime
from storage.models import Role
from storage.uow import UnitOfWork


class PackageLinkOut(BaseModel):
    url: str = Field(description="Download link; anyone holding it may download this package until it expires")
    expires_at: datetime
    filename: str


@get(
    "/api/targets/{target_id:int}/package",
    tags=["posts"],
    summary="A download link for a delivery's manual package (post it by hand)",
    description="The zip holds the platform's version of each photo or video, caption.txt, STEPS.txt and "
    "post.json. 404 for another venue's delivery, 409 for a cancelled one.",
    dependencies={"access": require(Role.viewer)},
)
async def package_link(target_id: int, access: VenueAccess, runtime: Runtime, uow: UnitOfWork) -> PackageLinkOut:
    link = await packages_core.package_link(runtime, uow.session, access, target_id)
    return PackageLinkOut(url=link.url, expires_at=link.expires_at, filename=link.filename)


@get(
    "/packages/{token:str}",
    tags=["posts"],
    summary="A manual package (zip), for whoever holds a signed package link",
    security=[],
)
async def package_file(request: Request[Any, Any, Any], token: str, runtime: Runtime, uow: UnitOfWork) -> Response[Any]:
    """The zip as an attachment: 404 for an altered link or a deleted delivery, 410 for an expired link."""
    try:
        target_id = verify_package_token(runtime.settings, runtime.clock, token)
    except PackageLinkExpired as exc:
        return problem(request, 410, exc.message, code=exc.code, remedy=exc.remedy)
    except PackageLinkInvalid as exc:
        return problem(request, 404, exc.message, code=exc.code)
    filename, data = await packages_core.build_package(runtime, uow.session, target_id)
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            # The venue's content behind a capability link: never in a shared cache.
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


routes = [package_link, package_file]
