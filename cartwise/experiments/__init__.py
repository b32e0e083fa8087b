"""Experiments: hashed arm assignment, significance tests, and Thompson-sampling exploration.

Pure logic (layer 2): imports only layer 0 plus numpy and scipy; no storage, no Flask, no network.
"""

from cartwise.experiments.assignment import Arm as Arm
from cartwise.experiments.assignment import Assignment as Assignment
from cartwise.experiments.assignment import Experiment as Experiment
from cartwise.experiments.assignment import assign as assign
from cartwise.experiments.bandit import ItemStats as ItemStats
from cartwise.experiments.bandit import choose as choose
from cartwise.experiments.bandit import exploration_slots as exploration_slots
from cartwise.experiments.statistics import ChiSquareTest as ChiSquareTest
from cartwise.experiments.statistics import Decision as Decision
from cartwise.experiments.statistics import ProportionTest as ProportionTest
from cartwise.experiments.statistics import SummaryStats as SummaryStats
from cartwise.experiments.statistics import WelchTest as WelchTest
from cartwise.experiments.statistics import chi_square_2xk as chi_square_2xk
from cartwise.experiments.statistics import decide as decide
from cartwise.experiments.statistics import (
    sample_size_two_proportions as sample_size_two_proportions,
)
from cartwise.experiments.statistics import two_proportion_z_test as two_proportion_z_test
from cartwise.experiments.statistics import welch_t_test as welch_t_test

__all__ = [
    "Arm",
    "Assignment",
    "ChiSquareTest",
    "Decision",
    "Experiment",
    "ItemStats",
    "ProportionTest",
    "SummaryStats",
    "WelchTest",
    "assign",
    "chi_square_2xk",
    "choose",
    "decide",
    "exploration_slots",
    "sample_size_two_proportions",
    "two_proportion_z_test",
    "welch_t_test",
]
