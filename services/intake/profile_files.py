"""Finding and loading feed profiles: by name from the shipped folder and INTAKE_PROFILE_DIRS, or by path.

A profile that does not validate is refused here, before any row is read, with one line per problem
naming the file, the key and what is allowed (services/intake/domain/profile_model.py).
"""
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from services.intake.domain.profile_model import CodeEntry, FeedProfile, FieldSpec, ProfileKeywords

SHIPPED = Path(str(resources.files("services.intake").joinpath("profiles")))
SUFFIXES = (".yaml", ".yml")


class ProfileError(ValueError):
    """A profile that does not exist or does not validate."""


def looks_like_path(name: str) -> bool:
    """A --profile value meant as a file rather than a name."""
    return "/" in name or "\\" in name or name.endswith(SUFFIXES)


def known_profiles(dirs: Sequence[Path] = ()) -> dict[str, Path]:
    """Every profile name in the folders, the shipped ones last: an earlier folder's file wins."""
    found: dict[str, Path] = {}
    for folder in [*dirs, SHIPPED]:
        for suffix in SUFFIXES:
            for path in sorted(Path(folder).glob(f"*{suffix}")):
                found.setdefault(path.stem, path)
    return found


def load_profile(name: str, dirs: Sequence[Path] = (), *, allow_path: bool = True) -> FeedProfile:
    """A profile by name (looked up in `dirs`, then the shipped folder) or, with allow_path, by file path.

    The HTTP API and the Kafka consumer pass allow_path=False: a caller names a profile an operator
    installed, it does not get to make intake read a file of its choosing.
    """
    if allow_path and looks_like_path(name):
        path = Path(name)
        if not path.is_file():
            raise ProfileError(f"profile file {name} does not exist")
        return load_profile_file(path)
    known = known_profiles(dirs)
    if name not in known or not name.replace("_", "").isalnum():
        hint = "; or give the path of a profile file" if allow_path else ""
        raise ProfileError(f"unknown profile {name!r}; known profiles: {', '.join(sorted(known))}{hint}")
    profile = load_profile_file(known[name])
    if profile.name != name:
        raise ProfileError(f"{known[name]}: name {profile.name!r} does not match the file name {name!r}")
    return profile


def load_profile_file(path: Path) -> FeedProfile:
    """Read and validate one profile file."""
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: cannot be read as YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping of keys (name, format, fields, ...), got {type(data).__name__}")
    try:
        return FeedProfile.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: {problem}" for problem in describe_errors(exc)]
        raise ProfileError(f"profile {path} is invalid:\n" + "\n".join(lines)) from exc


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per problem: the key's dotted path, what is wrong, and what is allowed there."""
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if part != "[key]"]
        key = ".".join(loc) or "<profile>"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            message = f"unknown key {loc[-1]!r}" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        elif error["type"] == "missing":
            message = "required key is missing"
        got = error.get("input")
        if error["type"] not in ("extra_forbidden", "missing") and isinstance(got, str | int | float):
            message += f" (got {got!r})"
        lines.append(f"{key}: {message}")
    return lines


def _allowed_keys(loc: list[str]) -> list[str]:
    """The keys a model at this location of a profile accepts."""
    model: type[BaseModel] = FeedProfile
    if loc[:1] == ["fields"] and len(loc) == 2:
        model = FieldSpec
    elif loc[:1] == ["categories"] and len(loc) == 2:
        model = CodeEntry
    elif loc == ["keywords"]:
        model = ProfileKeywords
    elif loc:
        return []
    return [_alias(name, info) for name, info in model.model_fields.items()]


def _alias(name: str, info: Any) -> str:
    return info.alias or name
