"""The local launchers end with one clear line when a prerequisite is missing."""
import os
import shutil
import socket
import subprocess

import pytest

from deploy.local.infrastructure import ROOT

KAFKA_SH = str(ROOT / "deploy" / "local" / "kafka.sh")


def run_launcher(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_missing_java_is_one_line_naming_the_fix(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A PATH with the shell tools the script needs, and no java or mvn.
    for tool in ("bash", "dirname", "python3", "seq", "sleep", "cat", "mkdir", "rm", "touch", "kill", "id"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    result = run_launcher([KAFKA_SH, "up"], {"PATH": str(bin_dir), "FENGQIAO_STATE_DIR": str(tmp_path / "state"),
                                              "FENGQIAO_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "java not found" in lines[0] and "apt-get install" in lines[0]


def test_a_taken_port_is_one_line_naming_the_port(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = run_launcher([KAFKA_SH, "up"], {"FENGQIAO_STATE_DIR": str(tmp_path / "state"),
                                                 "FENGQIAO_KAFKA_PORT": str(port)})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"fengqiao: port {port} is taken by another process: stop it or set FENGQIAO_KAFKA_PORT")


def test_status_reports_the_running_stack(infrastructure):
    if infrastructure.provider != "local":
        pytest.skip("the session's Kafka and PostgreSQL do not come from the local launcher")
    result = subprocess.run(["bash", str(ROOT / "deploy" / "local" / "stack.sh"), "status"],
                            capture_output=True, text=True, timeout=60)
    assert "kafka: up on" in result.stdout and "postgres: up on" in result.stdout
