"""The mediator's workbench: one static page (no build step) over mediation's own API, served by
mediation at /workbench. The page asks for a bearer token itself; the API decides what it may see and do.
"""
from pathlib import Path

from services.mediation import live_queue
from shared.static_page import page_router

# The token is kept in the tab's sessionStorage, never in the address.
FOLDER = Path(__file__).resolve().with_name("static") / "workbench"
router = page_router("workbench", FOLDER, ("workbench.js", "workbench.css"), "the workbench's HTML")


# What api.py includes: the page and the live queue it listens to, and the live queue's stream writer.
ROUTERS = (live_queue.router, router)
EventStream = live_queue.EventStream
