"""Numbers read out as words: plain numbers, negatives, money and percentages in every language num2words
knows; dates, times, decades, ordinals, units and bare ranges (5-10) in English only.

Pure functions over strings. num2words does the spelling; where it cannot say a number in a language, the
digits stay as written for the engine to read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache, partial

from num2words import CONVERTER_CLASSES, num2words

# --- language settings ------------------------------------------------------------------------------------

_DECIMAL_COMMA_LANGS = frozenset({
    "de", "fr", "es", "it", "pt", "nl", "ru", "pl", "cs", "sk", "da", "sv", "no", "fi", "tr", "id", "ro", "uk", "hu",
    "sl", "hr", "sr", "lt", "lv", "be", "ca", "el", "is", "az", "kz", "bg", "et", "vi",
})  # fmt: skip
_SPACE_GROUP_LANGS = frozenset(
    {"fr", "ru", "pl", "cs", "sk", "sv", "no", "fi", "uk", "hu", "bg", "et", "lv", "lt", "be"}
)
_YEAR_STYLE_LANGS = frozenset({"en", "de", "nl"})  # where 1999 is said "nineteen ninety-nine", not as a count
_RANGE_WORDS = {"en": "to", "de": "bis", "fr": "à", "es": "a", "it": "a", "pt": "a", "nl": "tot"}  # 5-10 %
_PERCENT_WORDS = {"en": "percent", "de": "Prozent", "fr": "pour cent", "es": "por ciento", "it": "per cento",
                  "pt": "por cento", "nl": "procent"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _NumberSyntax:
    """How numbers are written in a language (1,234.5 or 1.234,5) and the patterns built on that."""

    group_separators: str
    decimal_point: str
    number: re.Pattern[str]
    percent: re.Pattern[str]
    unit: re.Pattern[str]
    money_before: re.Pattern[str]  # $5.50
    money_after: re.Pattern[str]  # 5,50 €, 5 USD

    def parse(self, raw: str) -> Decimal:
        digits = "".join(ch for ch in raw if ch not in self.group_separators)
        return Decimal(digits.replace(self.decimal_point, "."))


@dataclass(frozen=True, slots=True)
class Locale:
    """A language as number reading needs it: num2words' name for it, how it writes numbers, its date order."""

    base: str  # "en" for "en-GB"
    lang: str | None  # num2words' language; None leaves numbers to the engine
    day_first: bool  # 03/04/2024 is the 3rd of April
    syntax: _NumberSyntax
    minus: str  # the word for a minus sign; "" leaves the sign alone

    @property
    def english(self) -> bool:
        return self.base == "en"


@lru_cache(maxsize=64)
def locale_for(language: str) -> Locale:
    """The locale for a language tag as clients send it: "en", "en-GB", "pt_BR", "de+f3" (an espeak voice)."""
    code = re.split(r"[+\s]", language.strip(), maxsplit=1)[0].replace("-", "_")
    base, _, region = code.partition("_")
    base, region = {"nb": "no", "nn": "no"}.get(base.lower(), base.lower()), region.upper()
    candidates = (f"{base}_{region}", base) if region else (base,)
    lang = next((candidate for candidate in candidates if candidate in CONVERTER_CLASSES), None)
    groups = " ." if base in _SPACE_GROUP_LANGS else "." if base in _DECIMAL_COMMA_LANGS else ","
    syntax = _number_syntax(groups + "\u00a0\u202f", "," if base in _DECIMAL_COMMA_LANGS else ".", base == "en")
    return Locale(base, lang, bool(region) and region != "US", syntax, _minus_word(lang))


def _minus_word(lang: str | None) -> str:
    """The word num2words puts before negatives; some of its languages (Polish) cannot say -1 at all."""
    if lang is None:
        return ""
    try:
        return str(num2words(-1, lang=lang)).removesuffix(str(num2words(1, lang=lang))).strip()
    except (ValueError, NotImplementedError, TypeError, KeyError):
        return ""


