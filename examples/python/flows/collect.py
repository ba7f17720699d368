"""Data collection, written for Prefect: only the imports changed.

Fetches candles for a few symbols from an exchange (simulated offline: the
first call for each symbol fails, as a flaky exchange does, and the retry
succeeds), computes features per symbol with a mapped task, and publishes a
table of what was collected.

    python -m orch run flows/collect.py:collect --param symbols='["BTC","ETH"]'
"""

import random
from typing import Dict, List

# was: from prefect import flow, task, get_run_logger
from orch import flow, get_run_logger, task

# was: from prefect.artifacts import create_table_artifact
from orch.artifacts import create_table_artifact

_calls: Dict[str, int] = {}


class ExchangeUnavailable(ConnectionError):
    """The exchange did not answer."""


@task(retries=3, retry_delay_seconds=[0.2, 0.5, 1], tags=["exchange"])
def fetch_candles(symbol: str, hours: int) -> List[float]:
    """Hourly closes of `symbol` (a deterministic random walk, offline)."""
    _calls[symbol] = _calls.get(symbol, 0) + 1
    if _calls[symbol] == 1:
        raise ExchangeUnavailable(f"exchange timed out fetching {symbol}")
    rng = random.Random(symbol)
    price = 100.0 + rng.random() * 50
    closes = []
    for _ in range(hours):
        price *= 1 + rng.gauss(0, 0.01)
        closes.append(round(price, 2))
    get_run_logger().info(f"{symbol}: {len(closes)} candles, last {closes[-1]}")
    return closes


@task
def features(symbol: str, closes: List[float]) -> Dict[str, float]:
    """Return, volatility and momentum of one symbol's closes."""
    returns = [b / a - 1 for a, b in zip(closes, closes[1:])]
    mean = sum(returns) / len(returns)
    volatility = (sum((r - mean) ** 2 for r in returns) / len(returns)) ** 0.5
    return {
        "symbol": symbol,
        "return_pct": round((closes[-1] / closes[0] - 1) * 100, 3),
        "volatility_pct": round(volatility * 100, 3),
        "momentum": round(sum(returns[-6:]) * 100, 3),
    }


@flow(name="collect", log_prints=True)
def collect(symbols: List[str] = ["BTC", "ETH", "SOL"], hours: int = 48) -> List[Dict[str, float]]:
    candles = fetch_candles.map(symbols, hours)
    rows = features.map(symbols, candles).result()
    create_table_artifact(rows, key="collected-features", description=f"{hours} h of candles")
    print(f"collected {len(rows)} symbols")
    return rows


if __name__ == "__main__":
    collect()
