"""Which station (派出所), grid (网格) and community officer a dispatch record belongs to.

Boundaries are half-open, [west, east) x [south, north): a point on an edge shared by two grids goes to
the grid east of it (north of an east-west edge, north-east at a corner), so a tiling gives each point
exactly one grid. Overlaps go to the lowest grid code. A record naming its station gets that station's
grid also for a point on the grid's edge.

A station code intake does not know (a typo, a unit that is no station, a made-up code) is not
trusted: such a record would otherwise open a station of its own and be ranked. The record is kept,
the code is carried as reported_station_code, and the grid and address rules place it; when neither
does, it is unassigned with the method unknown_station.
"""
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.intake.domain.keys import normalise_address

UNASSIGNED = "unassigned"
REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
# When the record names the station: the point itself first, then neighbours 1e-9 degrees (~0.1 mm)
# away, so a point on the edge of one of the station's grids (even by float rounding) gets that grid.
_OFFSETS = ((0.0, 0.0),) + tuple(itertools.product((-1e-9, 0.0, 1e-9), repeat=2))
_BBox = tuple[float, float, float, float]
_Edges = tuple[tuple[float, float, float, float], ...]


@dataclass(frozen=True)
class Station:
    """A police station (派出所) and the address prefixes that place records in it."""

    code: str
    name: str
    county_code: str
    county_name: str
    city: str
    address_prefixes: tuple[str, ...] = ()


def _shape(geometry: dict[str, Any]) -> tuple[_BBox, _Edges]:
    """Bounding box and edges of a GeoJSON Polygon or MultiPolygon; even-odd handles holes and parts."""
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind not in ("Polygon", "MultiPolygon") or not isinstance(coords, list) or not coords:
        raise ValueError(f"geometry must be a non-empty Polygon or MultiPolygon, got {kind!r}")
    rings = coords if kind == "Polygon" else [ring for polygon in coords for ring in polygon]
    points = [[(float(p[0]), float(p[1])) for p in ring] for ring in rings]
    if any(len(ring) < 3 for ring in points):
        raise ValueError("a polygon ring needs at least 3 positions")
    # Non-horizontal edges as (y_low, y_high, x at y_low, dx/dy): always from the lower end, so an edge
    # shared by two grids gives both the same float and they never disagree by rounding.
    edges = []
    for ring in points:
        for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
            if y1 != y2:  # a horizontal edge never crosses a horizontal ray
                (xa, ya), (xb, yb) = sorted(((x1, y1), (x2, y2)), key=lambda p: p[1])
                edges.append((ya, yb, xa, (xb - xa) / (yb - ya)))
    xs, ys = [x for ring in points for x, _ in ring], [y for ring in points for _, y in ring]
    return (min(xs), min(ys), max(xs), max(ys)), tuple(edges)


@dataclass(frozen=True)
class Grid:
    """A grid (网格) with its one responsible community officer and registered population."""

    code: str
    name: str
    station_code: str
    officer_id: str
    officer_name: str
    households: int
    residents: int
    _bbox: _BBox = field(repr=False, compare=False)
    _edges: _Edges = field(repr=False, compare=False)

    @property
    def bbox(self) -> _BBox:
        """(west, south, east, north) of the grid's outline."""
        return self._bbox

    def contains(self, lon: float, lat: float) -> bool:
        """True when (lon, lat) lies in this grid, by ray casting under the half-open boundary rule."""
        min_x, min_y, max_x, max_y = self._bbox
        if not (min_x <= lon <= max_x and min_y <= lat <= max_y):
            return False  # most grids are rejected here, before any edge is looked at
        inside = False
        for y_low, y_high, x_low, slope in self._edges:
            if y_low <= lat < y_high and lon < x_low + (lat - y_low) * slope:
                inside = not inside
        return inside


@dataclass(frozen=True)
class Assignment:
    """Where a record belongs and how that was decided: method is record, grid, address, unassigned or
    unknown_station (the record named a station intake does not know, and nothing else placed it)."""

    station_code: str
    grid_code: str | None
    officer_id: str | None
    method: str
    reported_station_code: str | None = None  # the record's station code when it is no known station


def _field(item: dict[str, Any], key: str, where: str, positive_int: bool = False) -> Any:
    value = item.get(key)
    if positive_int and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"{where}: '{key}' must be a positive integer, got {value!r}")
    if not positive_int and (value is None or not str(value).strip()):
        raise ValueError(f"{where}: '{key}' is missing")
    return value if positive_int else str(value).strip()


def _items(path: Path, document: Any, key: str) -> list[dict[str, Any]]:
    items = document.get(key) if isinstance(document, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f"{path.name}: expected a mapping with a '{key}' list of mappings")
    return items


def _read_stations(path: Path) -> tuple[Station, ...]:
    items = _items(path, yaml.safe_load(path.read_text(encoding="utf-8")), "stations")
    keys = ("code", "name", "county_code", "county_name", "city")
    return tuple(Station(*(_field(item, k, f"{path.name}: station #{i + 1}") for k in keys),  # type: ignore[call-arg]
                         tuple(str(p) for p in item.get("address_prefixes") or ()))
                 for i, item in enumerate(items))