_UNITS: dict[str, tuple[str, str]] = {
    "km": ("kilometer", "kilometers"), "m": ("meter", "meters"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "mi": ("mile", "miles"), "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"), "g": ("gram", "grams"), "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "l": ("liter", "liters"), "L": ("liter", "liters"), "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"), "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"), "mph": ("mile per hour", "miles per hour"),
    "m/s": ("meter per second", "meters per second"), "kB": ("kilobyte", "kilobytes"), "KB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"), "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"),
    "Mbps": ("megabit per second", "megabits per second"), "Gbps": ("gigabit per second", "gigabits per second"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"), "W": ("watt", "watts"), "kW": ("kilowatt", "kilowatts"),
    "kWh": ("kilowatt hour", "kilowatt hours"), "V": ("volt", "volts"), "mAh": ("milliamp hour", "milliamp hours"),
    "ms": ("millisecond", "milliseconds"), "sec": ("second", "seconds"), "min": ("minute", "minutes"),
    "hr": ("hour", "hours"), "hrs": ("hour", "hours"), "dB": ("decibel", "decibels"),
    "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
}  # fmt: skip
_CURRENCY_CODES = {"R$": "BRL", "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
_MONEY_NAMES_EN = {
    "USD": ("dollar", "dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
    "JPY": ("yen", "yen", "", ""),
    "INR": ("rupee", "rupees", "paisa", "paise"),
    "BRL": ("real", "reais", "centavo", "centavos"),
}
_SCALES = {"k": "thousand", "K": "thousand", "m": "million", "M": "million", "mn": "million", "b": "billion",
           "B": "billion", "bn": "billion"}  # fmt: skip
_SYMBOLS = "|".join(re.escape(symbol) for symbol in _CURRENCY_CODES)  # R$ before $
# Patterns start with the digit itself, guards after it: Python's re then skips ahead fast to the next digit.
_LEAD = r"\d(?<!\d\d)(?<!\d[-:/.,]\d)"  # a first digit, not the tail of 1.2.3, 12:30, 2024-03 or 1,2
_AFTER = r"(?!\d)(?![-:/.,]\d)"
_MINUS_RE = re.compile(rf"[-\u2212](?<![\w)\]][-\u2212])(?=\d|(?:{_SYMBOLS})\s?\d)")  # -5, -$5; not 3-2


@lru_cache(maxsize=8)
def _number_syntax(groups: str, point: str, english: bool) -> _NumberSyntax:
    rest = rf"(?:\d{{0,2}}(?:[{re.escape(groups)}]\d{{3}})+|\d*)(?:{re.escape(point)}\d+)?"  # after the 1st digit
    value = rf"(?P<num>{_LEAD}{rest})(?:[-\u2013](?P<num2>\d{rest}))?{_AFTER}"  # 5 or a range 5-10
    units = "|".join(re.escape(unit) for unit in sorted(_UNITS, key=len, reverse=True))
    scale = r"(?:\s?(?P<scale>thousand|million|billion|trillion)|(?P<short>[kKmMbB]|mn|bn))(?!\w)" if english else ""
    return _NumberSyntax(
        group_separators=groups,
        decimal_point=point,
        number=re.compile(rf"(?P<num>{_LEAD}{rest}){_AFTER}"),
        percent=re.compile(rf"{value}\s?%"),
        unit=re.compile(rf"{value}\s?(?P<unit>{units})(?!\w)"),
        money_before=re.compile(rf"(?P<symbol>{_SYMBOLS})\s?(?P<num>\d{rest}){_AFTER}(?:{scale})?"),
        money_after=re.compile(rf"{value}\s?(?P<symbol>{_SYMBOLS}|(?:{'|'.join(_CURRENCY_CODES.values())})\b)"),
    )


# --- reading numbers --------------------------------------------------------------------------------------

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip
_MONTH = r"(?P<month>" + "|".join(_MONTHS) + r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)"
_ORDINAL_SUFFIX = r"(?:st|nd|rd|th)"
_ISO_DATE_RE = re.compile(r"(?P<y>\d(?<![\d.,/:-]\d)\d{3})-(?P<m>\d{2})-(?P<d>\d{2})(?![\d-]|[.,/:]\d)")
_SLASH_DATE_RE = re.compile(r"(?P<a>\d(?<![\d.,/:-]\d)\d?)/(?P<b>\d{1,2})/(?P<y>\d{4})(?![\d/]|[.,:-]\d)")
_MONTH_DAY_RE = re.compile(rf"\b{_MONTH}\.?\s(?P<d>\d{{1,2}}){_ORDINAL_SUFFIX}?(?![\w%]|[-:/.,]\d)")
_DAY_MONTH_RE = re.compile(rf"(?P<d>\d(?<![\w.,:/-]\d)\d?){_ORDINAL_SUFFIX}?\s(?:of\s)?{_MONTH}\b(?:\.(?=\s\d))?")
_AMPM = r"(?P<ampm>[AaPp]\.?\s?[Mm]\.?)(?!\w)"
_CLOCK_RE = re.compile(rf"(?P<h>\d(?<![\d.,:]\d)\d?):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?(?![\d:])(?:\s?{_AMPM})?")
_HOUR_RE = re.compile(rf"(?P<h>\d(?<![\d.,:]\d)\d?)(?P<m>)(?P<s>)\s?{_AMPM}")  # 3 pm
_DECADE_RE = re.compile(r"'(?<![\w']')(?P<short>\d)0s\b|(?P<full>\d(?<![\w']\d)\d{0,2})0s\b")  # '90s, 1990s
_ORDINAL_RE = re.compile(rf"(?P<num>\d(?<![\d.,]\d)\d*){_ORDINAL_SUFFIX}\b")
_RANGE_RE = re.compile(r"(?P<num>\d(?<![\d.,:/-]\d)\d{0,3})[-\u2013](?P<num2>\d{1,4})(?![\d-]|[.,:/]\d)")


def speak_numbers(text: str, locale: Locale) -> str:
    """Write out the numbers in `text` that the locale's language can say; leave the rest as digits."""
    if locale.lang is None:
        return text  # num2words does not know the language: the engine reads the digits
    english_rules: list[tuple[re.Pattern[str], Callable[[re.Match[str], Locale], str | None]]] = [
        (_ISO_DATE_RE, _say_iso_date), (_SLASH_DATE_RE, _say_slash_date), (_MONTH_DAY_RE, _say_month_day),
        (_DAY_MONTH_RE, _say_day_month), (_CLOCK_RE, _say_time), (_HOUR_RE, _say_time), (_DECADE_RE, _say_decade),
        (_ORDINAL_RE, lambda m, loc: _spell(int(m["num"]), loc, to="ordinal")),
    ]  # fmt: skip
    syntax = locale.syntax
    rules = english_rules if locale.english else []
    rules += [(syntax.money_before, _say_money), (syntax.money_after, _say_money), (syntax.percent, _say_percent)]
    if locale.english:
        rules += [(syntax.unit, _say_unit), (_RANGE_RE, _say_range)]
    rules.append((syntax.number, lambda m, loc: _say_number(m["num"], loc)))
    previous = None
    # Digits left over were guarded by a neighbouring number ("$5:1990s"); once that is words, look again.
    while previous != text and re.search(r"\d", text):
        previous = text
        if locale.minus:
            text = _MINUS_RE.sub(locale.minus + " ", text)
        for pattern, say in rules:
            text = pattern.sub(partial(_spaced, say=say, locale=locale), text)
    return text


def _spaced(match: re.Match[str], say: Callable[[re.Match[str], Locale], str | None], locale: Locale) -> str:
    """The spoken words, kept apart from letters they were glued to ("3D" -> "three D"); None keeps the text."""
    words = say(match, locale)
    if words is None:
        return match.group()
    before, after = match.string[match.start() - 1 : match.start()], match.string[match.end() : match.end() + 1]
    return f"{' ' if _is_spaced_letter(before) else ''}{words}{' ' if _is_spaced_letter(after) else ''}"


def _is_spaced_letter(char: str) -> bool:
    unspaced = "\u0e00" <= char <= "\u0eff" or "\u1000" <= char <= "\u109f" or "\u1780" <= char <= "\u17ff"
    return char.isalnum() and char < "\u2e80" and not unspaced  # Thai, Lao, Burmese, Khmer and CJK use no spaces


def _spell(value: int | Decimal, locale: Locale, to: str = "cardinal") -> str:
    assert locale.lang is not None
    return _num2words(value, locale.lang, to)


def clear_spelling_cache() -> None:
    """Forget the numbers spelled so far, so a benchmark can measure the cost of spelling them afresh."""
    _num2words.cache_clear()


@lru_cache(maxsize=4096)
def _num2words(value: int | Decimal, lang: str, to: str) -> str:  # ~50 µs a call; small numbers recur
    try:
        words = str(num2words(value, lang=lang, to=to))
    except (ValueError, NotImplementedError, TypeError, KeyError, OverflowError, ArithmeticError):
        # num2words has gaps in some languages; espeak reads digits itself, so leave the number as it was.
        return str(value)
    return words.replace(",", "")


def _say_number(raw: str, locale: Locale, as_year: bool = True) -> str:
    syntax = locale.syntax
    whole = "".join(ch for ch in raw.split(syntax.decimal_point)[0] if ch.isdigit())
    if (len(whole) > 1 and whole.startswith("0") and raw.isdigit()) or len(whole) > 15:
        return " ".join(_spell(int(digit), locale) for digit in raw if digit.isdigit())  # 007, ids
    value = syntax.parse(raw)
    if as_year and raw.isdigit() and len(raw) == 4 and 1100 <= value < 2100 and locale.base in _YEAR_STYLE_LANGS:
        return _spell(int(value), locale, to="year")
    if value == value.to_integral_value():
        return _spell(int(value), locale)  # "1.0" reads "one"
    if locale.english:  # every digit as written: 3.10 is "three point one zero"
        fraction = raw.rsplit(syntax.decimal_point, 1)[1]
        return f"{_spell(int(value), locale)} point {' '.join(_spell(int(digit), locale) for digit in fraction)}"
    return _spell(value, locale)


def _say_date(year: int | None, month: int, day: int, locale: Locale, day_first: bool = False) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    name, nth = _MONTHS[month - 1], _spell(day, locale, to="ordinal")
    said = f"the {nth} of {name}" if day_first else f"{name} {nth}"
    return said if year is None else f"{said}, {_say_number(str(year), locale)}"


def _say_iso_date(match: re.Match[str], locale: Locale) -> str | None:
    return _say_date(int(match["y"]), int(match["m"]), int(match["d"]), locale)


def _say_slash_date(match: re.Match[str], locale: Locale) -> str | None:
    first, second = int(match["a"]), int(match["b"])
    day_first = first > 12 or (second <= 12 and locale.day_first)
    month, day = (second, first) if day_first else (first, second)
    return _say_date(int(match["y"]), month, day, locale, day_first)


def _month_number(name: str) -> int:
    return next(index for index, month in enumerate(_MONTHS, 1) if month.startswith(name[:3]))


def _say_month_day(match: re.Match[str], locale: Locale) -> str | None:
    return _say_date(None, _month_number(match["month"]), int(match["d"]), locale)


def _say_day_month(match: re.Match[str], locale: Locale) -> str | None:
    return _say_date(None, _month_number(match["month"]), int(match["d"]), locale, day_first=True)


def _say_time(match: re.Match[str], locale: Locale) -> str | None:
    hour, minute, ampm = int(match["h"]), match["m"] or None, match["ampm"]
    if hour > (12 if ampm else 24) or (ampm and hour == 0) or (minute is None and ampm is None):
        return None
    words = [_spell(hour, locale)]
    if minute is not None and int(minute) > 0:
        words.append(("oh " if minute[0] == "0" else "") + _spell(int(minute), locale))
    elif minute is not None and not ampm:
        words.append("o'clock" if 1 <= hour <= 12 else "hundred")
    if match["s"] and int(match["s"]) > 0:
        words.append(f"and {_spell(int(match['s']), locale)} seconds")
    if ampm:
        words.append("a.m." if ampm[0] in "Aa" else "p.m.")
    return " ".join(words)


def _say_decade(match: re.Match[str], locale: Locale) -> str | None:
    digits = match["short"] or match["full"]
    if len(digits) == 1 and digits != "0":
        words = _spell(int(digits) * 10, locale)  # '90s, 90s
    elif len(digits) == 3 and 11 <= int(digits[:2]) <= 20:
        words = _spell(int(digits) * 10, locale, to="year")  # 1990s
    else:
        return None
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _say_range(match: re.Match[str], locale: Locale) -> str | None:
    first, second = match["num"], match["num2"]
    if int(first) >= int(second) or not (len(first) == len(second) or len(second) <= 2):
        return None  # 3-2 is a score, 555-1234 a phone number: the engine reads them
    return f"{_say_number(first, locale)} to {_say_number(second, locale)}"


def _say_value(match: re.Match[str], locale: Locale) -> str:
    """A number or a range (5-10) as matched by the percent and unit patterns."""
    words = _say_number(match["num"], locale, as_year=False)
    if match["num2"] is None:
        return words
    return f"{words} {_RANGE_WORDS.get(locale.base, '-')} {_say_number(match['num2'], locale, as_year=False)}"


def _say_percent(match: re.Match[str], locale: Locale) -> str:
    return f"{_say_value(match, locale)} {_PERCENT_WORDS.get(locale.base, '%')}"


def _say_unit(match: re.Match[str], locale: Locale) -> str:
    singular, plural = _UNITS[match["unit"]]
    one = match["num2"] is None and locale.syntax.parse(match["num"]) == 1
    return f"{_say_value(match, locale)} {singular if one else plural}"


def _say_money(match: re.Match[str], locale: Locale) -> str:
    symbol, range_end = match["symbol"], match.groupdict().get("num2")
    if range_end is not None:  # 5-10 USD
        start = _say_number(match["num"], locale, as_year=False)
        return f"{start} {_RANGE_WORDS.get(locale.base, '-')} {_say_amount(range_end, symbol, locale)}"
    return _say_amount(match["num"], symbol, locale, match.groupdict())


def _say_amount(raw: str, symbol: str, locale: Locale, groups: dict[str, str | None] | None = None) -> str:
    code = _CURRENCY_CODES.get(symbol, symbol)
    value = locale.syntax.parse(raw)
    if locale.english:
        scale = (groups or {}).get("scale") or _SCALES.get((groups or {}).get("short") or "")
        return _say_money_english(value, code, scale, locale)
    assert locale.lang is not None
    converter = CONVERTER_CLASSES[locale.lang]
    try:
        if value == value.to_integral_value():
            forms = converter.CURRENCY_FORMS[code][0]
            return f"{_spell(int(value), locale)} {converter.pluralize(int(value), forms)}"
        words: str = num2words(value, lang=locale.lang, to="currency", currency=code)
        return words.replace(",", "")
    except (KeyError, AttributeError, NotImplementedError, TypeError, ValueError):
        return f"{_say_number(raw, locale, as_year=False)} {symbol}"  # the engine names the currency


def _say_money_english(value: Decimal, code: str, scale: str | None, locale: Locale) -> str:
    one, many, minor_one, minor_many = _MONEY_NAMES_EN[code]
    major, cents = int(value), value * 100 % 100
    if scale or cents != int(cents) or (cents and not minor_one):  # $2.5 million, $1.005, ¥3.5
        amount = _spell(value if cents else Decimal(major), locale)
        return f"{amount}{' ' + scale if scale else ''} {many}"
    parts = [f"{_spell(major, locale)} {one if major == 1 else many}"] if major or not cents else []
    if cents:
        parts.append(f"{_spell(int(cents), locale)} {minor_one if cents == 1 else minor_many}")
    return " and ".join(parts)
