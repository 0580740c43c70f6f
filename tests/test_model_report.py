"""`edgetrain info`: the report module builds the rows and tables, the CLI only renders them, and
names are printed literally (rich markup in a model or layer name is not interpreted)."""
from __future__ import annotations

import json

from click.testing import CliRunner

import edgetrain as et
from edgetrain.cli import cli
from edgetrain.model_report import Table, info_dict, info_tables, layer_rows


def model(name: str = "mlp") -> et.Graph:
    g = et.Sequential([et.Dense(8, "relu"), et.Dense(3)], 4, seed=0, name=name)
    g.params["dense1.weight"].mask = g.params["dense1.weight"].value != 0
    g.params["dense1.weight"].mask[0] = False
    return g


def test_report_rows_and_tables():
    g = model()
    rows = layer_rows(g)
    assert [r["layer"] for r in rows] == [n.name for n in g.nodes]
    assert rows[0]["params"] == 4 * 8 + 8 and rows[0]["nonzero"] == 3 * 8 + 8 and rows[0]["trainable"] is True
    tables = info_tables(g)
    assert all(isinstance(t, Table) for t in tables) and len(tables) == 2  # layers, sparse storage
    assert tables[0].rows[-1][0] == "total" and tables[0].rows[-1][3] == g.num_params()
    d = info_dict(g)
    assert d["layers"] == rows and d["sparse"][0]["layer"] == "dense1"


def test_info_prints_names_literally(tmp_path):
    name = "[bold red]evil[/] [link=http://x]y"
    g = model(name)
    path = et.save_model(g, tmp_path / "m.etm")
    r = CliRunner().invoke(cli, ["info", str(path)])
    assert r.exit_code == 0, r.output
    assert "[bold red]evil[/]" in r.output and "[link=http://x]y" in r.output
    r = CliRunner().invoke(cli, ["info", str(path), "--json"])
    assert json.loads(r.output)["name"] == name
