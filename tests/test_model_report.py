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
    assert json.loads(r.output)["model"] == name


def cnn() -> et.Graph:
    return et.Sequential([et.Conv2D(16, 3, padding="same"), et.DepthwiseConv2D(3, padding="same"), et.Conv2D(32, 1),
                          et.GlobalAvgPool(), et.Dense(10)], input_shape=(8, 8, 1), seed=0, name="cnn")


def test_cnn_rows_counted_by_hand():
    """(output, params, MACs, pooling adds, output floats) per layer, from the layer formulas."""
    hw = 8 * 8
    want = {
        "conv2d1": ("8x8x16", 3 * 3 * 1 * 16 + 16, hw * 16 * 3 * 3 * 1, 0, hw * 16),
        "conv2d2": ("8x8x16", 3 * 3 * 1 * 16 + 16, hw * 16 * 3 * 3 * 1, 0, hw * 16),  # depthwise: C_in/groups = 1
        "conv2d3": ("8x8x32", 1 * 1 * 16 * 32 + 32, hw * 32 * 16, 0, hw * 32),
        "global_avg_pool1": ("32", 0, 0, hw * 32, 32),
        "dense1": ("10", 32 * 10 + 10, 32 * 10, 0, 10),
    }
    g = cnn()
    rows = layer_rows(g)
    got = {r["layer"]: (r["output"], r["params"], r["macs"], r["adds_cmps"], r["out_bytes_int8"]) for r in rows}
    assert got == want
    assert want["conv2d1"][1:3] == (160, 9216)
    assert all(r["out_bytes_f32"] == 4 * r["out_bytes_int8"] and r["float_bytes"] == 4 * r["params"] for r in rows)
    layers, = info_tables(g)  # no masked weight: no sparse table
    head = layers.columns
    assert head[:7] == ["layer", "op", "output", "params", "nonzero", "MACs", "adds/cmps"]
    assert layers.rows[1][1] == "conv2d depthwise" and layers.rows[0][1] == "conv2d"
    total = dict(zip(head, layers.rows[-1]))
    assert total["params"] == g.num_params() == 1194
    assert total["MACs"] == 9216 + 9216 + 32768 + 320 and total["adds/cmps"] == 2048
    assert total["out B f32"] == ""  # no total: what is live at once is the memory plan's business


def test_conv1d_stride_and_batch_norm_state():
    """Conv1D(4, 5, stride 2, valid) on (16, 2): L_out = (16 - 5) // 2 + 1 = 6. Batch norm's running
    mean and var are state: not parameters, but stored."""
    g = et.Sequential([et.Conv1D(4, 5, stride=2, padding="valid"), et.BatchNorm(), et.MaxPool1D(2), et.Flatten(),
                       et.Dense(3)], input_shape=(16, 2), seed=0)
    rows = {r["layer"]: r for r in layer_rows(g)}
    conv, bn, pool = rows["conv1d1"], rows["batch_norm1"], rows["max_pool1"]
    assert (conv["output"], conv["params"], conv["macs"]) == ("6x4", 5 * 2 * 4 + 4, 6 * 4 * 5 * 2)
    assert (bn["params"], bn["state"], bn["float_bytes"], bn["macs"]) == (4 + 4, 4 + 4, 4 * 16, 6 * 4)
    assert bn["trainable"] is True
    assert (pool["output"], pool["macs"], pool["adds_cmps"], pool["out_bytes_f32"]) == ("3x4", 0, 3 * 4 * 2, 4 * 12)
    assert rows["flatten1"]["output"] == "12" and rows["dense1"]["macs"] == 12 * 3
    total = dict(zip(info_tables(g)[0].columns, info_tables(g)[0].rows[-1]))
    assert total["params"] == 44 + 8 + 39 == g.num_params() - 8  # num_params counts the running statistics
    assert total["MACs"] == 240 + 24 + 36 and total["stored B"] == 4 * (44 + 16 + 39)


def test_mlp_table_has_no_pooling_column():
    columns = info_tables(model())[0].columns
    assert "adds/cmps" not in columns and columns[-4:] == ["stored B", "out B f32", "out B int8", "trainable"]


def test_info_prints_a_cnn(tmp_path):
    path = et.save_model(cnn(), tmp_path / "cnn.etm")
    r = CliRunner().invoke(cli, ["info", str(path)])
    assert r.exit_code == 0, r.output
    cells = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
             for line in r.output.splitlines() if line.startswith("│")}
    assert cells["conv2d1"][:5] == ["conv2d", "8x8x16", "160", "160", "9,216"]
    assert cells["conv2d2"][0] == "conv2d depthwise"
    assert cells["global_avg_pool1"][1:6] == ["32", "0", "0", "0", "2,048"]
    assert cells["total"][2:6] == ["1,194", "1,194", "51,520", "2,048"]
    layers = json.loads(CliRunner().invoke(cli, ["info", str(path), "--json"]).output)["layers"]
    assert layers[2]["output"] == "8x8x32" and layers[2]["out_bytes_f32"] == 4 * 8 * 8 * 32
