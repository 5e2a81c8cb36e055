"""Rejection reasons without personal data, for dispatch.rejected.v1 and for purged rejected input.

A reason quotes the value it refused when the feed profile could not read it ("expected text, got
['13812345678'] (from 'caller_phone')"). For the caller's own fields that value is cut; for any other
field it stays, with phone-like numbers masked (a caller's phone typed into the wrong column). The
rest of a message is the code's own words, times and incident numbers, and stays readable.
"""
import re

# The record fields that hold a caller's personal data (services/intake/domain/record.py).
PERSONAL_FIELDS = frozenset({"caller_name", "caller_phone", "address_text", "description", "longitude", "latitude"})
# Seven or more digits in a row, or an area code and a number (010-12345678): a phone. Dates and times
# (2024-05-31T23:30) have shorter runs.
_PHONE = re.compile(r"\+?\d{7,}|\b0\d{2,3}-\d{7,8}\b")
MASK = "***"
_GOT = ", got "


def masked_reason(field: str, message: str) -> str:
    """The message with the refused value of a personal field cut and phone-like numbers in a quoted value masked."""
    if _GOT not in message:
        return message
    head, _, rest = message.partition(_GOT)
    # The profile's reasons end with where the value came from: " (from 'column')".
    cut = rest.rfind(" (")
    value, where = (rest[:cut], rest[cut:]) if rest.endswith(")") and cut > 0 else (rest, "")
    value = MASK if field.rsplit(".", 1)[-1] in PERSONAL_FIELDS else _PHONE.sub(MASK, value)
    return f"{head}{_GOT}{value}{where}"
