"""Binance's USDⓈ-M REST API, the signed (USER_DATA) part liqmap needs: the leverage brackets.

A signed request carries ``timestamp`` (ms) and ``signature``, the HMAC-SHA256 of the query
string with the API secret (hex), and the key in the ``X-MBX-APIKEY`` header. Binance refuses a
timestamp more than ``recvWindow`` (5 s by default) from its clock.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

import requests

LEVERAGE_BRACKET = "/fapi/v1/leverageBracket"


class BinanceError(ValueError):
    """Binance refused a request (bad key or signature, unknown symbol, ...) or could not be
    reached; the message says which, with Binance's own words."""


def sign(query: str, secret: str) -> str:
    return hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


def signed_get(
    base_url: str, path: str, params: dict, key: str, secret: str, timeout: float = 10.0
):
    """GET a signed endpoint; the decoded JSON answer."""
    query = urlencode({**params, "timestamp": int(time.time() * 1000)})
    url = f"{base_url.rstrip('/')}{path}?{query}&signature={sign(query, secret)}"
    try:
        response = requests.get(url, headers={"X-MBX-APIKEY": key}, timeout=timeout)
    except requests.RequestException as exc:
        raise BinanceError(f"{path}: Binance could not be reached ({exc})") from None
    if response.status_code != 200:
        try:
            body = response.json()
            said = f"{body.get('msg')} (code {body.get('code')})"
        except ValueError:
            said = response.text[:200]
        raise BinanceError(f"{path}: Binance answered {response.status_code}: {said}")
    return response.json()


def leverage_brackets(symbol: str, base_url: str, key: str, secret: str) -> list[dict]:
    """``symbol``'s maintenance-margin table as the engine's rows: [{floor, cap, max_leverage,
    mmr, cum}], ascending. The account's own table: Binance scales the caps for an account
    whose brackets were adjusted (``notionalCoef``), so that factor is undone here."""
    answer = signed_get(base_url, LEVERAGE_BRACKET, {"symbol": symbol}, key, secret)
    # the docs show a list with one entry when a symbol is sent, or the entry itself
    entries = answer if isinstance(answer, list) else [answer]
    entry = next((e for e in entries if isinstance(e, dict) and e.get("symbol") == symbol), None)
    if entry is None or not entry.get("brackets"):
        raise BinanceError(f"{LEVERAGE_BRACKET}: no brackets for {symbol} in Binance's answer")
    coef = float(entry.get("notionalCoef") or 1.0)
    rows = [
        {
            "floor": float(b["notionalFloor"]) / coef,
            "cap": float(b["notionalCap"]) / coef,
            "max_leverage": int(b["initialLeverage"]),
            "mmr": float(b["maintMarginRatio"]),
            "cum": float(b["cum"]) / coef,
        }
        for b in entry["brackets"]
    ]
    return sorted(rows, key=lambda r: r["floor"])
