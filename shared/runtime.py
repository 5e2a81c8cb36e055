"""Process plumbing: stop cleanly on SIGTERM or Ctrl-C."""
import asyncio
import signal
from collections.abc import Callable


def on_stop_signals(stop: Callable[[], None]) -> None:
    """Call `stop` on SIGTERM and SIGINT, so a consumer finishes its batch and leaves its group."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
