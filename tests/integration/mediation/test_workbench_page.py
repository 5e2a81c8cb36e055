"""The workbench's files as mediation serves them: its own CSP, nothing from elsewhere, no other file readable."""
import re

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def test_the_page_and_its_two_files_are_served_with_a_csp_that_allows_only_themselves_and_the_api(api):
    client = api()
    page = await client.get("/workbench")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    for name, kind in (("workbench.js", "text/javascript"), ("workbench.css", "text/css")):
        asset = await client.get(f"/workbench/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert not re.search(r"https?://", asset.text), f"{name} names another origin"
        assert asset.headers["content-security-policy"] == csp
    assert not re.search(r"<script>|\sstyle=|\son[a-z]+=", page.text), "nothing inline: the CSP would refuse it"
    assert (await client.get("/workbench/index.html")).status_code == 404
    assert (await client.get("/workbench/..%2Fsettings.py")).status_code == 404