def _read_grids(path: Path) -> tuple[Grid, ...]:
    grids = []
    for i, feature in enumerate(_items(path, json.loads(path.read_text(encoding="utf-8")), "features")):
        props, where = feature.get("properties") or {}, f"{path.name}: feature #{i + 1}"
        try:
            shape = _shape(feature.get("geometry") or {})
        except (ValueError, TypeError, IndexError) as exc:
            raise ValueError(f"{where}: geometry: {exc}") from exc
        texts = [_field(props, k, where) for k in ("grid_code", "grid_name", "station_code", "officer_id",
                                                   "officer_name")]
        counts = [_field(props, k, where, positive_int=True) for k in ("households", "residents")]
        grids.append(Grid(*texts, *counts, *shape))  # type: ignore[call-arg]  # mypy cannot count starred lists
    return tuple(grids)


class Jurisdictions:
    """Stations, grids and address rules; resolves a record's place to an Assignment."""

    def __init__(self, stations: tuple[Station, ...], grids: tuple[Grid, ...]) -> None:
        self._stations = {s.code: s for s in stations}
        self._grids = tuple(sorted(grids, key=lambda g: g.code))  # sorted: lowest code wins overlaps
        if len(self._stations) != len(stations) or len({g.code for g in grids}) != len(grids):
            raise ValueError("station codes and grid codes must be unique")
        if orphans := [g for g in grids if g.station_code not in self._stations]:
            grid = orphans[0]
            raise ValueError(f"grid {grid.code}: station_code {grid.station_code!r} is not a known station")
        self._by_station = {c: tuple(g for g in self._grids if g.station_code == c) for c in self._stations}
        self._index_cells()
        self._prefixes: dict[str, str] = {}
        for station in stations:
            for prefix in filter(None, map(normalise_address, station.address_prefixes)):
                if self._prefixes.setdefault(prefix, station.code) != station.code:
                    raise ValueError(f"address prefix {prefix!r} is claimed by two stations")
        self._prefix_lengths = sorted({len(p) for p in self._prefixes}, reverse=True)
        # Addresses often start with the city name; the rules are written without it.
        self._cities = tuple(sorted(filter(None, {normalise_address(s.city) for s in stations})))

    def _index_cells(self) -> None:
        # A point is looked for only in the grids whose bounding box meets its cell of a regular lattice,
        # in code order: a grid holds a point only inside its box, and a box lies within the cells it
        # meets, so the first grid found is the one the scan of all grids would find. Cells about as wide
        # as a typical grid: a grid meets a few, a point's cell lists a few (of 62 in the sample city).
        sizes = sorted(max(g.bbox[2] - g.bbox[0], g.bbox[3] - g.bbox[1]) for g in self._grids)
        self._cell = max(sizes[len(sizes) // 2], 1e-6) if sizes else 1.0
        cells: dict[tuple[int, int], list[Grid]] = {}
        for grid in self._grids:
            (x0, y0), (x1, y1) = self._cell_of(*grid.bbox[:2]), self._cell_of(*grid.bbox[2:])
            for cell in itertools.product(range(x0, x1 + 1), range(y0, y1 + 1)):
                cells.setdefault(cell, []).append(grid)
        self._cells = {cell: tuple(grids) for cell, grids in cells.items()}

    def _cell_of(self, lon: float, lat: float) -> tuple[int, int]:
        """The lattice cell of a finite point: each coordinate over the cell size, floored (monotonic)."""
        return math.floor(lon / self._cell), math.floor(lat / self._cell)

    @classmethod
    def load(cls, stations_path: Path | None = None, grids_path: Path | None = None) -> "Jurisdictions":
        """Read stations YAML and grids GeoJSON; defaults are the sample files shipped with intake."""
        return cls(_read_stations(stations_path or REFERENCE_DIR / "stations.yaml"),
                   _read_grids(grids_path or REFERENCE_DIR / "sample_city.geojson"))

    def station(self, code: str) -> Station | None:
        """The station with this code, or None."""
        return self._stations.get(code)

    def stations(self) -> tuple[Station, ...]:
        """All stations in reference-data order."""
        return tuple(self._stations.values())

    def grids(self) -> tuple[Grid, ...]:
        """All grids, ordered by grid code."""
        return self._grids

    def resolve(self, *, station_code: str | None, point: tuple[float, float] | None,
                address_text: str | None, normalised_address: str | None = None) -> Assignment:
        """Assign by the record's station code when it is a known station, else the grid holding point
        (lon, lat), else the address; an unknown station code is kept as reported_station_code.
        `normalised_address` is normalise_address(address_text) when the caller has it already."""
        code = (station_code or "").strip()
        if code in self._stations:  # the command centre decided
            grid = None
            if point is not None:  # without one, no grid
                x, y = point
                own = self._by_station[code]
                grid = next((g for dx, dy in _OFFSETS for g in own if g.contains(x + dx, y + dy)), None)
            return Assignment(code, grid.code if grid else None, grid.officer_id if grid else None, "record")
        reported = code or None  # blank is no code at all; anything else is a station we do not know
        if point is not None and math.isfinite(point[0]) and math.isfinite(point[1]):  # others lie in no grid
            for grid in self._cells.get(self._cell_of(*point), ()):
                if grid.contains(*point):
                    return Assignment(grid.station_code, grid.code, grid.officer_id, "grid", reported)
        if matched := self._station_by_address(normalised_address or normalise_address(address_text) or ""):
            return Assignment(matched, None, None, "address", reported)
        return Assignment(UNASSIGNED, None, None, "unknown_station" if reported else "unassigned", reported)

    def _station_by_address(self, address: str) -> str | None:
        candidates = [address] + [address[len(c):] for c in self._cities if address.startswith(c)]
        for length in self._prefix_lengths:  # longest first, so the longest matching prefix wins
            for candidate in candidates:
                if len(candidate) >= length and (matched := self._prefixes.get(candidate[:length])):
                    return matched
        return None
