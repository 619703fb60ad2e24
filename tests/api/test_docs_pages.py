"""/docs and /redoc work without internet: every script, style sheet and icon they load is
served by the app itself (fastapi-offline's bundled Swagger UI and ReDoc), none from a CDN."""

from __future__ import annotations

import re

import pytest

# src="…" and href="…" in the page, and the spec URL Swagger UI / ReDoc fetch.
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
SPEC = re.compile(r"""(?:url:\s*|spec-url=)["']([^"']+)["']""")


@pytest.mark.parametrize(
    ("page", "kinds"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
async def test_docs_page_loads_only_local_assets(client, page, kinds):
    response = await client.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    urls = ASSET.findall(html)
    assert urls, html
    remote = [u for u in urls if re.match(r"^(https?:)?//", u)]
    assert not remote, f"{page} loads assets from elsewhere: {remote}"
    assert {u.rsplit("/", 1)[-1] for u in urls} >= kinds, urls
    assert SPEC.findall(html) == ["/openapi.json"], html
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url


async def test_swagger_ui_keeps_its_settings(client):
    html = (await client.get("/docs")).text
    assert '"persistAuthorization": true' in html
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200
