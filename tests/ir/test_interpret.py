"""The reference interpreter on hand-computed cases; formats hold the results; > 53 bits raises."""

import numpy as np
import pytest

from hgq_ir.ir.errors import InexactError
from hgq_ir.ir.fixed import FixedFormat, quantize
from hgq_ir.ir.formats import propagate
from hgq_ir.ir.graph import Graph, Weight
from hgq_ir.ir.interpret import interpret
from hgq_ir.ir.ops import Add, AvgPool2D, Concatenate, Conv2D, Dense, Quantize


def holds(graph: Graph, name: str, y: np.ndarray) -> bool:
    fmt = propagate(graph)[name]
    return np.array_equal(quantize(y, fmt), y)


def test_dense_heterogeneous():
    g = Graph()
    x = g.add_input("x", (2,))
    q = g.add_node(Quantize(FixedFormat(1, np.array([1, 0]), np.array([1, 2]))), [x], name="q")
    w = {"kernel": Weight(np.array([[0.5, 1.0], [2.0, -1.0]])), "bias": Weight(np.array([0.125, 0.0]))}
    d = g.add_node(Dense(), [q.output], name="d", weights=w)
    g.set_outputs([d.output])
    y = interpret(g, np.array([[1.5, -0.25], [1.7, -0.3]]))
    # second row quantizes (TRN) to [1.5, -0.5]
    np.testing.assert_array_equal(y, [[0.375, 1.75], [-0.125, 2.0]])
    assert holds(g, "d", y)


@pytest.mark.parametrize("padding,expected", [
    ("valid", [[[[5.5], [8.0]], [[13.0], [15.5]]]]),
    ("same", [[[[5.5], [8.0], [4.5]], [[13.0], [15.5], [9.0]], [[6.0], [7.0], [8.0]]]]),
])
def test_conv2d_same_and_valid(padding, expected):
    g = Graph()
    x = g.add_input("x", (3, 3, 1))
    q = g.add_node(Quantize(FixedFormat(0, 4, 1)), [x], name="q")
    kernel = np.array([[1.0, 0.0], [0.5, 1.0]]).reshape(2, 2, 1, 1)
    c = g.add_node(Conv2D(window=(2, 2), strides=(1, 1), padding=padding), [q.output], name="c",
                   weights={"kernel": Weight(kernel)})
    g.set_outputs([c.output])
    img = np.arange(9, dtype=float).reshape(1, 3, 3, 1)
    # Keras 'same' with an even kernel pads after: out[r, c] = x[r,c] + 0.5 x[r+1,c] + x[r+1,c+1]
    y = interpret(g, img)
    np.testing.assert_array_equal(y, expected)
    assert holds(g, "c", y)


def test_avgpool_power_of_two():
    g = Graph()
    x = g.add_input("x", (4, 4, 1))
    q = g.add_node(Quantize(FixedFormat(0, 4, 0)), [x], name="q")
    p = g.add_node(AvgPool2D(window=(2, 2), strides=(2, 2)), [q.output], name="p")
    g.set_outputs([p.output])
    img = np.arange(16, dtype=float).reshape(1, 4, 4, 1)
    y = interpret(g, img)
    np.testing.assert_array_equal(y[0, ..., 0], [[2.5, 4.5], [10.5, 12.5]])
    assert int(propagate(g)["p"].f.max()) == 2
    assert holds(g, "p", y)


def test_add_and_concatenate_heterogeneous():
    g = Graph()
    a = g.add_input("a", (2,))
    b = g.add_input("b", (2,))
    qa = g.add_node(Quantize(FixedFormat(1, np.array([2, 1]), np.array([1, 3]))), [a], name="qa")
    qb = g.add_node(Quantize(FixedFormat(0, np.array([0, 3]), np.array([4, 0]))), [b], name="qb")
    s = g.add_node(Add(), [qa.output, qb.output], name="s")
    c = g.add_node(Concatenate(axis=0), [s.output, qa.output], name="c")
    g.set_outputs([c.output])
    y = interpret(g, [np.array([[1.3, -0.7]]), np.array([[0.53, 5.6]])])
    # qa = [1.0, -0.75], qb = [0.5, 5.0]
    np.testing.assert_array_equal(y, [[1.5, 4.25, 1.0, -0.75]])
    assert holds(g, "c", y)
    assert propagate(g)["c"].shape == (4,)


def test_more_than_53_bits_raises():
    g = Graph()
    x = g.add_input("x", (2,))
    q = g.add_node(Quantize(FixedFormat(1, 20, 30)), [x], name="q")
    d = g.add_node(Dense(), [q.output], name="wide",
                   weights={"kernel": Weight(np.array([[2.0**-10], [3.0]]))})
    g.set_outputs([d.output])
    with pytest.raises(InexactError, match=r"node 'wide' \(Dense.*needs 6\d bits"):
        interpret(g, np.ones((1, 2)))


@pytest.mark.parametrize(("spatial", "window", "strides", "padding"), [
    ((7, 6), (3, 2), (2, 2), "same"), ((8, 5), (4, 4), (3, 2), "same"), ((5, 5), (2, 2), (1, 1), "same"),
    ((6, 9), (3, 3), (2, 4), "valid"), ((9,), (4,), (3,), "same"), ((6,), (1,), (4,), "same")])
def test_window_cell_indices_gather_the_patches(spatial, window, strides, padding):
    """``cell_indices`` on the padded, flattened grid gathers exactly what ``extract_patches`` cuts."""
    from hgq_ir.ir.windows import cell_indices, extract_patches, geometry

    x = np.random.default_rng(0).normal(size=(2, *spatial, 3))
    geo = geometry(spatial, window, strides, padding)
    padded = np.pad(x, [(0, 0), *zip(geo.before, geo.after, strict=True), (0, 0)])
    flat = padded.reshape(2, -1, 3)
    got = flat[:, cell_indices(spatial, window, strides, padding)]
    np.testing.assert_array_equal(got, extract_patches(x, window, strides, padding, 0.0))
    assert geo.padded == tuple(n + a + b for n, a, b in zip(spatial, geo.before, geo.after, strict=True))
