"""Reference units: stations, grids and officers with their county and registered population.

The file (services/assessment/reference/units.yaml is the sample city's) is validated whole and
replaces the `units` table in one transaction, so a bad file changes nothing. A grid takes its county
from its station; an officer takes county and population from the grid it is responsible for.
"""
from pathlib import Path

import asyncpg
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.assessment import repository
from services.assessment.repository import ReferenceUnit

DEFAULT_FILE = Path(__file__).parent / "reference" / "units.yaml"
_CODE = r"^[A-Za-z0-9-]{1,32}$"


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=_CODE)
    name: str | None = None
    households: int = Field(default=0, ge=0)
    residents: int = Field(default=0, ge=0)


class Station(_Entry):
    county_code: str = Field(pattern=_CODE)
    county_name: str | None = None
    # The group of similar stations it is ranked with (urban, rural, ...); grids and officers take their
    # station's. None: ranked with the other stations that have none.
    cohort: str | None = Field(default=None, pattern=_CODE)


class Grid(_Entry):
    station_code: str = Field(pattern=_CODE)


class Officer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=_CODE)
    name: str | None = None
    station_code: str = Field(pattern=_CODE)
    grid_code: str | None = Field(default=None, pattern=_CODE)


class ReferenceFile(BaseModel):
    """The whole file; grids and officers must name stations (and grids) of the same file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stations: list[Station]
    grids: list[Grid] = Field(default_factory=list)
    officers: list[Officer] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> "ReferenceFile":
        stations, grids = {s.code for s in self.stations}, {g.code for g in self.grids}
        for kind, codes in (("station", [s.code for s in self.stations]), ("grid", [g.code for g in self.grids]),
                            ("officer", [o.code for o in self.officers])):
            if len(codes) != len(set(codes)):
                raise ValueError(f"{kind} codes repeat: {sorted({c for c in codes if codes.count(c) > 1})}")
        units: list[Grid | Officer] = [*self.grids, *self.officers]
        for unit in units:
            if unit.station_code not in stations:
                raise ValueError(f"{unit.code}: station_code {unit.station_code} is not among the stations")
        for officer in self.officers:
            if officer.grid_code is not None and officer.grid_code not in grids:
                raise ValueError(f"officer {officer.code}: grid_code {officer.grid_code} is not among the grids")
        return self

    def rows(self) -> list[ReferenceUnit]:
        """Every unit, grids and officers with their station's county and cohort."""
        stations = {s.code: s for s in self.stations}
        grids = {g.code: g for g in self.grids}
        rows = [ReferenceUnit("station", s.code, s.name, s.code, s.county_code, s.county_name, s.households,
                              s.residents, s.cohort) for s in self.stations]
        for g in self.grids:
            s = stations[g.station_code]
            rows.append(ReferenceUnit("grid", g.code, g.name, s.code, s.county_code, s.county_name, g.households,
                                      g.residents, s.cohort))
        for o in self.officers:
            s, grid = stations[o.station_code], grids.get(o.grid_code) if o.grid_code else None
            rows.append(ReferenceUnit("officer", o.code, o.name, s.code, s.county_code, s.county_name,
                                      grid.households if grid else 0, grid.residents if grid else 0, s.cohort))
        return rows


def read(path: Path | str = DEFAULT_FILE) -> ReferenceFile:
    """The validated file; a ValueError names the file and the field that is wrong."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return ReferenceFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise ValueError(f"{path}: {where}: {first['msg']} ({exc.error_count()} error(s))") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from None


async def load(conn: asyncpg.Connection, reference: ReferenceFile) -> int:
    """Replace every unit with the file's, in one transaction; returns the units loaded."""
    rows = reference.rows()
    async with conn.transaction():
        await repository.replace_units(conn, rows)
    return len(rows)
