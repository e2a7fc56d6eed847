"""Fictional content for generated messages: names, practitioner roles, care notes. Written for the demo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

FAMILY_NAMES: Final = (
    "Jensen",
    "Nielsen",
    "Hansen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Jørgensen",
    "Petersen",
    "Madsen",
    "Kristensen",
    "Olsen",
    "Thomsen",
    "Poulsen",
)
GIVEN_NAMES_FEMALE: Final = (
    "Anne",
    "Kirsten",
    "Mette",
    "Hanne",
    "Helle",
    "Susanne",
    "Lene",
    "Maria",
    "Camilla",
    "Ida",
    "Emma",
    "Freja",
)
GIVEN_NAMES_MALE: Final = (
    "Peter",
    "Jens",
    "Lars",
    "Michael",
    "Henrik",
    "Søren",
    "Thomas",
    "Niels",
    "Rasmus",
    "Mads",
    "Frederik",
    "Oliver",
)
# Codes of the MedCom SKS administrative practitioner roles (medcom-core-PractitionerRolesSKSadministrativ).
ROLES: Final = ("sygeplejerske", "socialogsundhedsassistent", "overlaege", "afdelingslaege", "ergoterapeut")


@dataclass(frozen=True, slots=True)
class CareNote:
    category: str  # medcom-careCommunication-categoryCodes
    text: str  # {given} is the patient's first name
    attachment_title: str
    topic: str | None = None  # required when the category is "other"


CARE_NOTES: Final = (
    CareNote(
        "examination-results",
        "Kære kollega. Blodprøverne for {given} fra i går er nu svaret: normalt blodtal, let forhøjet CRP. "
        "Vi foreslår en ny prøve om en uge hos egen læge. Venlig hilsen afdelingen.",
        "Prøvesvar",
    ),
    CareNote(
        "carecoordination",
        "Hej. {given} udskrives efter planen på torsdag. Kan hjemmeplejen starte med morgenbesøg fra fredag? "
        "Ring gerne, hvis der er spørgsmål. Mvh. sygeplejersken.",
        "Plan for udskrivelse",
    ),
    CareNote(
        "medicine",
        "Til hjemmesygeplejen. {given}s dosis af vanddrivende medicin er halveret under indlæggelsen. "
        "Den opdaterede oversigt ligger i FMK. Venlig hilsen lægen.",
        "Medicinoversigt",
    ),
    CareNote(
        "nursing",
        "{given} har et lille tryksår på venstre hæl, som skiftes hver anden dag. Vi sender forbindinger "
        "med til de første tre dage. Mvh. sengeafsnittet.",
        "Sårbeskrivelse",
    ),
    CareNote(
        "home-care-assessment",
        "Vi beder om en vurdering af {given}s behov for hjælp i hjemmet. Borgeren går nu med rollator "
        "og har brug for hjælp til bad. Venlig hilsen terapeuterne.",
        "Funktionsbeskrivelse",
    ),
    CareNote(
        "assistive-devices",
        "{given} skal bruge en toiletforhøjer og et badebræt inden hjemkomst. Kan kommunen levere dem "
        "i denne uge? Mvh. ergoterapeuten.",
        "Hjælpemidler",
    ),
    CareNote(
        "training",
        "{given} har fået en genoptræningsplan efter sin hofteoperation. Træningen bør begynde inden for "
        "en uge. Planen er vedhæftet. Venlig hilsen fysioterapien.",
        "Genoptræningsplan",
    ),
    CareNote(
        "other",
        "Vi har modtaget jeres henvendelse om {given} og vender tilbage i morgen formiddag. "
        "Venlig hilsen sekretariatet.",
        "Kvittering",
        topic="Svar på henvendelse",
    ),
)
