"""docs/parameters.md is generated from the code and cannot drift."""

from support import ROOT

from ccgabm.paramdoc import parameter_table_markdown


def test_parameter_table_is_current():
    committed = (ROOT / "docs" / "parameters.md").read_text()
    assert committed == parameter_table_markdown(), (
        "docs/parameters.md is stale: run `ccgabm params --out docs/parameters.md`"
    )
