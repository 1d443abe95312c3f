"""The fixed vocabulary of the synthetic wine merchant: wine styles, taste profiles, names.

A *style* is one appellation made from one grape: it fixes the family, the sugar level, a base
aroma profile (7 axes, 1–5), a typical shelf price incl. VAT and the season tags. Products are
drawn from styles, so their attributes are consistent. A *taste profile* (cluster) is a weighted
set of styles that one kind of customer buys; co-purchase signals come from these profiles.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from reco.vocab import AROMA_AXES

SEASON_TAGS = ("summer", "christmas", "spring", "autumn", "aperitif", "bbq")
#: Upper bounds (exclusive, unit price incl. VAT) of premium tiers 0, 1, 2 (3 above).
PREMIUM_TIER_EDGES = (12.0, 25.0, 50.0)
VAT_RATE = 0.20


@dataclass(frozen=True)
class Style:
    family: str
    cepage: str
    appellation: str
    sugar: str
    aroma: tuple[int, int, int, int, int, int, int]  # AROMA_AXES order
    price: float  # typical shelf price incl. VAT, euros
    tags: tuple[str, ...]
    prefixes: tuple[str, ...]  # producer prefixes used in labels
    vintage: bool = True  # False: non-vintage (most sparkling and fortified wines)


def _load_styles() -> tuple[Style, ...]:
    """The wine styles, from the table ``styles.csv`` next to this module."""
    with (Path(__file__).parent / "styles.csv").open(encoding="utf-8", newline="") as f:
        return tuple(
            Style(
                family=row["family"],
                cepage=row["cepage"],
                appellation=row["appellation"],
                sugar=row["sugar"],
                aroma=tuple(int(row[axis]) for axis in AROMA_AXES),  # type: ignore[arg-type]
                price=float(row["price"]),
                tags=tuple(row["season_tags"].split("|")),
                prefixes=tuple(row["prefixes"].split("|")),
                vintage=row["vintage"] == "yes",
            )
            for row in csv.DictReader(f)
        )


#: One row per appellation × grape: family, sugar, base aromas, typical price, season, labels.
STYLES: tuple[Style, ...] = _load_styles()

_STYLE_INDEX = {s.appellation: i for i, s in enumerate(STYLES)}

#: Taste profiles: population share and the styles (by appellation) with their weights.
TASTE_PROFILES: dict[str, tuple[float, dict[str, float]]] = {
    "bordeaux": (
        0.20,
        {
            "Saint-Émilion": 3,
            "Pomerol": 1,
            "Médoc": 3,
            "Pauillac": 1,
            "Graves": 1.5,
            "Sauternes": 0.5,
            "Cahors": 0.5,
            "Madiran": 0.5,
        },
    ),
    "bourgogne": (
        0.14,
        {
            "Bourgogne": 3,
            "Gevrey-Chambertin": 1,
            "Chablis": 2,
            "Meursault": 1,
            "Mâcon-Villages": 2,
            "Crémant de Bourgogne": 1,
        },
    ),
    "rhone_sud": (
        0.14,
        {
            "Côtes du Rhône": 3,
            "Châteauneuf-du-Pape": 2,
            "Crozes-Hermitage": 2,
            "Côte-Rôtie": 1,
            "Condrieu": 0.5,
            "Tavel": 1,
            "Bandol": 1,
            "Banyuls": 0.5,
        },
    ),
    "loire": (
        0.10,
        {
            "Sancerre": 3,
            "Touraine": 2,
            "Vouvray": 2,
            "Chinon": 2,
            "Muscadet Sèvre-et-Maine": 2,
            "Crémant de Loire": 1,
            "Coteaux du Layon": 1,
            "Rosé d'Anjou": 1,
        },
    ),
    "alsace": (
        0.06,
        {
            "Alsace Riesling": 3,
            "Alsace Gewurztraminer": 2,
            "Crémant d'Alsace": 2,
            "Alsace Vendanges Tardives": 1,
        },
    ),
    "bulles": (
        0.08,
        {
            "Champagne Brut": 3,
            "Champagne Blanc de Blancs": 2,
            "Champagne Rosé": 1.5,
            "Crémant de Loire": 1,
            "Crémant d'Alsace": 1,
            "Crémant de Bourgogne": 1,
            "Champagne Demi-Sec": 0.5,
        },
    ),
    "ete_rose": (
        0.10,
        {
            "Côtes de Provence Rosé": 3,
            "Coteaux d'Aix-en-Provence Rosé": 2,
            "Tavel": 1,
            "Bandol Rosé": 1,
            "Rosé d'Anjou": 1,
            "Beaujolais": 1,
            "Muscadet Sèvre-et-Maine": 1,
        },
    ),
    "doux": (
        0.04,
        {
            "Sauternes": 2,
            "Monbazillac": 2,
            "Coteaux du Layon": 1,
            "Alsace Vendanges Tardives": 1,
            "Jurançon": 1,
            "Banyuls": 1,
            "Maury": 1,
            "Muscat de Beaumes-de-Venise": 1,
            "Muscat de Rivesaltes": 1,
            "Pineau des Charentes": 1,
        },
    ),
    "rouge_leger": (0.06, {"Beaujolais": 3, "Morgon": 2, "Bourgogne": 1, "Chinon": 1}),
    "sud": (
        0.08,
        {
            "Pic Saint-Loup": 3,
            "Corbières": 3,
            "Côtes du Rhône": 1,
            "Cahors": 1,
            "Madiran": 1,
            "Muscat de Rivesaltes": 0.5,
            "Bandol": 1,
        },
    ),
}
#: What people buy for Christmas, whatever their usual taste.
FESTIVE_PROFILE: dict[str, float] = {
    "Champagne Brut": 3,
    "Champagne Blanc de Blancs": 2,
    "Champagne Rosé": 1,
    "Sauternes": 1.5,
    "Pomerol": 1,
    "Pauillac": 1,
    "Gevrey-Chambertin": 1,
    "Meursault": 1,
    "Banyuls": 0.5,
    "Châteauneuf-du-Pape": 1,
}


def style_weights(profile: dict[str, float]) -> list[float]:
    """A profile's weights as a dense vector over STYLES."""
    weights = [0.0] * len(STYLES)
    for appellation, weight in profile.items():
        weights[_STYLE_INDEX[appellation]] = weight
    return weights


