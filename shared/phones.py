"""Callers' and parties' phones as keys: one normalisation and one HMAC, so intake's caller_phone_hmac and
mediation's party search match the same number however it was typed, without the number in clear."""
import hmac
import re
import unicodedata


def normalise_phone(phone: str | None) -> str | None:
    """Digits only, without the +86 / 0086 country prefix; None when fewer than 5 digits remain."""
    if phone is None:
        return None
    text = unicodedata.normalize("NFKC", phone).strip()
    # Most phones come as ASCII digits already, which are their own digits.
    digits = text if text.isascii() and text.isdigit() else "".join(ch for ch in text if "0" <= ch <= "9")
    international = text.startswith("+86") or digits.startswith("0086")
    if digits.startswith("0086"):
        digits = digits[4:]
    elif text.startswith("+86") or (len(digits) == 13 and re.match(r"861[3-9]", digits)):
        digits = digits[2:]  # "8613800138000" is a mobile number dialled with the country code
        international = True
    if international and digits and not re.fullmatch(r"1[3-9]\d{9}", digits) and digits[0] != "0":
        digits = "0" + digits  # "+86 10 6512 3456" is dialled "010 6512 3456" at home: one form
    return digits if len(digits) >= 5 else None


def phone_hmac(phone: str | None, secret: bytes) -> str | None:
    """HMAC-SHA256 hex of the normalised phone; None when there is no usable phone."""
    if not isinstance(secret, bytes) or not secret:
        raise ValueError("phone_hmac needs a non-empty bytes secret")  # an empty key would be a plain hash
    normalised = normalise_phone(phone)
    if normalised is None:
        return None
    return hmac.digest(secret, normalised.encode("ascii"), "sha256").hex()  # hmac.new's hexdigest, in one C call
