"""The dashboard's page and assets are served by the assessment app without a token, with their content
types, from a whitelist; the page fetches nothing from elsewhere and labels every figure."""
import re

import httpx
import pytest

from services.assessment import dashboard
from services.assessment.api import create_app
from services.assessment.domain.figures import FIGURE_NAMES
from services.assessment.settings import AssessmentSettings

# The only absolute URL the page may contain: the SVG namespace, which is a name, never fetched.
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


@pytest.fixture
async def client():
    # No lifespan: nothing connects, and the static routes need no database.
    app = create_app(AssessmentSettings(environment="test"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://assessment") as c:
        yield c


@pytest.mark.parametrize("path, content_type", [
    ("/dashboard", "text/html; charset=utf-8"),
    ("/dashboard/dashboard.js", "text/javascript; charset=utf-8"),
    ("/dashboard/dashboard.css", "text/css; charset=utf-8"),
])
async def test_page_and_assets_answer_without_a_token(client, path, content_type):
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type
    assert "connect-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("name", ["index.html", "dashboard.py", "missing.js", "..%2Fapi.py"])
async def test_an_unknown_asset_is_404(client, name):
    assert (await client.get(f"/dashboard/{name}")).status_code == 404


async def test_the_page_loads_its_own_assets(client):
    page = (await client.get("/dashboard")).text
    assert 'src="dashboard/dashboard.js"' in page and 'href="dashboard/dashboard.css"' in page


def test_the_assets_fetch_nothing_from_elsewhere():
    for path in dashboard.FOLDER.iterdir():
        text = path.read_text(encoding="utf-8")
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'`)]*", text)) - {SVG_NAMESPACE}
        assert not urls, f"{path.name} refers to {sorted(urls)}"
        assert "@import" not in text and "url(" not in text, path.name


def test_every_figure_has_a_chinese_and_an_english_label():
    script = (dashboard.FOLDER / "dashboard.js").read_text(encoding="utf-8")
    for name in FIGURE_NAMES:
        assert re.search(rf'^\s*{name}: \["[^"]+", "[^"]+", "\w+"\],$', script, re.M), name
