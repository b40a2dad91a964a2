"""Vocabulary of the sample org: countries, names, titles and the text of notes and cases.

Every person and company here is invented. Streets are common street names with random house
numbers and postal codes. Email domains end in ``.example`` (reserved by RFC 2606) and North
American phone numbers use the 555-01xx block reserved for fiction, so no Email or call from the
sandbox can reach a real person.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    """A billing or mailing city with its state or region and IANA time zone."""

    name: str
    state: str | None
    time_zone: str


@dataclass(frozen=True)
class Country:
    """Address and naming conventions of one ISO 3166-1 alpha-2 country.

    ``postal_code`` and ``phone`` are patterns in which ``#`` becomes a digit and ``@`` an
    uppercase letter. ``street`` is a format string with ``{name}`` and ``{number}``.
    """

    code: str
    weight: int
    cities: tuple[City, ...]
    postal_code: str
    phone: str
    street: str
    street_names: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    company_suffixes: tuple[str, ...]


# Japanese people and companies get a native spelling and a romanised one for Email addresses.
JAPANESE_FIRST_NAMES: dict[str, str] = {
    "翔太": "shota",
    "美咲": "misaki",
    "健一": "kenichi",
    "由美": "yumi",
    "大輔": "daisuke",
    "さくら": "sakura",
    "拓也": "takuya",
    "直子": "naoko",
}
JAPANESE_LAST_NAMES: dict[str, str] = {
    "佐藤": "sato",
    "鈴木": "suzuki",
    "高橋": "takahashi",
    "田中": "tanaka",
    "渡辺": "watanabe",
    "伊藤": "ito",
    "中村": "nakamura",
    "小林": "kobayashi",
}
JAPANESE_COMPANY_STEMS: dict[str, str] = {
    "青葉": "aoba",
    "北斗": "hokuto",
    "翠光": "suiko",
    "朝日野": "asahino",
    "白鷺": "shirasagi",
    "大和川": "yamatogawa",
}
JAPANESE_COMPANY_KINDS: dict[str, str] = {
    "精機": "seiki",
    "システム": "system",
    "データ": "data",
    "商事": "shoji",
    "物流": "logistics",
}

_ENGLISH_FIRST = (
    "Olivia",
    "Liam",
    "Priya",
    "Marcus",
    "Hannah",
    "Diego",
    "Grace",
    "Samuel",
    "Aisha",
)
_ENGLISH_LAST = ("Carter", "O'Neill", "Nguyen", "Patel", "Brooks", "Whitfield", "Okafor", "Ramsey")

COUNTRIES: tuple[Country, ...] = (
    Country(
        "US",
        40,
        (
            City("San Francisco", "CA", "America/Los_Angeles"),
            City("Austin", "TX", "America/Chicago"),
            City("New York", "NY", "America/New_York"),
            City("Chicago", "IL", "America/Chicago"),
            City("Denver", "CO", "America/Denver"),
            City("Boston", "MA", "America/New_York"),
            City("Seattle", "WA", "America/Los_Angeles"),
        ),
        "#####",
        "+1 415 555 01##",
        "{number} {name}",
        ("Market Street", "Elm Avenue", "Harbor Boulevard", "Cedar Lane", "Lakeview Drive"),
        (*_ENGLISH_FIRST, "Tyler", "Jasmine", "Miguel"),
        (*_ENGLISH_LAST, "Alvarez", "Kowalski", "Johnson"),
        ("Inc.", "LLC", "Corp."),
    ),
    Country(
        "CA",
        6,
        (
            City("Toronto", "ON", "America/Toronto"),
            City("Montréal", "QC", "America/Toronto"),
            City("Vancouver", "BC", "America/Vancouver"),
        ),
        "@#@ #@#",
        "+1 416 555 01##",
        "{number} {name}",
        ("Rue Sainte-Catherine", "King Street West", "Granville Street"),
        ("Émilie", "Noah", "Chloé", "Ethan", "Amélie", "Jacob"),
        ("Tremblay", "Gagnon", "MacDonald", "Roy", "Côté", "Wilson"),
        ("Inc.", "Ltd."),
    ),
    Country(
        "GB",
        10,
        (
            City("London", "England", "Europe/London"),
            City("Manchester", "England", "Europe/London"),
            City("Edinburgh", "Scotland", "Europe/London"),
        ),
        "@@# #@@",
        "+44 20 7946 0###",
        "{number} {name}",
        ("Fenwick Road", "Kingsway", "Albion Street", "Queen's Parade"),
        ("Oliver", "Amelia", "Harry", "Isla", "George", "Freya", "Siobhan"),
        ("Smith", "Hughes", "D'Arcy", "Fletcher", "McAllister", "Evans"),
        ("Ltd", "plc"),
    ),
    Country(
        "DE",
        8,
        (
            City("Berlin", "BE", "Europe/Berlin"),
            City("München", "BY", "Europe/Berlin"),
            City("Köln", "NW", "Europe/Berlin"),
            City("Hamburg", "HH", "Europe/Berlin"),
        ),
        "#####",
        "+49 30 #######",
        "{name} {number}",
        ("Lindenstraße", "Schillerweg", "Am Mühlbach", "Königsallee"),
        ("Jürgen", "Lena", "Matthias", "Sophie", "Lukas", "Anja", "Björn"),
        ("Müller", "Schäfer", "Weiß", "Becker", "Hoffmann", "Krüger"),
        ("GmbH", "AG", "GmbH & Co. KG"),
    ),
    Country(
        "FR",
        5,
        (
            City("Paris", "Île-de-France", "Europe/Paris"),
            City("Lyon", "Auvergne-Rhône-Alpes", "Europe/Paris"),
        ),
        "#####",
        "+33 1 ## ## ## ##",
        "{number} {name}",
        ("rue des Lilas", "avenue Jean-Jaurès", "boulevard de l'Hôpital"),
        ("Léa", "Hugo", "Chloé", "Théo", "Manon", "François"),
        ("Dubois", "Lefèvre", "Moreau", "Girard", "Rousseau"),
        ("SAS", "SA"),
    ),
    Country(
        "NL",
        4,
        (
            City("Amsterdam", "NH", "Europe/Amsterdam"),
            City("Utrecht", "UT", "Europe/Amsterdam"),
        ),
        "#### @@",
        "+31 20 ### ####",
        "{name} {number}",
        ("Keizersgracht", "Vondelstraat", "Oudegracht"),
        ("Sanne", "Daan", "Femke", "Joost", "Lotte"),
        ("de Vries", "van Dijk", "Jansen", "Bakker", "van den Berg"),
        ("B.V.", "N.V."),
    ),
    Country(
        "ES",
        3,
        (City("Madrid", "Madrid", "Europe/Madrid"), City("Barcelona", "Cataluña", "Europe/Madrid")),
        "#####",
        "+34 91 ### ## ##",
        "{name}, {number}",
        ("Calle de Alcalá", "Passeig de Gràcia", "Calle del Pez"),
        ("Lucía", "Javier", "Marta", "Álvaro", "Nuria"),
        ("García", "Fernández", "Muñoz", "López", "Ibáñez"),
        ("S.L.", "S.A."),
    ),
    Country(
        "IT",
        3,
        (City("Milano", "MI", "Europe/Rome"), City("Roma", "RM", "Europe/Rome")),
        "#####",
        "+39 02 #### ####",
        "{name}, {number}",
        ("Via Torino", "Corso Venezia", "Via dei Fiori"),
        ("Giulia", "Marco", "Chiara", "Niccolò", "Francesca"),
        ("Rossi", "Bianchi", "Esposito", "Colombo", "D'Angelo"),
        ("S.p.A.", "S.r.l."),
    ),
    Country(
        "AU",
        5,
        (
            City("Sydney", "NSW", "Australia/Sydney"),
            City("Melbourne", "VIC", "Australia/Melbourne"),
            City("Perth", "WA", "Australia/Perth"),
        ),
        "####",
        "+61 2 5550 ####",
        "{number} {name}",
        ("George Street", "Flinders Lane", "Hay Street"),
        ("Chloe", "Jack", "Matilda", "Lachlan", "Ruby"),
        ("Murphy", "Kelly", "Thompson", "Nguyen", "O'Connor"),
        ("Pty Ltd",),
    ),
    Country(
        "JP",
        5,
        (City("千代田区", "東京都", "Asia/Tokyo"), City("大阪市北区", "大阪府", "Asia/Tokyo")),
        "###-####",
        "+81 3 ####-####",
        "{name}{number}",
        ("丸の内1丁目", "梅田2丁目", "大手町3丁目"),
        tuple(JAPANESE_FIRST_NAMES),
        tuple(JAPANESE_LAST_NAMES),
        ("株式会社",),
    ),
    Country(
        "SG",
        3,
        (City("Singapore", None, "Asia/Singapore"),),
        "######",
        "+65 6### ####",
        "{number} {name}",
        ("Robinson Road", "Tanjong Pagar Road", "Anson Road"),
        ("Wei Ling", "Jun Hao", "Priya", "Siti", "Marcus"),
        ("Tan", "Lim", "Ng", "Rahman", "Pillai"),
        ("Pte. Ltd.",),
    ),
    Country(
        "IN",
        5,
        (
            City("Bengaluru", "KA", "Asia/Kolkata"),
            City("Mumbai", "MH", "Asia/Kolkata"),
            City("Pune", "MH", "Asia/Kolkata"),
        ),
        "######",
        "+91 22 #### ####",
        "{number}, {name}",
        ("MG Road", "Residency Road", "Linking Road"),
        ("Ananya", "Rohan", "Kavya", "Arjun", "Meera", "Vikram"),
        ("Sharma", "Iyer", "Reddy", "Banerjee", "Nair"),
        ("Pvt. Ltd.",),
    ),
    Country(
        "BR",
        3,
        (City("São Paulo", "SP", "America/Sao_Paulo"), City("Curitiba", "PR", "America/Sao_Paulo")),
        "#####-###",
        "+55 11 ####-####",
        "{name}, {number}",
        ("Avenida Paulista", "Rua Augusta", "Rua XV de Novembro"),
        ("João", "Ana", "Lucas", "Beatriz", "Gonçalo", "Letícia"),
        ("Silva", "Souza", "Conceição", "Araújo", "Gonçalves"),
        ("Ltda.", "S.A."),
    ),
)
COUNTRY_WEIGHTS: tuple[int, ...] = tuple(country.weight for country in COUNTRIES)

COMPANY_STEMS: tuple[str, ...] = (
    "Northwind",
    "Bluefin",
    "Kestrel",
    "Lumen",
    "Granite Peak",
    "Harbor & Vine",
    "Corvid",
    "Juniper",
    "Aurelia",
    "O'Malley",
    "Fjällblick",
    "Crème de la Data",
    "Brightwater",
    "Saffron",
    "Halcyon",
    "Nordlicht",
    "Ironbark",
    "Zephyr",
    "Mosaic",
    "Tidewater",
)
COMPANY_KINDS: tuple[str, ...] = (
    "Analytics",
    "Logistics",
    "Health",
    "Robotics",
    "Capital",
    "Foods",
    "Energy",
    "Learning",
    "Media",
    "Systems",
    "Labs",
    "Manufacturing",
)

INDUSTRIES: tuple[str, ...] = (
    "Technology",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Education",
    "Government",
    "Media",
    "Energy",
    "Transportation",
)
INDUSTRY_WEIGHTS: tuple[int, ...] = (30, 14, 12, 12, 9, 7, 4, 5, 4, 3)

# Primary contacts sign or sponsor the deal, so they are senior. The others do the work.
SENIOR_TITLES: tuple[str, ...] = (
    "VP of Operations",
    "VP Engineering",
    "Director of IT",
    "Director of Customer Success",
    "Head of Finance",
    "Head of Data",
    "CFO",
    "CTO",
    "COO",
    "Chief Revenue Officer",
)
STAFF_TITLES: tuple[str, ...] = (
    "IT Manager",
    "Operations Manager",
    "Procurement Manager",
    "Senior Software Engineer",
    "Data Engineer",
    "Business Analyst",
    "Finance Manager",
    "Support Team Lead",
)

PRIMARY_ROLES: tuple[str, ...] = ("Decision Maker", "Executive Sponsor", "Economic Buyer")
OTHER_ROLES: tuple[str, ...] = ("Champion", "End User", "Economic Buyer", "Decision Maker")

GIFT_PREFERENCES: tuple[str, ...] = (
    "no_alcohol",
    "vegetarian",
    "vegan",
    "gluten_free",
    "coffee",
    "tea",
    "books",
    "outdoors",
    "cooking",
    "music",
    "charity",
)

# A sentence a sales rep or CSM would jot down that reveals each gift preference.
PREFERENCE_HINTS: dict[str, str] = {
    "no_alcohol": "{first} doesn't drink, so no wine or champagne.",
    "vegetarian": "{first} is vegetarian; we picked a veggie place for lunch.",
    "vegan": "{first} mentioned being vegan for years now.",
    "gluten_free": "{first} is coeliac and has to eat gluten-free.",
    "coffee": "{first} roasts coffee at home and had strong opinions on our office espresso.",
    "tea": "{first} is a tea person, keeps a drawer of loose-leaf oolong.",
    "books": "{first} is always reading something; recommended a history of the Silk Road.",
    "outdoors": "{first} loves trail running and is training for a 50k.",
    "cooking": "{first} has been cooking through a Sichuan cookbook on weekends.",
    "music": "{first} plays bass in a weekend band.",
    "charity": "{first} volunteers at a food bank and asked us to skip swag.",
}

USE_CASES: tuple[str, ...] = (
    "Automate invoice reconciliation",
    "Replace spreadsheet forecasting",
    "Self-serve dashboards for regional teams",
    "Consolidate the support inbox",
    "Onboarding workflow for new hires",
    "Field service scheduling",
    "Supplier risk monitoring",
)
GOALS: tuple[str, ...] = (
    "Cut month-end close from 10 to 4 days",
    "Reduce the ticket backlog by 30 %",
    "One forecast the board trusts",
    "Retire three legacy tools by Q4",
    "Halve time-to-productivity for new staff",
    "Answer ad-hoc data requests within a day",
)
TEAMS: tuple[str, ...] = ("EMEA", "APAC", "finance", "support", "warehouse", "marketing")

SALES_NOTES: tuple[tuple[str, str, str], ...] = (
    (
        "Call",
        "Discovery call",
        "Walked through the current process; pain is manual reconciliation.",
    ),
    ("Email", "Sent pricing proposal", "Shared tiered pricing and the security questionnaire."),
    ("Call", "Technical deep dive", "Their engineers asked about SSO and the audit log API."),
    ("Note", "Procurement update", "Legal redlines on the DPA are back; nothing blocking."),
    ("Email", "Follow-up on demo", "Sent the recording and a sandbox login for the {team} team."),
)
CUSTOMER_NOTES: tuple[tuple[str, str, str], ...] = (
    ("Call", "Onboarding check-in", "Discussed rollout to the {team} team; training is booked."),
    ("Email", "Admin training recap", "Sent slides and the admin checklist after training."),
    ("Note", "Health check", "Usage is up week over week; two power users in {team}."),
    ("Call", "Renewal planning", "Talked through next year's seat count and budget timing."),
    ("Note", "Exec sync", "Sponsor wants a case study once the {team} rollout is done."),
)

CASE_SUBJECTS: tuple[str, ...] = (
    "SSO login fails for some users",
    "CSV export times out on large reports",
    "Webhook deliveries delayed",
    "Request to add sandbox users",
    "Dashboard shows stale numbers",
    "Question about invoice line items",
    "API rate limit errors during nightly sync",
)
OPEN_CASE_STATUSES: tuple[str, ...] = ("New", "Working", "Escalated")

SELLER_DOMAIN = "gifting-demo.example"
OWNER_NAMES: tuple[tuple[str, str], ...] = (
    ("Avery", "Collins"),
    ("Jordan", "Mbeki"),
    ("Rosa", "Lindqvist"),
    ("Kenji", "Morales"),
    ("Fatima", "Haddad"),
    ("Connor", "O'Sullivan"),
    ("Ines", "Duarte"),
    ("Mateo", "Schneider"),
    ("Nadia", "Petrova"),
    ("Sam", "Whitaker"),
    ("Leila", "Karimi"),
    ("Tom", "Barnes"),
)
