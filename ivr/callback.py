"""Booking a callback with the caller: the number they call from, confirmed, or one they key.

Pure in the interpreter's sense (ivr/interpreter.py): everything goes through the call I/O. The
number is read back digit by digit before it is booked, and checked against the configuration's
rules (queues/callback.py): a hidden number, a premium-rate or foreign one must be replaced by one
the caller keys. A caller who hangs up surfaces as the call I/O's exception.
"""

from __future__ import annotations

from ivr import phrases
from ivr.interpreter import CallIO, sound
from queues.callback import NumberRefused, NumberRules, check_number

KEY_TIMEOUT = 6.0  # seconds for a key after a prompt, and between the digits of a number
TRIES = 3  # rounds of confirm-or-key before the caller is told nothing was booked
MAX_DIGITS = 15


async def ask_number(io: CallIO, caller: str, rules: NumberRules, language: str
                     ) -> str | None:
    """The number to call back, normalised, once the caller confirmed it; None when no round
    gave one (the caller then hears that nothing was booked)."""
    try:
        number: str | None = check_number(caller, rules)
    except NumberRefused:
        number = None  # hidden, foreign or premium: the caller keys one
    for _ in range(TRIES):
        if number is None:
            keyed = await io.get_digits(sound("phrase/cb-ange-nummer", language), MAX_DIGITS,
                                        KEY_TIMEOUT)
            if not keyed.keys:
                continue
            try:
                number = check_number(keyed.keys, rules)
            except NumberRefused:
                await io.play(sound("phrase/cb-ogiltigt-nummer", language), escape="")
                continue
        if await _confirmed(io, number, language):
            return number
        number = None
    await io.play(sound("phrase/cb-ej-bokad", language), escape="")
    return None


async def _confirmed(io: CallIO, number: str, language: str) -> bool:
    """'Vi ringer upp dig på 0 7 0 ... Tryck 1 för att bekräfta, eller 2 för ett annat
    nummer.' True on 1; a key pressed during the read-back counts."""
    for part in ["phrase/cb-vi-ringer-upp", *phrases.digits(number.lstrip("+"))]:
        key = await io.play(sound(part, language), escape="12")
        if key:
            return key == "1"
    answer = await io.get_digits(sound("phrase/cb-bekrafta", language), 1, KEY_TIMEOUT)
    return answer.keys == "1"
