"""Model retraining, written for Prefect: only the imports changed.

Builds a dataset, computes lagged features per window with a mapped task,
fits a least-squares model against a naive baseline, and publishes the
evaluation as a table (and the verdict as Markdown).

    python -m orch run flows/retrain.py:retrain --param min_improvement=0.05
"""

import random
from typing import Dict, List, Tuple

# was: from prefect import flow, task, get_run_logger
from orch import flow, get_run_logger, task

# was: from prefect.artifacts import create_markdown_artifact, create_table_artifact
from orch.artifacts import create_markdown_artifact, create_table_artifact


@task(retries=2, retry_delay_seconds=1)
def load_prices(days: int, seed: int) -> List[float]:
    """Daily closes (a deterministic random walk with a slight trend)."""
    rng = random.Random(seed)
    price, prices = 100.0, []
    for _ in range(days):
        price *= 1 + 0.001 + rng.gauss(0, 0.02)
        prices.append(price)
    return prices


@task
def window_features(prices: List[float], end: int) -> Tuple[List[float], float]:
    """The 3 returns before day `end`, and the return of day `end` (the target)."""
    returns = [prices[i] / prices[i - 1] - 1 for i in range(end - 3, end + 1)]
    return returns[:3], returns[3]


def _fit(rows: List[Tuple[List[float], float]]) -> List[float]:
    """Least squares of y on x (3 features + intercept), by gradient descent."""
    weights = [0.0, 0.0, 0.0, 0.0]
    for _ in range(300):
        gradient = [0.0] * 4
        for x, y in rows:
            error = sum(w * v for w, v in zip(weights, x + [1.0])) - y
            for i, v in enumerate(x + [1.0]):
                gradient[i] += 2 * error * v / len(rows)
        weights = [w - 0.5 * g for w, g in zip(weights, gradient)]
    return weights


@task
def train(rows: List[Tuple[List[float], float]]) -> List[float]:
    weights = _fit(rows)
    get_run_logger().info(f"trained on {len(rows)} windows: weights {[round(w, 4) for w in weights]}")
    return weights


@task
def evaluate(weights: List[float], rows: List[Tuple[List[float], float]]) -> List[Dict[str, float]]:
    def mae(predict) -> float:
        return sum(abs(predict(x) - y) for x, y in rows) / len(rows)

    model = mae(lambda x: sum(w * v for w, v in zip(weights, x + [1.0])))
    baseline = mae(lambda x: 0.0)
    table = [
        {"model": "least-squares", "mae_pct": round(model * 100, 4)},
        {"model": "zero-return baseline", "mae_pct": round(baseline * 100, 4)},
    ]
    create_table_artifact(table, key="retrain-evaluation", description="mean absolute error on held-out days")
    return table


@flow(name="retrain")
def retrain(days: int = 120, seed: int = 7, min_improvement: float = 0.0) -> str:
    prices = load_prices(days, seed)
    windows = window_features.map([prices] * (days - 4), range(4, days))
    rows = [w.result() for w in windows]
    split = int(len(rows) * 0.8)
    weights = train(rows[:split])
    table = evaluate(weights, rows[split:])
    improvement = 1 - table[0]["mae_pct"] / table[1]["mae_pct"]
    verdict = "promote" if improvement >= min_improvement else "keep the current model"
    create_markdown_artifact(
        f"**{verdict}**: {improvement:.1%} better than the baseline", key="retrain-verdict"
    )
    return verdict


if __name__ == "__main__":
    print(retrain())
