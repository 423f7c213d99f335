"""The M3 results chapters read their committed runs (results/m3/) through mmlib.papers.m3.results and .claims."""

from __future__ import annotations

import pytest

from mmlib.papers.m3 import claims, paper, results
from mmlib.papers.m3.protocol import CEILING, DIRECT_CNN, PRIMARY

#: Every committed run and the command that made it.
COMMITTED = {"tumour": "bash scripts/reference-m3-tumour.sh", "ht": "bash scripts/reference-m3-ht.sh",
             "gvm": "bash scripts/reference-m3-radiomics.sh", "brats": "bash scripts/reference-m3-radiomics.sh"}


@pytest.mark.parametrize("key", COMMITTED)
def test_every_committed_run_reads_back_with_five_folds_and_its_provenance(key):
    run = results.run(None, key)
    assert run is not None, f"results/m3/{results.RUNS[key]} is not committed"
    assert sorted(run.records) == [0, 1, 2, 3, 4]
    assert run.provenance["command"] == COMMITTED[key]
    assert len(run.predictions) == {"tumour": 100, "ht": 71, "gvm": 125, "brats": 242}[key]  # every patient once
    if key in ("gvm", "brats"):
        assert "sha256" in run.provenance["data"]  # the real tables, checksummed
    else:
        assert run.provenance["data"]["description"]["seed"] == 0


@pytest.mark.parametrize("key", ["tumour", "ht"])
def test_the_phantom_runs_hold_every_row_of_tables_3_to_7(key):
    run = results.run(None, key)
    rows = results.task_rows(run, key)
    assert list(rows) == [*results.ROWS[key].values(), results.CEILING_ROW]
    assert set(results.ablation_auc(run, key).columns) == {"m3", "deep", "mask", "multiscale"}
    assert set(results.dice_summary(run).index) == set(paper.TUMOUR_ROWS if key == "tumour" else paper.HT_ROWS) - {"multimodal"}
    assert PRIMARY in run.methods and CEILING in run.methods
    if key == "ht":
        assert list(results.table_7_rows(run, ceiling=False)) == list(paper.TABLE_7_ROWS.values())
        assert DIRECT_CNN in run.methods


def test_the_development_runs_and_the_verdicts_read():
    development = results.development_runs()
    assert set(development) == {"lr1e-3-flip", "lr1e-4-flip", "lr1e-3-affine", "lr1e-3-flip-e120"}
    table = results.development_table(development)
    chosen = table["validation Dice (best epoch)"].astype(float).idxmax()
    assert chosen == "lr1e-3-flip-e120"  # the setting the reference runs use (scripts/reference-m3-tumour.sh)
    setting = development[chosen].params
    for key in ("tumour", "ht"):
        params = results.run(None, key).params
        assert [params[k] for k in ("lr", "augment", "max_epochs")] == [setting[k] for k in ("lr", "augment", "max_epochs")]
    sources = claims.verdicts_by_source()
    assert set(claims.SOURCES.values()) <= set(sources)
    assert all(v.holds for s in ("paper, glioma vs metastasis", "paper, HT") for v in sources[s])
    assert all(v.estimate is not None for s in claims.SOURCES.values() for v in sources[s])


def test_the_verdicts_the_claims_chapter_reads_for_the_committed_runs():
    """book/m3/claims.md, "What the verdicts say", reads these verdicts; a regenerated run must re-read them."""
    sources = claims.verdicts_by_source()
    held = {(s, v.claim): [] for s, vs in sources.items() for v in vs}
    for s, vs in sources.items():
        for v in vs:
            held[(s, v.claim)].append(v.holds)
    tumour, ht = claims.SOURCES["tumour"], claims.SOURCES["ht"]
    assert held[(tumour, 1)] == [True] and held[(ht, 1)] == [False]
    assert held[(tumour, 2)] == [True] and held[(ht, 2)] == [False]
    assert not all(held[(tumour, 3)]) and not all(held[(ht, 3)])
    assert held[(tumour, 4)] == [False] and held[(ht, 4)] == [True, False]  # heads level; Direct CNN not worse
