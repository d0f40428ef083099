"""How groups hold together or break apart: trust, decommissioning votes, practice choices,
group fate (fracture, merger, dissolution), co-commissioning and practice closure."""
