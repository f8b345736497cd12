"""The ranking of the district/county bureaus in a bulletin (issue 5, A9-M3.5, P-16), by the
score configured in policies/bulletin-score.yaml. Pure: figures in, ranked rows out.

    score = base
          - sum_s open_weights[s]    * open[s]    * scale
          - sum_s overdue_weights[s] * overdue[s] * scale
          + rectification_weight * rate        (rate_when_nothing_due when nothing was due)
          + coverage_weight      * coverage    (0 without hosts)
    scale = per_hosts / max(hosts, min_hosts), or 1 when per_hosts is null
    clamped to [floor, ceiling], rounded to ``decimals``.

Ties share a rank ("1, 2, 2, 4"); tied bureaus keep the order of the organisation tree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from collector.services.bulletin_config import ScoreConfig
from collector.services.bulletin_data import RankRow, UnitRow

__all__ = ["rank_bureaus", "score_of"]


def score_of(row: UnitRow, severities: Mapping[str, Mapping[str, int]], config: ScoreConfig) -> RankRow:
    """The score of one bureau and its parts; ``severities`` = {"open"|"overdue": {severity: n}}."""
    scale = 1.0 if config.per_hosts is None else config.per_hosts / max(row.hosts, config.min_hosts)
    open_points = scale * sum(config.open_weights.of(s) * n for s, n in severities.get("open", {}).items())
    overdue_points = scale * sum(
        config.overdue_weights.of(s) * n for s, n in severities.get("overdue", {}).items()
    )
    rate = config.rate_when_nothing_due if row.rate is None else row.rate
    rate_points = config.rectification_weight * rate
    coverage_points = config.coverage_weight * (row.coverage or 0.0)
    score = config.base - open_points - overdue_points + rate_points + coverage_points
    if config.floor is not None:
        score = max(config.floor, score)
    if config.ceiling is not None:
        score = min(config.ceiling, score)
    digits = config.decimals
    return RankRow(
        **row.model_dump(),
        rank=0,
        score=round(score, digits),
        open_points=round(open_points, 2),
        overdue_points=round(overdue_points, 2),
        rate_points=round(rate_points, 2),
        coverage_points=round(coverage_points, 2),
    )


def rank_bureaus(
    bureaus: Sequence[tuple[UnitRow, Mapping[str, Mapping[str, int]]]], config: ScoreConfig
) -> list[RankRow]:
    """The bureaus (in tree order) ranked by score, highest first."""
    scored = [score_of(row, severities, config) for row, severities in bureaus]
    ordered = sorted(enumerate(scored), key=lambda item: (-item[1].score, item[0]))
    ranked: list[RankRow] = []
    for position, (_index, row) in enumerate(ordered, start=1):
        rank = ranked[-1].rank if ranked and ranked[-1].score == row.score else position
        ranked.append(row.model_copy(update={"rank": rank}))
    return ranked
