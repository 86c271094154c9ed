"""The API reference at /schema, rendered by Swagger UI served from this app (no CDN), so it works offline.

The scripts and styles come from the `swagger-ui-bundle-v2` package (Swagger UI's own dist folder), served under
`/static/swagger-ui/`; the render plugin points at them instead of a CDN.
"""

from __future__ import annotations

from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

SWAGGER_ASSETS = "/static/swagger-ui"


def api_reference_assets() -> Router:
    """Swagger UI's files, public (the reference page itself is public) and cacheable for a day."""
    return create_static_files_router(
        path=SWAGGER_ASSETS,
        directories=[swagger_ui_path],
        name="swagger-ui-assets",
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=86400, public=True),
    )


def api_reference_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at /schema and /schema/swagger; /schema/scalar (the old page, which needed a CDN) shows it too."""
    return [
        SwaggerRenderPlugin(
            path=["/swagger", "/scalar"],
            js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
            css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
            standalone_preset_js_url=f"{SWAGGER_ASSETS}/swagger-ui-standalone-preset.js",
            favicon=f'<link rel="icon" type="image/png" href="{SWAGGER_ASSETS}/favicon-32x32.png">',
        )
    ]
