"""Test oracles of the patient layer, kept out of the ``ccgabm`` package.

* ``mesa_model``: one ``mesa.Agent`` per patient applying the patient rules directly;
* ``compare``: that model and the vectorised ``ccgabm.patients.Population`` side by side
  (statistical equivalence in tests/test_reference_equivalence.py, speed ratio in
  benchmarks/mesa_ratio.py);
* ``regression``: fixed-seed summary figures against the committed baseline
  (``baseline_summary.json`` here; tests/test_regression_baseline.py,
  scripts/regenerate_reference.py);
* ``draws``: the patients' per-month draw keys in plain Python integers.
"""
