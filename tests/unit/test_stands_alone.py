"""The repository stands alone (docs/design.md, "Non-negotiables"): no tracked file refers to a folder
beside the clone, to a path above its root, or to a repository file or document that is not there.

A clone with nothing beside it must pass the README's commands, so a reference that resolves only on
the machine of whoever wrote it (the team's handbook folder next to the clone, a Path anchored above
the root) is a bug. The bad shapes in this file's own examples are spelled in pieces, so that the
scans, which read this file too, see none of them."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UP = ".." + "/"
HANDBOOK = re.compile(re.escape(UP) + r"shared\b")
TOP_LEVEL = ("services", "shared", "deploy", "tests", "bench", "docs", ".ci")
# A path into the repository, optionally reached with ./ or ../ from the citing file's folder.
REPO_PATH = re.compile(r"(?<![\w./@$-])((?:\.\.?/)*(?:%s)/[\w./@-]*)" % "|".join(map(re.escape, TOP_LEVEL)))
# Any relative path that climbs: ../x, ../../x.
CLIMB = re.compile(r"(?<![\w./-])((?:\.\./)+[\w.@-][\w./@-]*)")
# A document cited by name alone: it has to be one of ours.
DOCUMENT = re.compile(r"(?<![\w./$-])([A-Za-z_][\w-]*\.md)\b")
# Path(__file__).resolve() followed by .parent / .parents[N]: where Python code anchors its paths.
ANCHOR = re.compile(r"Path\(__file__\)\.resolve\(\)((?:\.parent\b|\.parents\[\d+\])+)")
ROOT_PARENT = re.compile(r"\bROOT\.parent\b|\bROOT\s*/\s*['\"]\.\.['\"]")
PLACEHOLDER = "<{*$"  # text right after a path that makes it a pattern, not a file: docs/openapi/<service>.json


def tracked_files() -> list[Path]:
    """The files git tracks, plus new ones not yet added (ignored ones excluded)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def ignored(relative: str) -> bool:
    """A path git ignores is made at run time (.local/, .venv/, bench/results/), not shipped."""
    return subprocess.run(["git", "check-ignore", "-q", "--no-index", relative], cwd=ROOT).returncode == 0


def inside(path: Path) -> bool:
    return path == ROOT or ROOT in path.parents


def line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def handbook_references(path: Path, text: str) -> list[str]:
    return [f"line {line(text, m.start())}: {m.group(0)}" for m in HANDBOOK.finditer(text)]


def climbs_above_root(path: Path, text: str) -> list[str]:
    return [f"line {line(text, m.start())}: {m.group(1)}" for m in CLIMB.finditer(text)
            if not inside((path.parent / m.group(1)).resolve())]


def anchors_above_root(path: Path, text: str) -> list[str]:
    if path.suffix != ".py":
        return []
    found = []
    for m in ANCHOR.finditer(text):
        anchor = path
        for step in re.findall(r"\.parent\b|\.parents\[(\d+)\]", m.group(1)):
            anchor = anchor.parent if step == "" else anchor.parents[int(step)]
        if not inside(anchor):
            found.append(f"line {line(text, m.start())}: {m.group(0)}")
    return found + [f"line {line(text, m.start())}: {m.group(0)}" for m in ROOT_PARENT.finditer(text)]


def missing_repository_paths(path: Path, text: str) -> list[str]:
    missing = []
    for m in REPO_PATH.finditer(text):
        named = m.group(1).rstrip(".")
        if (after := text[m.end():m.end() + 1]) and after in PLACEHOLDER:
            continue
        climbing = named.startswith(UP)
        candidates = [path.parent / named] + ([] if climbing else [ROOT / named.removeprefix("./")])
        if not any(c.resolve().exists() for c in candidates) and (climbing or not ignored(named.removeprefix("./"))):
            missing.append(f"line {line(text, m.start())}: {named}")
    return missing


def missing_documents(path: Path, text: str, ours: set[str]) -> list[str]:
    return [f"line {line(text, m.start())}: {m.group(1)}" for m in DOCUMENT.finditer(text) if m.group(1) not in ours]


@pytest.fixture(scope="module")
def files() -> list[tuple[Path, str]]:
    """Every tracked text file but data: CSV samples hold records, not references."""
    found = []
    for path in tracked_files():
        if path.suffix == ".csv":
            continue
        try:
            found.append((path, path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            continue
    return found


def every(files, check, *args) -> dict[str, list[str]]:
    return {str(path.relative_to(ROOT)): hits for path, text in files if (hits := check(path, text, *args))}


def test_the_scan_sees_the_whole_repository(files):
    names = {path.relative_to(ROOT).as_posix() for path, _ in files}
    assert {"README.md", "docs/design.md", "services/intake/samples/README.md", "fengqiao", ".ci/run"} <= names
    assert not any(name.endswith(".csv") for name in names)


def test_nothing_refers_to_the_handbook_folder_beside_the_clone(files):
    assert every(files, handbook_references) == {}


def test_no_relative_path_climbs_above_the_root(files):
    assert every(files, climbs_above_root) == {}


def test_python_paths_are_anchored_inside_the_repository(files):
    assert every(files, anchors_above_root) == {}


def test_every_repository_path_named_exists(files):
    assert every(files, missing_repository_paths) == {}


def test_every_document_cited_by_name_is_ours(files):
    assert every(files, missing_documents, {path.name for path, _ in files}) == {}


def test_the_shapes_that_broke_a_clean_clone_are_caught():
    """Each check on a file deep in tests/ that cites what only the author's machine had."""
    deep = ROOT / "tests" / "unit" / "intake" / "test_x.py"
    anchor = "Path(__file__)" + ".resolve().parents[3]"
    assert handbook_references(deep, "see " + UP + "shared" + "/notes.md") != []
    assert climbs_above_root(deep, "open " + UP * 4 + "elsewhere.csv") != []
    assert climbs_above_root(deep, "open " + UP * 3 + "services/intake") == []
    assert anchors_above_root(deep, anchor + '.parent / "elsewhere"') != []
    assert anchors_above_root(deep, anchor + ' / "services"') == []
    assert anchors_above_root(deep, "X = ROOT" + '.parent / "elsewhere"') != []
    assert missing_repository_paths(deep, "see services/intake/" + "samples/nowhere.csv") != []
    assert missing_repository_paths(deep, "see services/intake/samples/README.md and docs/openapi/<service>.json") == []
    assert missing_repository_paths(deep, "written to bench/results/run.json") == []  # ignored: made at run time
    assert missing_documents(deep, "as " + "DESIGN" + ".md says", {"README.md"}) != []
