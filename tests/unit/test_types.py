"""mypy over shared/ and services/ with the project's configuration (pyproject.toml [tool.mypy]): strict on
shared/ and every domain/ package, the default checks elsewhere. No errors allowed."""
import subprocess
import sys

from deploy.local.infrastructure import ROOT

# mypy's cache lives with pytest's other caches: a warm run takes seconds, a cold one under a minute.
CACHE = ROOT / ".cache" / "mypy"


def test_shared_and_services_type_check() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(CACHE), "--no-error-summary",
                           "--hide-error-context"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
