"""Organisations as Mesa agents; patients live in ``ccgabm.patients`` as arrays."""

from ccgabm.agents.board import CommissioningBoard
from ccgabm.agents.group import CommissioningGroup
from ccgabm.agents.hospital import Hospital
from ccgabm.agents.practice import Practice

__all__ = ["CommissioningBoard", "CommissioningGroup", "Hospital", "Practice"]
