"""Tests of the context encoder (tsdiff/nn/context.py)."""

from __future__ import annotations

from typing import Optional

import pytest
import torch

from tsdiff.nn.context import ContextEncoder, static_embedding_dim

IN, HIDDEN, OUT = 3, 16, 24
CARDS = (3, 10)
REALS = 2


def make_encoder(static: bool, num_layers: Optional[int] = None, seed: int = 0) -> ContextEncoder:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if static:
            return ContextEncoder(IN, hidden=HIDDEN, out_dim=OUT, static_cardinalities=CARDS,
                                  num_static_real=REALS, num_layers=num_layers)
        return ContextEncoder(IN, hidden=HIDDEN, out_dim=OUT, num_layers=num_layers)


def make_inputs(batch: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "past": torch.randn(batch, IN, length, generator=g),
        "static_cat": torch.stack([torch.randint(0, c, (batch,), generator=g) for c in CARDS], dim=1),
        "static_real": torch.randn(batch, REALS, generator=g),
        "log_scale": torch.randn(batch, 1, generator=g),
    }


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("length", [1, 5, 168, 337])
def test_output_shape_any_context_length(length: int, static: bool) -> None:
    enc = make_encoder(static).eval()
    inp = make_inputs(3, length)
    with torch.no_grad():
        if static:
            out = enc(**inp)
        else:
            out = enc(inp["past"], log_scale=inp["log_scale"])
    assert out.shape == (3, OUT)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("num_layers", [0, 1, 6])
def test_num_layers(num_layers: int) -> None:
    enc = make_encoder(False, num_layers=num_layers).eval()
    assert len(enc.blocks) == num_layers
    with torch.no_grad():
        assert enc(make_inputs(2, 50)["past"]).shape == (2, OUT)


def test_default_num_layers_is_four() -> None:
    assert len(make_encoder(False).blocks) == 4


def test_output_depends_on_history_including_its_oldest_point() -> None:
    enc = make_encoder(True).eval()
    inp = make_inputs(2, 337)
    with torch.no_grad():
        base = enc(**inp)
        for pos in (0, 168, 336):
            changed = dict(inp, past=inp["past"].clone())
            changed["past"][:, :, pos] += 2.0
            assert (enc(**changed) - base).abs().max() > 1e-5, f"position {pos} is ignored"


@pytest.mark.parametrize("key", ["static_cat", "static_real", "log_scale"])
def test_output_depends_on_static_features_and_scale(key: str) -> None:
    enc = make_encoder(True).eval()
    inp = make_inputs(4, 20)
    changed = dict(inp)
    if key == "static_cat":
        changed[key] = (inp[key] + 1) % torch.tensor(CARDS)
    else:
        changed[key] = inp[key] + 1.0
    with torch.no_grad():
        assert (enc(**changed) - enc(**inp)).abs().max(dim=1).values.min() > 1e-6


def test_log_scale_none_means_zero() -> None:
    enc = make_encoder(False).eval()
    past = make_inputs(2, 30)["past"]
    with torch.no_grad():
        torch.testing.assert_close(enc(past), enc(past, log_scale=torch.zeros(2, 1)))


def test_batch_elements_are_independent() -> None:
    enc = make_encoder(True).eval()
    inp = make_inputs(3, 41)
    changed = {k: v.clone() for k, v in inp.items()}
    changed["past"][1] *= -3.0
    changed["static_real"][1] += 5.0
    with torch.no_grad():
        a, b = enc(**inp), enc(**changed)
        alone = enc(**{k: v[2:3] for k, v in inp.items()})
    torch.testing.assert_close(a[[0, 2]], b[[0, 2]], rtol=1e-4, atol=1e-5)
    assert (a[1] - b[1]).abs().max() > 1e-5
    torch.testing.assert_close(alone, a[2:3], rtol=1e-4, atol=1e-5)


def test_all_parameters_get_gradients() -> None:
    enc = make_encoder(True)
    inp = make_inputs(4, 37)
    enc(**inp).pow(2).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_static_embedding_dims() -> None:
    assert static_embedding_dim(1) == 1
    assert static_embedding_dim(3) == 2
    assert static_embedding_dim(10) == 5
    assert static_embedding_dim(1000) == 16
    enc = make_encoder(True)
    assert [e.embedding_dim for e in enc.static_embeddings] == [2, 5]
    assert [e.num_embeddings for e in enc.static_embeddings] == list(CARDS)


def test_missing_or_unexpected_static_features_raise() -> None:
    with_static, without = make_encoder(True), make_encoder(False)
    inp = make_inputs(2, 10)
    with pytest.raises(ValueError, match="static_cat"):
        with_static(inp["past"], static_real=inp["static_real"])
    with pytest.raises(ValueError, match="static_real"):
        with_static(inp["past"], static_cat=inp["static_cat"])
    with pytest.raises(ValueError, match="static_cat"):
        without(inp["past"], static_cat=inp["static_cat"])
    with pytest.raises(ValueError, match="log_scale"):
        without(inp["past"], log_scale=torch.zeros(2))
    with pytest.raises(ValueError, match="past"):
        without(torch.zeros(2, IN + 1, 10))


def test_level_input_is_read_only_when_built_with_it() -> None:
    from tsdiff.nn import ContextEncoder

    torch.manual_seed(0)
    with_level = ContextEncoder(2, hidden=8, out_dim=16, with_level=True).eval()
    past = torch.randn(3, 2, 20, generator=torch.Generator().manual_seed(1))
    level = torch.tensor([[0.0], [1.0], [-2.0]])
    with torch.no_grad():
        out = with_level(past, level=level)
        assert (out - with_level(past, level=level + 1.0)).abs().max(dim=1).values.min() > 1e-6
        torch.testing.assert_close(with_level(past), with_level(past, level=torch.zeros(3, 1)))
    torch.manual_seed(0)
    without = ContextEncoder(2, hidden=8, out_dim=16)
    assert without.mlp[0].in_features == with_level.mlp[0].in_features - 1  # version-1 weights keep their shape
    with pytest.raises(ValueError, match="level"):
        without(past, level=level)
    with pytest.raises(ValueError, match="level"):
        with_level(past, level=torch.zeros(3, 2))
