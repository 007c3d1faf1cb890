"""INSTANCE ranking and rank-then-aggregate on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ichbench.reports.ranking import instance_ranking, min_rank, rank_then_aggregate

INF = math.inf

# Published-style means shaped after INSTANCE 2022 (DESIGN §6): the winner (DC 0.6925,
# NSD 0.5359, RVD 0.2121, HD 35.27) is not the team with the best DC (0.7206). Ties are
# built in: W and T share DC and RVD, W and F share NSD, T and F both have inf HD.
PUBLISHED = {
    "W": {"dc": 0.6925, "nsd": 0.5359, "hd": 35.27, "rvd": 0.2121},
    "S": {"dc": 0.7206, "nsd": 0.5200, "hd": 40.10, "rvd": 0.2500},
    "T": {"dc": 0.6925, "nsd": 0.4800, "hd": INF, "rvd": 0.2121},
    "F": {"dc": 0.6000, "nsd": 0.5359, "hd": INF, "rvd": 0.3000},
}


def test_min_rank_ties_take_minimum_rank():
    assert min_rank([0.7, 0.6, 0.7, 0.5], higher_is_better=True).tolist() == [1, 3, 1, 4]
    assert min_rank([3.0, 1.0, 1.0], higher_is_better=False).tolist() == [3, 1, 1]


def test_min_rank_inf_is_last_and_infs_tie():
    ranks = min_rank([INF, 35.0, INF, 40.0], higher_is_better=False)
    assert ranks.tolist() == [3, 1, 3, 2]


def test_min_rank_nan_is_worst_whatever_the_direction():
    assert min_rank([0.5, math.nan, 0.7], higher_is_better=True).tolist() == [2, 3, 1]
    assert min_rank([0.5, math.nan, 0.7], higher_is_better=False).tolist() == [1, 3, 2]


def test_instance_ranking_hand_computed():
    # DC ranks S1 W2 T2 F4; NSD W1 F1 S3 T4; HD W1 S2 T3 F3; RVD W1 T1 S3 F4.
    rows = {r["team"]: r for r in instance_ranking(PUBLISHED)}
    assert {t: (r["rank_dc"], r["rank_nsd"], r["rank_hd"], r["rank_rvd"])
            for t, r in rows.items()} == {"W": (2, 1, 1, 1), "S": (1, 3, 2, 3),
                                          "T": (2, 4, 3, 1), "F": (4, 1, 3, 4)}
    assert {t: r["score"] for t, r in rows.items()} == {"W": 1.25, "S": 2.25, "T": 2.5,
                                                        "F": 3.0}
    assert [r["team"] for r in instance_ranking(PUBLISHED)] == ["W", "S", "T", "F"]
    assert rows["W"]["rank"] == 1 and rows["W"]["dc"] == 0.6925


def test_instance_ranking_equal_scores_share_the_minimum_rank():
    means = {"A": {"dc": 0.7, "nsd": 0.5, "hd": 30.0, "rvd": 0.2},
             "B": {"dc": 0.6, "nsd": 0.6, "hd": 20.0, "rvd": 0.3},  # ranks 2,1,1,2 -> 1.5
             "C": {"dc": 0.5, "nsd": 0.4, "hd": 40.0, "rvd": 0.4}}  # A: 1,2,2,1 -> 1.5
    rows = instance_ranking(means)
    assert [(r["team"], r["rank"], r["score"]) for r in rows] == [("A", 1, 1.5),
                                                                  ("B", 1, 1.5),
                                                                  ("C", 3, 3.0)]


def test_rank_then_aggregate_hand_case():
    # 2 teams x 3 cases. DC: A wins cases 1,2, B case 3 -> A mean rank 4/3, B 5/3.
    # NSD: tie on every case -> both 1. HD: A inf on case 1 (rank 2), wins 2,3 -> A 4/3.
    # RVD: case 3 undefined for both (nan) -> dropped; A 1,2 B 2,1 -> both 1.5.
    values = np.array([
        [[0.9, 0.8, 0.1], [0.5, 0.5, 0.6]],
        [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]],
        [[INF, 1.0, 2.0], [5.0, 6.0, 7.0]],
        [[0.1, 0.5, math.nan], [0.2, 0.4, math.nan]],
    ])
    rows = {r["team"]: r for r in rank_then_aggregate(["A", "B"], values)}
    assert rows["A"]["mean_rank_dc"] == pytest.approx(4 / 3)
    assert rows["B"]["mean_rank_dc"] == pytest.approx(5 / 3)
    assert rows["A"]["mean_rank_nsd"] == rows["B"]["mean_rank_nsd"] == 1.0
    assert rows["A"]["mean_rank_hd"] == pytest.approx(4 / 3)
    assert rows["A"]["mean_rank_rvd"] == rows["B"]["mean_rank_rvd"] == 1.5
    # ranks of mean ranks: A 1,1,1,1 -> 1.0; B 2,1,2,1 -> 1.5
    assert (rows["A"]["rank"], rows["A"]["score"]) == (1, 1.0)
    assert (rows["B"]["rank"], rows["B"]["score"]) == (2, 1.5)
