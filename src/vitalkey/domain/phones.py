"""Phone numbers for the second factor: parsed and normalised to E.164 with phonenumbers, and
limited to the countries an operator allows (toll-fraud defence, SPEC "SMS delivery and abuse")."""

from __future__ import annotations

import phonenumbers

from vitalkey.domain.errors import DomainError
from vitalkey.domain.i18n import N_

MAX_INPUT = 64


class InvalidPhone(DomainError):
    code = "invalid_phone"
    message = N_("Please enter a valid mobile phone number, with its country code (for example +33 6 12 34 56 78).")
    field = "phone"


# With a country chosen in the list, a number needs no country code: the error asks for none.
NOT_VALID_FOR_COUNTRY = N_("Please enter a valid mobile phone number of the country chosen in the list.")
MISSING = N_("Please enter your mobile phone number.")


class CountryNotAllowed(DomainError):
    """``territory``, when known: the number's country or territory (ISO 3166 code), named in
    the message because it may not be the one chosen (a Guernsey number shares +44 with the UK)."""

    code = "country_not_allowed"
    message = N_("Text messages cannot be sent to numbers of this country. Please use another number.")
    field = "phone"


FROM_TERRITORY = N_("This number is from %(territory)s: text messages cannot be sent there. Please use another number.")


def normalize_phone(raw: str, allowed_regions: frozenset[str], default_region: str | None = None) -> str:
    """The number in E.164 (``+33612345678``), or a domain error saying what is wrong. Landlines
    and other numbers that cannot receive a text are refused. ``default_region``: the country
    chosen in the list, for a number typed without its country code."""
    text = raw.strip()
    if not text:
        raise InvalidPhone(MISSING)
    national = default_region is not None and not text.startswith("+")  # read as of the chosen country
    invalid = InvalidPhone(NOT_VALID_FOR_COUNTRY) if national else InvalidPhone()
    if len(text) > MAX_INPUT:
        raise invalid
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise invalid from exc
    if not phonenumbers.is_valid_number(number):
        raise invalid
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise invalid
    region = phonenumbers.region_code_for_number(number)
    if region not in allowed_regions:  # a territory is allowed only if listed itself (GG is not GB)
        if region and len(region) == 2 and region.isalpha():
            raise CountryNotAllowed(FROM_TERRITORY, territory=region)
        raise CountryNotAllowed()  # a non-geographic number (+800 …)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region_of(e164: str) -> str:
    """The country (ISO 3166 code) of a normalised number."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164)) or "ZZ"


def range_of(e164: str) -> str:
    """The number's range (all but its last 4 digits): toll fraud pumps many numbers of one range."""
    return e164[:-4]
