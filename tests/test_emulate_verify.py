"""The public emulator (``hgq_ir.emulate`` / ``Emulator``) and ``hgq_ir.verify``, end to end on zoo models."""

from __future__ import annotations

import numpy as np
import pytest
import zoo

import hgq_ir
from hgq_ir.ir.errors import ConfigError, GraphError
from hgq_ir.verification import first_divergence, verify


@pytest.fixture(scope="module")
def branches():
    """The zoo's multi-branch model (nested submodel, add, concat, reshape): ``(model, x_calib, x_test)``."""
    return zoo.ZOO["branches"]()


def test_emulate_equals_interpret_on_every_row_and_far_outside_the_calibration(branches):
    model, _, x = branches
    graph = hgq_ir.convert(model, to="ir")
    for scale in (1.0, 64.0, 1e4):
        xs = x * scale
        np.testing.assert_array_equal(hgq_ir.emulate(model, xs), hgq_ir.interpret(graph, xs))
    # a Graph is emulated as given, and the firmware's graph on request
    legal = hgq_ir.convert(model, to="ir", target="proxy")
    np.testing.assert_array_equal(hgq_ir.emulate(legal, x * 64), hgq_ir.interpret(legal, x * 64))
    np.testing.assert_array_equal(hgq_ir.emulate(model, x * 64, target="proxy"), hgq_ir.interpret(legal, x * 64))


def test_emulator_batches_and_reads_every_ir_value(branches):
    model, _, x = branches
    em = hgq_ir.Emulator(model)
    assert "Emulator" in repr(em) and em.input_names[0] in repr(em)
    whole = em(x)
    np.testing.assert_array_equal(em(x, batch_size=7), whole)  # uneven last batch
    graph = hgq_ir.convert(model, to="ir")
    names = [v.name for v in graph.values if not v.producer.op.is_source]
    got = em.run(x[:50], names)
    from hgq_ir.verification import RecordingInterpreter

    ref = RecordingInterpreter(graph)
    ref.run(x[:50])
    for name, value in zip(names, got, strict=True):
        np.testing.assert_array_equal(value.reshape(ref.values[name].shape), ref.values[name], err_msg=name)


def test_emulator_progress_bar_on_request(branches, capsys):
    model, _, x = branches
    em = hgq_ir.Emulator(model)
    em(np.concatenate([x] * 4), batch_size=512, progress=True)
    assert "emulate" in capsys.readouterr().err


def test_emulator_refuses_bad_inputs_with_typed_errors(branches):
    model, _, x = branches
    em = hgq_ir.Emulator(model)
    with pytest.raises(GraphError, match="expects shape"):
        em(x[:, :3])
    with pytest.raises(GraphError, match="no tensor called 'nope'"):
        em.run(x, ["nope"])
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        em(x, batch_size=0)
    with pytest.raises(ConfigError, match="emulated as given"):
        hgq_ir.Emulator(hgq_ir.convert(model, to="ir"), target="proxy")


def test_verify_runs_every_executor_and_all_agree(branches):
    model, x_calib, x = branches
    v = verify(model, x[:300], qonnx_rows=100)
    names = [c.executor for c in v.checks]
    assert names == ["source model (Keras predict)", "IR interpreter (proxy legalization)", "Keras proxy",
                     "onnxruntime (onnx target)", "qonnx executor (qonnx target)"]
    assert v.ok, v.table()
    rows = {c.executor: (c.rows, c.equal_rows) for c in v.checks}
    assert rows["Keras proxy"] == (300, 300) and rows["onnxruntime (onnx target)"] == (300, 300)
    assert rows["qonnx executor (qonnx target)"] == (100, 100)
    assert 0 < rows["source model (Keras predict)"][0] <= 300
    assert v.to_dict()["ok"] is True and len(v.to_dict()["checks"]) == 5
    table = v.table()
    assert "100.00% of 300 rows" in table and "100.00% of 100 rows" in table


def test_first_divergence_names_the_first_value_that_differs(branches):
    model, _, x = branches
    graph = hgq_ir.convert(model, to="ir")
    em = hgq_ir.Emulator(graph)
    nodes = [n for n in graph.nodes if not n.op.is_source]
    victim = nodes[len(nodes) // 2]

    def broken(names, xs):
        got = dict(zip(names, em.run(xs, names), strict=True))
        got[victim.output.name] = got[victim.output.name] + 2.0**-30  # an executor off by a hair here
        return got

    where = first_divergence(graph, [x[:20]], broken)
    assert where.startswith(f"%{victim.output.name} ({victim.op.kind}"), where
    assert first_divergence(graph, [x[:20]], lambda names, xs: dict(zip(names, em.run(xs, names),
                                                                          strict=True))).startswith("not located")


def test_the_proxy_shows_each_ir_value_from_the_keras_layer_that_holds_it(branches):
    """A kernel layer that absorbs its relu outputs the relu's value: read by name, the kernel's own
    value would look like a divergence of a correct proxy (and hide where a wrong one diverges)."""
    from hgq_ir.backends.keras_proxy import fused_relu

    from hgq_ir.verification import RecordingInterpreter, _proxy_reader

    model, _, x = branches
    legal = hgq_ir.convert(model, to="ir", target="proxy")
    kernels = [n for n in legal.nodes if fused_relu(legal, n) is not None]
    assert kernels, "the case needs a kernel layer that absorbs a relu"
    read = _proxy_reader(hgq_ir.to_proxy_model(model), legal)
    names = [v.name for v in legal.values if not v.producer.op.is_source]
    got = read(names, [x[:50]])
    rec = RecordingInterpreter(legal)
    rec.run(x[:50])
    for k in kernels:
        assert k.output.name not in got and fused_relu(legal, k).output.name in got
    assert len(got) == len(names) - len(kernels)  # every other value is shown
    for name, value in got.items():
        np.testing.assert_array_equal(np.reshape(value, rec.values[name].shape), rec.values[name], err_msg=name)
    assert first_divergence(legal, [x[:50]], read).startswith("not located")


def test_verify_counts_a_wrong_executor(branches, monkeypatch):
    """A check that cannot fail proves nothing: an emulator returning a wrong row is caught and located."""
    model, _, x = branches
    from hgq_ir import emulator

    real = emulator.Emulator.run

    def off_by_one_row(self, xs, names, batch_size=None, progress=False):
        outs = real(self, xs, names, batch_size, progress)
        outs[0][-1] += 1.0  # the last row of the first tensor read
        return outs

    monkeypatch.setattr(emulator.Emulator, "run", off_by_one_row)
    v = verify(model, x[:40], qonnx_rows=0, source=False)
    check = next(c for c in v.checks if c.executor.startswith("onnxruntime"))
    assert (check.rows, check.equal_rows) == (40, 39) and not v.ok
    assert check.first_divergence.startswith("%"), check.first_divergence


def test_verify_refuses_data_of_the_wrong_shape(branches):
    model, _, x = branches
    with pytest.raises(ConfigError, match="takes rows of shape"):
        verify(model, x[:, :2])


def test_an_informative_row_never_fails_the_verification():
    from hgq_ir.verification import ExecutorCheck, Verification

    v = Verification([ExecutorCheck("IR interpreter (proxy legalization)", "IR interpreter", rows=10, equal_rows=7,
                                    counts=False),
                      ExecutorCheck("Keras proxy", "IR interpreter (proxy legalization)", rows=10, equal_rows=10)])
    assert v.ok and "70.00% of 10 rows" in v.table()
    v.checks.append(ExecutorCheck("onnxruntime (onnx target)", "IR interpreter", rows=10, equal_rows=9))
    assert not v.ok