PRODUCER_NAMES = (
    "des Ormes",
    "Saint-Aubin",
    "de la Rivière",
    "Les Granges",
    "du Val",
    "Belle-Côte",
    "de Beauséjour",
    "La Fleur",
    "des Pèlerins",
    "du Moulin",
    "de la Tour",
    "Les Hauts",
    "des Chênes",
    "de l'Étang",
    "Bellevue",
    "des Sablons",
    "du Prieuré",
    "La Croix",
    "des Vignes Hautes",
    "de la Garenne",
    "Mont-Redon",
    "des Terres Blanches",
    "du Haut-Bois",
    "de la Côte Rôtie",
    "Grand-Pré",
    "des Genêts",
    "Roche-Fleurie",
    "de la Chapelle",
    "des Aubépines",
    "Saint-Vincent",
    "Lafontaine",
    "Delcourt",
    "Marchand",
    "Perrier-Jouan",
    "Guérin",
    "Lefèvre",
    "Beaumont",
    "de Montlouis",
    "du Coteau",
    "Les Cailloux",
)

FIRST_NAMES = (
    "Marie",
    "Jean",
    "Pierre",
    "Hélène",
    "François",
    "Françoise",
    "Chloé",
    "Zoé",
    "Léa",
    "Noël",
    "Anaïs",
    "Jérôme",
    "Benoît",
    "Gaëlle",
    "Céline",
    "Amélie",
    "Aurélie",
    "Clément",
    "Théo",
    "Raphaël",
    "Loïc",
    "Maëlle",
    "Joël",
    "Stéphane",
    "Sébastien",
    "Frédéric",
    "Agnès",
    "Camille",
    "Nicolas",
    "Julien",
    "Sophie",
    "Isabelle",
    "Nathalie",
    "Philippe",
    "Michel",
    "Thomas",
    "Lucas",
    "Emma",
    "Louise",
    "Hugo",
    "Manon",
    "Inès",
    "Élodie",
    "Valérie",
    "Sandrine",
    "Christophe",
    "Laurent",
    "Émilie",
    "Jacques",
    "Monique",
    "André",
    "Thérèse",
    "Mathilde",
    "Antoine",
    "Paul",
)

LAST_NAMES = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
    "Garnier",
    "Faure",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Muller",
    "Henry",
    "Roussel",
    "Nicolas",
    "Perrin",
    "Morin",
    "Mathieu",
    "Clément",
    "Gauthier",
    "Dumont",
    "Lopez",
    "Fontaine",
    "Chevalier",
    "Robin",
    "Masson",
    "Gérard",
    "Nguyen",
    "Boyer",
    "Denis",
    "Lemaire",
    "Duval",
    "Joly",
    "Roche",
    "Noël",
    "Meyer",
    "Lucas",
    "Meunier",
    "Pérez",
    "Marchand",
    "Dufour",
    "Blanchard",
    "Barbier",
    "Brun",
    "Dumas",
    "Brunet",
    "Schmitt",
    "Leroux",
    "Colin",
    "Renard",
    "Arnaud",
    "Caron",
    "Aubert",
    "Giraud",
    "Leclerc",
    "Vidal",
    "Bourgeois",
    "Lemoine",
    "Picard",
    "Gaillard",
    "Lacroix",
    "Fabre",
    "Dupuis",
    "Rivière",
    "Le Gall",
    "Prévost",
    "Carré",
    "Rémy",
    "Da Silva",
    "Le Roux",
    "Besnard",
    "Hervé",
    "Thibault",
    "Chauvin",
    "Régnier",
    "Bécue",
)

EMAIL_DOMAINS = (
    ("gmail.com", 0.34),
    ("orange.fr", 0.16),
    ("free.fr", 0.09),
    ("hotmail.fr", 0.09),
    ("yahoo.fr", 0.07),
    ("laposte.net", 0.06),
    ("sfr.fr", 0.05),
    ("outlook.fr", 0.05),
    ("wanadoo.fr", 0.05),
    ("icloud.com", 0.04),
)
#: Old e-mail providers that customers leave (the older CRM export still has those addresses).
OLD_EMAIL_DOMAINS = ("wanadoo.fr", "aol.com", "club-internet.fr", "neuf.fr")

COUNTRIES = (
    ("France", 0.92),
    ("Belgique", 0.03),
    ("Suisse", 0.02),
    ("Luxembourg", 0.01),
    ("Allemagne", 0.01),
    ("Royaume-Uni", 0.01),
)

#: Volume suffixes the ERP appends to invoice labels.
VOLUME_SUFFIXES = (" 75cl", " 0,75L", " 75 CL", " - 75CL", " 0.75l", " (75cl)")
