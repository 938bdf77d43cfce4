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
        # callbacks (queues/callback.py): to the caller who asks, the agent, the citizen
        "cb-erbjud": "Vill du bli uppringd i stället och behålla din plats i kön, tryck",
        "cb-erbjud-stangt": "Vill du att vi ringer upp dig när vi öppnar igen, tryck 1.",
        "cb-vi-ringer-upp": "Vi ringer upp dig på",
        "cb-bekrafta": "Tryck 1 för att bekräfta, eller 2 för att ange ett annat nummer.",
        "cb-ange-nummer": "Slå numret vi ska ringa, med riktnummer, och avsluta med fyrkant.",
        "cb-ogiltigt-nummer": "Det numret kan vi tyvärr inte ringa upp.",
        "cb-bokad": "Tack. Vi ringer upp dig när det är din tur. Du behåller din plats i kön.",
        "cb-ej-bokad": "Ingen återuppringning är bokad.",
        "cb-aterupringning-till": "Återuppringning till",
        "cb-har-vantat": "Väntat",
        "cb-ingen-svarade": "Ingen svarade. Vi försöker igen senare.",
        "cb-halsning": "Hej! Här är kommunens kontaktcenter, som du bad ringa upp dig. "
                       "Du kopplas nu till en handläggare.",
    },
    "en": {
        "du-ar-nummer": "You are number",
        "i-kon": "in the queue.",
        "vantetid-ungefar": "The estimated waiting time is about",
        "vantetid-under-en-minut": "The estimated waiting time is less than one minute.",
        "minut": "minute.",
        "minuter": "minutes.",
        "en": "one",
        "cb-erbjud": "To be called back instead and keep your place in the queue, press",
        "cb-erbjud-stangt": "To be called back when we open again, press 1.",
        "cb-vi-ringer-upp": "We will call you back on",
        "cb-bekrafta": "Press 1 to confirm, or 2 to enter another number.",
        "cb-ange-nummer": "Enter the number to call, with the area code, and finish with the "
                          "hash key.",
        "cb-ogiltigt-nummer": "We are sorry, we cannot call that number back.",
        "cb-bokad": "Thank you. We will call you back when it is your turn. You keep your "
                    "place in the queue.",
        "cb-ej-bokad": "No callback has been booked.",
        "cb-aterupringning-till": "Callback to",
        "cb-har-vantat": "Waited",
        "cb-ingen-svarade": "No answer. We will try again later.",
        "cb-halsning": "Hello! This is the municipality's contact centre, calling you back as "
                       "you asked. You are now connected to an officer.",
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


def digits(number: str) -> list[str]:
    """A phone number said digit by digit: "0701234567" -> num/0, num/7, ..."""
    if not number.isdigit():
        raise ValueError(f"digits only, not {number!r}")
    return [f"num/{d}" for d in number]


def minutes(n: int, language: str) -> list[str]:
    """'tolv minuter', 'en minut' (the agent hears how long a callback has waited)."""
    n = max(0, min(n, MAX_NUMBER))
    if n == 1:
        return ["phrase/en", "phrase/minut"]
    return [f"num/{n}", "phrase/minuter"]


def callback_offer(key: str) -> list[str]:
    """'Vill du bli uppringd i stället och behålla din plats i kön, tryck 2'."""
    return ["phrase/cb-erbjud", f"num/{int(key)}"]


def callback_for_agent(number: str, waited_minutes: int, language: str,
                       group_name: str | None = None) -> list[str]:
    """What the agent hears before the citizen is dialled: 'Återuppringning till 0 7 0 ...,
    Bygglov, väntat tolv minuter' (the group's name when it has a prompt)."""
    parts = ["phrase/cb-aterupringning-till", *digits(number.lstrip("+"))]
    if group_name is not None:
        parts.append(group_name)
    return [*parts, "phrase/cb-har-vantat", *minutes(waited_minutes, language)]
