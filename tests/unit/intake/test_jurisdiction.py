"""Jurisdiction: record station, then grid polygon, then address prefix; the shipped sample data is sound."""
import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from services.intake.domain.jurisdiction import REFERENCE_DIR, UNASSIGNED, Assignment, Jurisdictions

GRIDS_FILE = REFERENCE_DIR / "sample_city.geojson"
STATIONS_FILE = REFERENCE_DIR / "stations.yaml"
WANGHU, DONGGUAN, XISHAN, NANQIAO = "990101001", "990101002", "990102001", "990102002"


@pytest.fixture(scope="module")
def city() -> Jurisdictions:
    return Jurisdictions.load()


def at(city: Jurisdictions, lon: float, lat: float) -> Assignment:
    return city.resolve(station_code=None, point=(lon, lat), address_text=None)


def by_address(city: Jurisdictions, text: str | None) -> Assignment:
    return city.resolve(station_code=None, point=None, address_text=text)


def rect(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def write_city(tmp_path: Path, geometries: dict[str, dict], prefixes: tuple[str, ...] = ()) -> Jurisdictions:
    """A one-station city with the given grid geometries, loaded through the real file readers."""
    station = {"code": "S1", "name": "测试派出所", "county_code": "C1", "county_name": "测试区",
               "city": "测试市", "address_prefixes": list(prefixes)}
    features = [{"type": "Feature", "geometry": geometry,
                 "properties": {"grid_code": code, "grid_name": code, "station_code": "S1",
                                "officer_id": f"P-{code}", "officer_name": "测试", "households": 10,
                                "residents": 20}}
                for code, geometry in geometries.items()]
    collection = {"type": "FeatureCollection", "features": features}
    stations = yaml.safe_dump({"stations": [station]}, allow_unicode=True)
    (tmp_path / "stations.yaml").write_text(stations, "utf-8")
    (tmp_path / "grids.geojson").write_text(json.dumps(collection), "utf-8")
    return Jurisdictions.load(tmp_path / "stations.yaml", tmp_path / "grids.geojson")


def interior_point(geometry: dict) -> tuple[float, float]:
    """A point inside the largest part, found by a scanline independent of the code under test."""
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    rings = max(polygons, key=lambda rings: (max(p[0] for p in rings[0]) - min(p[0] for p in rings[0]))
                * (max(p[1] for p in rings[0]) - min(p[1] for p in rings[0])))
    ys = [p[1] for p in rings[0]]
    y = min(ys) + (max(ys) - min(ys)) * 0.3719  # an odd fraction: never on a vertex
    crossings = sorted(a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
                       for ring in rings for a, b in zip(ring, ring[1:]) if (a[1] > y) != (b[1] > y))
    widest = max(zip(crossings[::2], crossings[1::2]), key=lambda span: span[1] - span[0])
    return ((widest[0] + widest[1]) / 2, y)


# --- resolution order -------------------------------------------------------------------------------

def test_record_station_with_point_in_its_grid_gets_that_grid(city):
    got = city.resolve(station_code=WANGHU, point=(116.445, 40.0), address_text="南城区南桥街道1号")
    assert got == Assignment(WANGHU, "990101001002", "041102", "record")


def test_record_station_beats_a_point_in_another_stations_grid(city):
    got = city.resolve(station_code=WANGHU, point=(116.49, 39.93), address_text=None)
    assert got == Assignment(WANGHU, None, None, "record")


def test_record_station_without_point_has_no_grid(city):
    assert city.resolve(station_code=f" {XISHAN} ", point=None, address_text=None) == Assignment(
        XISHAN, None, None, "record")


def test_an_unknown_station_code_is_reported_and_the_point_places_the_record(city):
    assert city.station("MKE-D9") is None
    got = city.resolve(station_code=" MKE-D9 ", point=(116.445, 40.0), address_text="南城区南桥街道1号")
    assert got == Assignment(WANGHU, "990101001002", "041102", "grid", reported_station_code="MKE-D9")


def test_an_unknown_station_code_without_a_grid_point_is_placed_by_the_address(city):
    got = city.resolve(station_code="990199999", point=(121.47, 31.23), address_text="北城区东关街道88号")
    assert got == Assignment(DONGGUAN, None, None, "address", reported_station_code="990199999")


def test_an_unknown_station_code_nothing_else_places_is_unknown_station_not_its_own_station(city):
    got = city.resolve(station_code="FAKE-001", point=None, address_text="火星基地1号")
    assert got == Assignment(UNASSIGNED, None, None, "unknown_station", reported_station_code="FAKE-001")
    # Without a code the same record is plainly unassigned, and a known code is never "reported".
    assert city.resolve(station_code=None, point=None, address_text="火星基地1号").method == "unassigned"
    known = city.resolve(station_code=XISHAN, point=None, address_text="火星基地1号")
    assert (known.station_code, known.method, known.reported_station_code) == (XISHAN, "record", None)


def test_station_codes_are_matched_exactly_after_trimming(city):
    # A code that differs only in case is not the station: better reported than guessed.
    got = city.resolve(station_code="mke-d4", point=None, address_text=None)
    assert (got.station_code, got.method, got.reported_station_code) == (UNASSIGNED, "unknown_station", "mke-d4")


def test_blank_station_code_falls_through_to_the_point(city):
    got = city.resolve(station_code="  ", point=(116.445, 40.0), address_text=None)
    assert (got.method, got.reported_station_code) == ("grid", None)


def test_point_in_a_grid(city):
    assert at(city, 116.51, 39.95) == Assignment(NANQIAO, "990102002003", "042203", "grid")


def test_point_beats_address(city):
    got = city.resolve(station_code=None, point=(116.51, 39.95), address_text="北城区望湖街道1号")
    assert got.method == "grid" and got.station_code == NANQIAO


def test_point_outside_every_grid_falls_back_to_the_address(city):
    got = city.resolve(station_code=None, point=(121.47, 31.23), address_text="北城区东关街道88号")
    assert got == Assignment(DONGGUAN, None, None, "address")


def test_nothing_known_is_unassigned(city):
    assert city.resolve(station_code=None, point=None, address_text=None) == Assignment(
        UNASSIGNED, None, None, "unassigned")
    assert by_address(city, "火星基地1号") == Assignment(UNASSIGNED, None, None, "unassigned")
    assert at(city, 0.0, 0.0).method == "unassigned"
    assert at(city, float("nan"), float("nan")).method == "unassigned"


# --- address prefixes -------------------------------------------------------------------------------

def test_longest_address_prefix_wins(city):
    assert by_address(city, "北城区望湖街道湖滨路3号").station_code == WANGHU
    # 花园社区 lies in 望湖街道 but is policed from 东关: the longer rule wins.
    assert by_address(city, "北城区望湖街道花园社区3号楼").station_code == DONGGUAN


def test_address_rules_apply_to_the_normalised_address_with_or_without_the_city(city):
    variants = ("示例市北城区望湖街道花园社区3号楼", " 北城区　望湖街道，花园社区 ３號樓", "中国示例市北城区望湖街道花园社区")
    for text in variants:
        assert by_address(city, text) == Assignment(DONGGUAN, None, None, "address"), text


def test_a_prefix_must_match_from_the_start(city):
    assert by_address(city, "某省北城区望湖街道1号").method == "unassigned"


# --- polygons: holes, multipolygons, boundaries -------------------------------------------------------

def test_hole_belongs_to_the_enclave_grid_and_both_parts_of_a_multipolygon_resolve(city):
    assert at(city, 116.415, 39.985).grid_code == "990101001003"  # the enclave inside grid 001's hole
    assert at(city, 116.445, 39.975).grid_code == "990101001003"  # the main part of that MultiPolygon
    assert at(city, 116.405, 39.985).grid_code == "990101001001"  # around the hole


def test_an_empty_hole_is_in_no_grid(tmp_path):
    donut = {"type": "Polygon", "coordinates": [rect(0, 0, 10, 10), rect(4, 4, 6, 6)[::-1]]}
    city = write_city(tmp_path, {"G1": donut}, prefixes=("测试区",))
    assert at(city, 1, 1).grid_code == "G1"
    assert at(city, 5, 5).method == "unassigned"
    assert city.resolve(station_code=None, point=(5, 5), address_text="测试区1号").method == "address"


def test_multipolygon_parts_and_holes_in_parts(tmp_path):
    parts = [[rect(0, 0, 2, 2)], [rect(5, 5, 9, 9), rect(6, 6, 8, 8)[::-1]]]
    city = write_city(tmp_path, {"G1": {"type": "MultiPolygon", "coordinates": parts}})
    points = [(1, 1), (5.5, 5.5), (7, 7), (3, 3)]
    assert [at(city, x, y).grid_code for x, y in points] == ["G1", "G1", None, None]


def test_concave_polygon(tmp_path):
    l_shape = {"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 1], [1, 1], [1, 4], [0, 4], [0, 0]]]}
    city = write_city(tmp_path, {"G1": l_shape})
    assert at(city, 0.5, 3).grid_code == "G1" and at(city, 3, 0.5).grid_code == "G1"
    assert at(city, 3, 3).grid_code is None


def test_shared_edges_go_east_and_north(city):
    assert at(city, 116.46, 39.97).grid_code == "990101002001"  # west 望湖 | east 东关: east
    assert at(city, 116.47, 39.96).grid_code == "990101002001"  # south 南桥 / north 东关: north
    assert at(city, 116.46, 39.96).grid_code == "990101002001"  # four grids meet: north-east
    assert at(city, 116.52, 39.97).grid_code is None            # outer east edge of the tiling
    assert at(city, 116.41, 40.02).grid_code is None            # outer north edge of the tiling


def test_every_point_of_the_tiled_area_is_in_exactly_one_grid(city):
    # Every vertex coordinate appears in the lattice, so edges, corners and the diagonal are all hit.
    lons = sorted({116.40 + i * 0.005 for i in range(24)} | {116.41, 116.42, 116.43, 116.46, 116.48, 116.50})
    lats = sorted({39.90 + i * 0.005 for i in range(24)} | {39.93, 39.94, 39.98, 39.99, 40.0, 40.01})
    diagonal = [(116.52 - 0.06 * t / 20, 39.98 + 0.04 * t / 20) for t in range(1, 20)]
    for lon, lat in [(x, y) for x in lons for y in lats] + diagonal:
        owners = [g.code for g in city.grids() if g.contains(lon, lat)]
        assert len(owners) == 1, (lon, lat, owners)
        assert at(city, lon, lat).grid_code == owners[0]


def test_boundary_resolution_is_deterministic_across_loads(city):
    again = Jurisdictions.load()
    points = [(116.46, 39.97), (116.49, 40.0), (116.43, 39.99), (116.41, 39.98), (116.50, 39.96)]
    assert [at(city, *p) for p in points] == [at(again, *p) for p in points]


def test_overlapping_grids_go_to_the_lowest_code(tmp_path):
    city = write_city(tmp_path, {"G2": {"type": "Polygon", "coordinates": [rect(0, 0, 2, 2)]},
                                 "G1": {"type": "Polygon", "coordinates": [rect(1, 1, 3, 3)]}})
    assert at(city, 1.5, 1.5).grid_code == "G1"


def test_record_station_keeps_its_grid_for_a_point_on_that_grids_edge(city):
    # (116.46, 39.97) is on the 望湖/东关 edge: the half-open rule gives it to 东关; the record says 望湖.
    got = city.resolve(station_code=WANGHU, point=(116.46, 39.97), address_text=None)
    assert got == Assignment(WANGHU, "990101001003", "041103", "record")
    on_outer_edge = city.resolve(station_code=NANQIAO, point=(116.52, 39.93), address_text=None)
    assert on_outer_edge.grid_code == "990102002003"


# --- the shipped sample data ------------------------------------------------------------------------

def test_every_shipped_grid_resolves_its_own_interior_point(city):
    features = json.loads(GRIDS_FILE.read_text("utf-8"))["features"]
    assert len(features) == len(city.grids()) >= 12
    for feature in features:
        props = feature["properties"]
        got = at(city, *interior_point(feature["geometry"]))
        assert got == Assignment(props["station_code"], props["grid_code"], props["officer_id"], "grid")


def test_shipped_reference_data_is_consistent(city):
    stations = {s.code: s for s in city.stations()}
    grid_codes = [g.code for g in city.grids()]
    assert len(grid_codes) == len(set(grid_codes))
    assert len(stations) == len(yaml.safe_load(STATIONS_FILE.read_text("utf-8"))["stations"])
    for grid in city.grids():
        assert grid.station_code in stations
        assert grid.households > 0 and grid.residents >= grid.households
        assert grid.code.startswith(grid.station_code) and grid.officer_id and grid.officer_name
    chinese = [s for s in stations.values() if s.county_code != "MKE"]
    counties = Counter(s.county_code for s in chinese)
    assert counties == {"990101": 8, "990102": 8, "990103": 8}
    assert all(len(s.code) == 9 and s.code.isdigit() and s.code.startswith(s.county_code) for s in chinese)
    grids_per_station = Counter(g.station_code for g in city.grids())
    assert all(2 <= grids_per_station[s.code] <= 3 for s in chinese)
    assert all(grids_per_station[code] == 3 for code in (WANGHU, DONGGUAN, XISHAN, NANQIAO))
    officers = [g.officer_id for g in city.grids()]
    assert len(officers) == len(set(officers)), "one officer per grid"
    assert all(s.address_prefixes and all(p.startswith(s.county_name) for p in s.address_prefixes)
               for s in chinese)
    assert {f"MKE-D{i}" for i in range(1, 8)} <= set(stations)
    assert city.station("MKE-D3").city == "Milwaukee" and city.station(WANGHU).name == "望湖派出所"


def test_no_two_shipped_grids_overlap(city):
    # A lattice over the whole city, edges included: the half-open rule gives an edge point to one
    # grid, so two owners can only mean two polygons covering the same ground.
    west, south, east, north = 116.05, 39.80, 116.65, 40.12
    steps = 240
    for i in range(steps + 1):
        for j in range(steps // 2 + 1):
            lon, lat = round(west + (east - west) * i / steps, 6), round(south + (north - south) * j * 2 / steps, 6)
            owners = [g.code for g in city.grids() if g.contains(lon, lat)]
            assert len(owners) <= 1, (lon, lat, owners)


# --- loading bad reference data ---------------------------------------------------------------------

def test_grid_naming_an_unknown_station_is_refused(tmp_path):
    city_dir = tmp_path / "ok"
    city_dir.mkdir()
    write_city(city_dir, {"G1": {"type": "Polygon", "coordinates": [rect(0, 0, 1, 1)]}})
    bad = json.loads((city_dir / "grids.geojson").read_text("utf-8"))
    bad["features"][0]["properties"]["station_code"] = "NOPE"
    (city_dir / "grids.geojson").write_text(json.dumps(bad), "utf-8")
    with pytest.raises(ValueError, match="station_code 'NOPE'"):
        Jurisdictions.load(city_dir / "stations.yaml", city_dir / "grids.geojson")


@pytest.mark.parametrize("change, message", [
    (lambda p, f: p.update(households=0), "households"),
    (lambda p, f: p.pop("officer_id"), "officer_id"),
    (lambda p, f: f.update(geometry={"type": "Point", "coordinates": [1, 2]}), "geometry"),
    (lambda p, f: f.update(geometry={"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}), "geometry"),
])
def test_bad_grid_properties_name_the_field(tmp_path, change, message):
    write_city(tmp_path, {"G1": {"type": "Polygon", "coordinates": [rect(0, 0, 1, 1)]}})
    data = json.loads((tmp_path / "grids.geojson").read_text("utf-8"))
    change(data["features"][0]["properties"], data["features"][0])
    (tmp_path / "grids.geojson").write_text(json.dumps(data), "utf-8")
    with pytest.raises(ValueError, match=message):
        Jurisdictions.load(tmp_path / "stations.yaml", tmp_path / "grids.geojson")


def test_duplicate_grid_codes_are_refused(tmp_path):
    write_city(tmp_path, {"G1": {"type": "Polygon", "coordinates": [rect(0, 0, 1, 1)]}})
    data = json.loads((tmp_path / "grids.geojson").read_text("utf-8"))
    data["features"].append(data["features"][0])
    (tmp_path / "grids.geojson").write_text(json.dumps(data), "utf-8")
    with pytest.raises(ValueError, match="unique"):
        Jurisdictions.load(tmp_path / "stations.yaml", tmp_path / "grids.geojson")


# --- speed ------------------------------------------------------------------------------------------

def test_ten_thousand_point_lookups_take_well_under_a_second(city):
    points = [(116.39 + (i % 137) / 1000, 39.89 + (i % 139) / 1000) for i in range(10_000)]
    started = time.perf_counter()
    for point in points:
        city.resolve(station_code=None, point=point, address_text=None)
    assert time.perf_counter() - started < 1.0  # about 20 ms here; the margin is for a busy CI runner


def first_grid_of_all(city: Jurisdictions, lon: float, lat: float) -> str | None:
    """What resolve() answered before its cell index: the first grid, in code order, holding the point."""
    return next((g.code for g in city.grids() if g.contains(lon, lat)), None)


def test_the_cell_index_finds_the_grid_a_scan_of_every_grid_finds(city):
    rng = random.Random(17)
    points = [(rng.uniform(116.0, 116.6), rng.uniform(39.8, 40.1)) for _ in range(3000)]
    for grid in city.grids():  # corners of every box, every vertex, and points a hair off them
        x0, y0, x1, y1 = grid.bbox
        points += [(x0, y0), (x1, y1), (x0, y1), (x1, y0)]
        points += [(x + dx, y + dy) for x, y in ((x0, y0), (x1, y1)) for dx in (-1e-12, 1e-12) for dy in (-1e-12, 1e-12)]
    found = [at(city, lon, lat).grid_code for lon, lat in points]
    assert found == [first_grid_of_all(city, lon, lat) for lon, lat in points]
    assert sum(code is not None for code in found) > 1000


def test_a_point_that_is_not_finite_is_in_no_grid(city):
    assert at(city, float("nan"), 40.0).method == "unassigned"
    assert at(city, float("inf"), float("-inf")).grid_code is None
