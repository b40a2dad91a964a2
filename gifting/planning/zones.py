"""IANA time zones of the countries the program ships to, by state or province where they differ.

Used only when a contact has no valid time zone of its own. A state missing from a table falls
back to the country's ``*`` entry, the zone where most of its people live.
"""

from __future__ import annotations

US_STATES: dict[str, str] = {
    **dict.fromkeys(
        (
            [
                "CT",
                "DC",
                "DE",
                "FL",
                "GA",
                "IN",
                "MA",
                "MD",
                "ME",
                "MI",
                "NC",
                "NH",
                "NJ",
                "NY",
                "OH",
                "PA",
                "RI",
                "SC",
                "VA",
                "VT",
                "WV",
            ]
        ),
        "America/New_York",
    ),
    **dict.fromkeys(
        [
            "AL",
            "AR",
            "IA",
            "IL",
            "KS",
            "KY",
            "LA",
            "MN",
            "MO",
            "MS",
            "ND",
            "NE",
            "OK",
            "SD",
            "TN",
            "TX",
            "WI",
        ],
        "America/Chicago",
    ),
    **dict.fromkeys(["CO", "ID", "MT", "NM", "UT", "WY"], "America/Denver"),
    "AZ": "America/Phoenix",
    **dict.fromkeys(["CA", "NV", "OR", "WA"], "America/Los_Angeles"),
    "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu",
    "PR": "America/Puerto_Rico",
    "*": "America/New_York",
}
CA_PROVINCES: dict[str, str] = {
    **dict.fromkeys(("ON", "QC"), "America/Toronto"),
    "BC": "America/Vancouver",
    "AB": "America/Edmonton",
    "MB": "America/Winnipeg",
    "SK": "America/Regina",
    **dict.fromkeys(("NS", "PE"), "America/Halifax"),
    "NB": "America/Moncton",
    "NL": "America/St_Johns",
    "YT": "America/Whitehorse",
    "NT": "America/Yellowknife",
    "NU": "America/Iqaluit",
    "*": "America/Toronto",
}
AU_STATES: dict[str, str] = {
    "NSW": "Australia/Sydney",
    "ACT": "Australia/Sydney",
    "VIC": "Australia/Melbourne",
    "QLD": "Australia/Brisbane",
    "SA": "Australia/Adelaide",
    "WA": "Australia/Perth",
    "TAS": "Australia/Hobart",
    "NT": "Australia/Darwin",
    "*": "Australia/Sydney",
}
ZONES_BY_COUNTRY: dict[str, dict[str, str]] = {
    "US": US_STATES,
    "CA": CA_PROVINCES,
    "AU": AU_STATES,
    "GB": {"*": "Europe/London"},
    "DE": {"*": "Europe/Berlin"},
    "FR": {"*": "Europe/Paris"},
    "NL": {"*": "Europe/Amsterdam"},
    "ES": {"*": "Europe/Madrid", "CN": "Atlantic/Canary"},
    "IT": {"*": "Europe/Rome"},
    "JP": {"*": "Asia/Tokyo"},
    "SG": {"*": "Asia/Singapore"},
    "IN": {"*": "Asia/Kolkata"},
    "BR": {"*": "America/Sao_Paulo", "AM": "America/Manaus", "MT": "America/Cuiaba"},
}
# Country names the CRM may hold instead of ISO 3166-1 alpha-2 codes.
COUNTRY_NAMES: dict[str, str] = {
    "UNITED STATES": "US",
    "USA": "US",
    "CANADA": "CA",
    "AUSTRALIA": "AU",
    "UNITED KINGDOM": "GB",
    "UK": "GB",
    "GERMANY": "DE",
    "DEUTSCHLAND": "DE",
    "FRANCE": "FR",
    "NETHERLANDS": "NL",
    "SPAIN": "ES",
    "ITALY": "IT",
    "JAPAN": "JP",
    "SINGAPORE": "SG",
    "INDIA": "IN",
    "BRAZIL": "BR",
}
