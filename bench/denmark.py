"""Facts about Denmark that the bench's register is built from: the 98 municipalities and the hospitals.

Names, kommunekoder and regions are real. Population figures are rounded (thousands of inhabitants) and serve
only to weight where the fictional patients live. Hospital names are real; every SOR code and GLN the bench
assigns to them is invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Municipality:
    code: str  # kommunekode, 4 digits
    name: str
    region: str
    population_k: int  # rounded, thousands; only a weight


@dataclass(frozen=True, slots=True)
class Hospital:
    name: str
    region: str


HOVEDSTADEN: Final = "Region Hovedstaden"
SJAELLAND: Final = "Region Sjælland"
SYDDANMARK: Final = "Region Syddanmark"
MIDTJYLLAND: Final = "Region Midtjylland"
NORDJYLLAND: Final = "Region Nordjylland"
REGIONS: Final = (HOVEDSTADEN, SJAELLAND, SYDDANMARK, MIDTJYLLAND, NORDJYLLAND)

_BY_REGION: Final[dict[str, tuple[tuple[int, str, int], ...]]] = {
    HOVEDSTADEN: (
        (101, "Københavns Kommune", 650),
        (147, "Frederiksberg Kommune", 104),
        (151, "Ballerup Kommune", 52),
        (153, "Brøndby Kommune", 35),
        (155, "Dragør Kommune", 14),
        (157, "Gentofte Kommune", 75),
        (159, "Gladsaxe Kommune", 70),
        (161, "Glostrup Kommune", 23),
        (163, "Herlev Kommune", 29),
        (165, "Albertslund Kommune", 27),
        (167, "Hvidovre Kommune", 54),
        (169, "Høje-Taastrup Kommune", 51),
        (173, "Lyngby-Taarbæk Kommune", 57),
        (175, "Rødovre Kommune", 41),
        (183, "Ishøj Kommune", 23),
        (185, "Tårnby Kommune", 43),
        (187, "Vallensbæk Kommune", 17),
        (190, "Furesø Kommune", 41),
        (201, "Allerød Kommune", 26),
        (210, "Fredensborg Kommune", 41),
        (217, "Helsingør Kommune", 63),
        (219, "Hillerød Kommune", 52),
        (223, "Hørsholm Kommune", 25),
        (230, "Rudersdal Kommune", 57),
        (240, "Egedal Kommune", 44),
        (250, "Frederikssund Kommune", 46),
        (260, "Gribskov Kommune", 41),
        (270, "Halsnæs Kommune", 31),
        (400, "Bornholms Regionskommune", 39),
    ),
    SJAELLAND: (
        (253, "Greve Kommune", 51),
        (259, "Køge Kommune", 62),
        (265, "Roskilde Kommune", 90),
        (269, "Solrød Kommune", 24),
        (306, "Odsherred Kommune", 33),
        (316, "Holbæk Kommune", 72),
        (320, "Faxe Kommune", 37),
        (326, "Kalundborg Kommune", 48),
        (329, "Ringsted Kommune", 35),
        (330, "Slagelse Kommune", 79),
        (336, "Stevns Kommune", 23),
        (340, "Sorø Kommune", 30),
        (350, "Lejre Kommune", 28),
        (360, "Lolland Kommune", 40),
        (370, "Næstved Kommune", 83),
        (376, "Guldborgsund Kommune", 60),
        (390, "Vordingborg Kommune", 45),
    ),
    SYDDANMARK: (
        (410, "Middelfart Kommune", 39),
        (420, "Assens Kommune", 41),
        (430, "Faaborg-Midtfyn Kommune", 51),
        (440, "Kerteminde Kommune", 24),
        (450, "Nyborg Kommune", 32),
        (461, "Odense Kommune", 206),
        (479, "Svendborg Kommune", 59),
        (480, "Nordfyns Kommune", 30),
        (482, "Langeland Kommune", 12),
        (492, "Ærø Kommune", 6),
        (510, "Haderslev Kommune", 55),
        (530, "Billund Kommune", 27),
        (540, "Sønderborg Kommune", 74),
        (550, "Tønder Kommune", 37),
        (561, "Esbjerg Kommune", 115),
        (563, "Fanø Kommune", 3),
        (573, "Varde Kommune", 50),
        (575, "Vejen Kommune", 43),
        (580, "Aabenraa Kommune", 58),
        (607, "Fredericia Kommune", 52),
        (621, "Kolding Kommune", 94),
        (630, "Vejle Kommune", 121),
    ),
    MIDTJYLLAND: (
        (615, "Horsens Kommune", 97),
        (657, "Herning Kommune", 90),
        (661, "Holstebro Kommune", 59),
        (665, "Lemvig Kommune", 19),
        (671, "Struer Kommune", 21),
        (706, "Syddjurs Kommune", 44),
        (707, "Norddjurs Kommune", 37),
        (710, "Favrskov Kommune", 50),
        (727, "Odder Kommune", 24),
        (730, "Randers Kommune", 99),
        (740, "Silkeborg Kommune", 98),
        (741, "Samsø Kommune", 4),
        (746, "Skanderborg Kommune", 64),
        (751, "Aarhus Kommune", 365),
        (756, "Ikast-Brande Kommune", 42),
        (760, "Ringkøbing-Skjern Kommune", 56),
        (766, "Hedensted Kommune", 47),
        (779, "Skive Kommune", 46),
        (791, "Viborg Kommune", 98),
    ),
    NORDJYLLAND: (
        (773, "Morsø Kommune", 20),
        (787, "Thisted Kommune", 43),
        (810, "Brønderslev Kommune", 36),
        (813, "Frederikshavn Kommune", 58),
        (820, "Vesthimmerlands Kommune", 36),
        (825, "Læsø Kommune", 2),
        (840, "Rebild Kommune", 30),
        (846, "Mariagerfjord Kommune", 42),
        (849, "Jammerbugt Kommune", 38),
        (851, "Aalborg Kommune", 221),
        (860, "Hjørring Kommune", 64),
    ),
}

MUNICIPALITIES: Final = tuple(
    Municipality(code=f"{code:04d}", name=name, region=region, population_k=population)
    for region, entries in _BY_REGION.items()
    for code, name, population in entries
)

HOSPITALS: Final = (
    Hospital("Rigshospitalet", HOVEDSTADEN),
    Hospital("Herlev og Gentofte Hospital", HOVEDSTADEN),
    Hospital("Bispebjerg og Frederiksberg Hospital", HOVEDSTADEN),
    Hospital("Amager og Hvidovre Hospital", HOVEDSTADEN),
    Hospital("Nordsjællands Hospital", HOVEDSTADEN),
    Hospital("Bornholms Hospital", HOVEDSTADEN),
    Hospital("Sjællands Universitetshospital, Køge", SJAELLAND),
    Hospital("Sjællands Universitetshospital, Roskilde", SJAELLAND),
    Hospital("Holbæk Sygehus", SJAELLAND),
    Hospital("Nykøbing Falster Sygehus", SJAELLAND),
    Hospital("Næstved, Slagelse og Ringsted Sygehuse", SJAELLAND),
    Hospital("Odense Universitetshospital", SYDDANMARK),
    Hospital("Sygehus Lillebælt", SYDDANMARK),
    Hospital("Sydvestjysk Sygehus", SYDDANMARK),
    Hospital("Sygehus Sønderjylland", SYDDANMARK),
    Hospital("Aarhus Universitetshospital", MIDTJYLLAND),
    Hospital("Regionshospitalet Gødstrup", MIDTJYLLAND),
    Hospital("Regionshospitalet Randers", MIDTJYLLAND),
    Hospital("Regionshospitalet Horsens", MIDTJYLLAND),
    Hospital("Regionshospitalet Viborg", MIDTJYLLAND),
    Hospital("Aalborg Universitetshospital", NORDJYLLAND),
    Hospital("Regionshospital Nordjylland", NORDJYLLAND),
)
