"""Addresses of the sample feed: precise ones (a house number, mostly with building and room) in a
station's area, coarse ones (a road, an estate, a village, a crossing) and places no rule covers.

A precise address is what makes a repeat dispute or a civil-to-criminal case recognisable: two calls
from 示例市北城区湖光路12号3栋501室 are the same flat, two from 示例市北城区湖光路 could be anyone.
"""
from services.intake import sample_texts as T
from services.intake.domain.jurisdiction import Station
from services.intake.sample_random import SampleRandom

# Share of addresses that start with the city name, as most CAD operators type them.
CITY_NAME_SHARE = 0.85


def _kind(prefix: str) -> str:
    """What follows a prefix: a township (镇, 乡) a village, a street (街道) a road or an estate, a
    community (社区) its buildings, a road its house numbers."""
    if prefix.endswith(("镇", "乡")):
        return "township"
    if prefix.endswith("社区"):
        return "community"
    return "street" if prefix.endswith("街道") else "road"


def house(r: SampleRandom) -> str:
    """House number, building, unit and room after a road: 12号3栋501室."""
    return r.pick(T.HOUSE_FORMS).format(n=r.between(1, 320), b=r.between(1, 24), u=r.between(1, 6),
                                        f=r.between(1, 19), r=r.between(1, 5))


def _building(r: SampleRandom) -> str:
    """Building, unit and room inside an estate: 3栋2单元501室."""
    return r.pick(T.ESTATE_FORMS).format(b=r.between(1, 24), u=r.between(1, 6), f=r.between(1, 19),
                                         r=r.between(1, 5))


def _city(r: SampleRandom, station: Station) -> str:
    return station.city if r.random() < CITY_NAME_SHARE else ""


def precise(r: SampleRandom, station: Station) -> str:
    """An address in one of the station's prefixes down to the house, and usually the room."""
    prefix = r.pick(station.address_prefixes)
    kind = _kind(prefix)
    if kind == "township":
        rest = r.pick(T.VILLAGE_FORMS).format(village=r.pick(T.VILLAGES), g=r.between(1, 16), n=r.between(1, 160))
    elif kind == "street":
        rest = r.pick(T.ROADS) + house(r) if r.random() < 0.7 else r.pick(T.COMMUNITIES) + _building(r)
    elif kind == "community":
        rest = _building(r)
    else:
        rest = house(r)
    return _city(r, station) + prefix + rest


def coarse(r: SampleRandom, station: Station) -> str:
    """An address in the station's area that stops at a road, an estate, a village or a crossing."""
    prefix = r.pick(station.address_prefixes)
    forms = {"township": T.COARSE_IN_TOWNSHIP, "street": T.COARSE_AFTER_STREET, "road": T.COARSE_AFTER_ROAD,
             "community": T.COARSE_IN_COMMUNITY}
    rest = r.pick(forms[_kind(prefix)]).format(village=r.pick(T.VILLAGES), road=r.pick(T.ROADS),
                                               community=r.pick(T.COMMUNITIES))
    return _city(r, station) + prefix + rest


def unmatched(r: SampleRandom, precise_address: bool) -> str:
    """A place no address prefix covers: a house on a road outside the rules, or just an area."""
    if precise_address:
        return r.pick(T.UNMATCHED_ROADS) + house(r)
    return r.pick(T.UNMATCHED).format(k=r.between(100, 999))
