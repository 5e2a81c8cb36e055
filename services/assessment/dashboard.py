"""The assessment dashboard: one static page (no build step) over the rankings, scorecard and trend APIs.
It asks for a bearer token itself (the data API needs one, the page does not); the token travels in the
URL fragment, which browsers never send."""
from pathlib import Path

from shared.static_page import page_router

FOLDER = Path(__file__).resolve().with_name("static")
router = page_router("dashboard", FOLDER, ("dashboard.js", "dashboard.css"), "the dashboard's HTML")
