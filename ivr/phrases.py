"""Spoken phrases built from prompt parts: a caller's place in line and the estimated wait, in
Swedish and English, with the grammar right for 0, 1, 2 and many. Pure: returns the sound names
to play in order (and the words they say, for the sound builder and tests).

Swedish counts places with the neuter "ett" ("du är nummer ett i kön") but minutes with the
common gender "en" ("ungefär en minut"); English has "one" for both.
"""

from __future__ import annotations

MAX_NUMBER = 100  # parts exist for 0..100; larger numbers are not announced

_SV_ONES = ["noll", "ett", "två", "tre", "fyra", "fem", "sex", "sju", "åtta", "nio", "tio",
            "elva", "tolv", "tretton", "fjorton", "femton", "sexton", "sjutton", "arton",
            "nitton"]
_SV_TENS = {2: "tjugo", 3: "trettio", 4: "fyrtio", 5: "femtio", 6: "sextio", 7: "sjuttio",
            8: "åttio", 9: "nittio"}
_EN_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
            "eighteen", "nineteen"]
_EN_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy",
            8: "eighty", 9: "ninety"}

# The fixed parts, per language: sound name -> text.
PARTS = {
    "sv": {
        "du-ar-nummer": "Du är nummer",
        "i-kon": "i kön.",
        "vantetid-ungefar": "Beräknad väntetid är ungefär",
        "vantetid-under-en-minut": "Beräknad väntetid är mindre än en minut.",
        "minut": "minut.",
        "minuter": "minuter.",
        "en": "en",
    },
    "en": {
        "du-ar-nummer": "You are number",
        "i-kon": "in the queue.",
        "vantetid-ungefar": "The estimated waiting time is about",
        "vantetid-under-en-minut": "The estimated waiting time is less than one minute.",
        "minut": "minute.",
        "minuter": "minutes.",
        "en": "one",
    },
}


def number_words(n: int, language: str) -> str:
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"numbers 0-{MAX_NUMBER} are spoken, not {n}")
    ones, tens, hundred = ((_SV_ONES, _SV_TENS, "hundra") if language == "sv"
                           else (_EN_ONES, _EN_TENS, "one hundred"))
    if n == 100:
        return hundred
    if n < 20:
        return ones[n]
    t, o = divmod(n, 10)
    if o == 0:
        return tens[t]
    return f"{tens[t]}{ones[o]}" if language == "sv" else f"{tens[t]}-{ones[o]}"


def part_texts(language: str) -> dict[str, str]:
    """Every part the phrases use, with its text: the fixed parts and num/0..num/100."""
    texts = {f"phrase/{name}": text for name, text in PARTS[language].items()}
    texts.update({f"num/{n}": number_words(n, language) for n in range(MAX_NUMBER + 1)})
    return texts


def position(n: int, language: str) -> list[str]:
    """'Du är nummer tre i kön.' / 'You are number three in the queue.'"""
    if not 1 <= n <= MAX_NUMBER:
        raise ValueError(f"a place in line is 1-{MAX_NUMBER}, not {n}")
    return ["phrase/du-ar-nummer", f"num/{n}", "phrase/i-kon"]


def estimated_wait(minutes: int, language: str) -> list[str]:
    """'Beräknad väntetid är ungefär fyra minuter.'; under a minute it says so; one minute is
    'en minut' in Swedish (common gender), 'one minute' in English."""
    if minutes < 0 or minutes > MAX_NUMBER:
        raise ValueError(f"minutes 0-{MAX_NUMBER}, not {minutes}")
    if minutes == 0:
        return ["phrase/vantetid-under-en-minut"]
    if minutes == 1:
        return ["phrase/vantetid-ungefar", "phrase/en", "phrase/minut"]
    return ["phrase/vantetid-ungefar", f"num/{minutes}", "phrase/minuter"]


def words(parts: list[str], language: str) -> str:
    """What a phrase says (for logs and tests)."""
    texts = part_texts(language)
    return " ".join(texts[p] for p in parts)
