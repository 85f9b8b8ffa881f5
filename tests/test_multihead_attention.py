"""nn.MultiheadAttention and nn.TransformerEncoderLayer against torch with the same weights
(loaded through state_dict), masks in torch's conventions, outputs and parameter gradients."""
import numpy as np
import pytest

import tensorforge
from tensorforge import nn
from helpers import assert_close, random_array, torch_module


def load_from_torch(ours, theirs):
    ours.load_state_dict({k: tensorforge.tensor(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()})


def compare_grads(ours, theirs, tol):
    grads = dict(theirs.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert sorted(names) == sorted(grads), "parameter names differ from torch's"
    for name, p in ours.named_parameters():
        assert_close(p.grad.numpy(), grads[name].grad.numpy(), tol)


def mha_pair(torch, E, H, **kw):
    theirs = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64, **kw)
    ours = nn.MultiheadAttention(E, H, batch_first=True, dtype=tensorforge.float64, **kw)
    load_from_torch(ours, theirs)
    return ours, theirs


MASKS = ["none", "bool_attn", "float_attn", "bool_padding", "both", "per_head", "causal"]


@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("need_weights", [False, True])
def test_self_attention_matches_torch(rng, mask_kind, need_weights):
    torch = torch_module()
    B, L, E, H = 3, 7, 16, 4
    ours, theirs = mha_pair(torch, E, H)
    x = random_array(rng, (B, L, E))
    attn_mask = padding = None
    is_causal = mask_kind == "causal"
    if mask_kind in ("bool_attn", "both"):
        attn_mask = rng.uniform(size=(L, L)) < 0.3
        np.fill_diagonal(attn_mask, False)  # every row keeps one key
    elif mask_kind == "float_attn":
        attn_mask = random_array(rng, (L, L))
    elif mask_kind == "per_head":
        attn_mask = random_array(rng, (B * H, L, L))
    elif mask_kind == "causal":
        attn_mask = np.triu(np.ones((L, L), bool), 1)
    if mask_kind in ("bool_padding", "both"):
        padding = np.zeros((B, L), bool)
        padding[0, -2:] = True
        padding[2, :3] = True
    if mask_kind == "both":
        attn_mask = attn_mask & ~np.eye(L, dtype=bool)
        attn_mask[:, L // 2] = False  # a key no padding hides keeps every row alive
        padding[:, L // 2] = False
    xt = torch.tensor(x, requires_grad=True)
    xo = tensorforge.tensor(x, requires_grad=True)
    wrap = (lambda m, lib: None if m is None else lib.tensor(m))
    out_t, w_t = theirs(xt, xt, xt, key_padding_mask=wrap(padding, torch), need_weights=need_weights,
                        attn_mask=wrap(attn_mask, torch), is_causal=is_causal)
    out_o, w_o = ours(xo, xo, xo, key_padding_mask=wrap(padding, tensorforge), need_weights=need_weights,
                      attn_mask=wrap(attn_mask, tensorforge), is_causal=is_causal)
    assert_close(out_o.detach().numpy(), out_t.detach().numpy(), 1e-12)
    if need_weights:
        assert_close(w_o.detach().numpy(), w_t.detach().numpy(), 1e-12)
    else:
        assert w_o is None and w_t is None
    g = random_array(rng, (B, L, E))
    out_t.backward(torch.tensor(g))
    out_o.backward(tensorforge.tensor(g))
    assert_close(xo.grad.numpy(), xt.grad.numpy(), 1e-11)
    compare_grads(ours, theirs, 1e-11)


@pytest.mark.parametrize("batch_first", [True, False])
def test_cross_attention_with_kdim_vdim_matches_torch(rng, batch_first):
    torch = torch_module()
    B, L, S, E, H, kd, vd = 2, 5, 9, 12, 3, 7, 10
    theirs = torch.nn.MultiheadAttention(E, H, kdim=kd, vdim=vd, batch_first=batch_first, dtype=torch.float64)
    ours = nn.MultiheadAttention(E, H, kdim=kd, vdim=vd, batch_first=batch_first, dtype=tensorforge.float64)
    load_from_torch(ours, theirs)
    shapes = [(B, L, E), (B, S, kd), (B, S, vd)] if batch_first else [(L, B, E), (S, B, kd), (S, B, vd)]
    arrays = [random_array(rng, s) for s in shapes]
    out_t, w_t = theirs(*[torch.tensor(a) for a in arrays], average_attn_weights=False)
    out_o, w_o = ours(*[tensorforge.tensor(a) for a in arrays], average_attn_weights=False)
    assert_close(out_o.detach().numpy(), out_t.detach().numpy(), 1e-12)
    assert_close(w_o.detach().numpy(), w_t.detach().numpy(), 1e-12)
    out_t.sum().backward()
    out_o.sum().backward()
    compare_grads(ours, theirs, 1e-11)


def test_unbatched_input_matches_torch(rng):
    torch = torch_module()
    ours, theirs = mha_pair(torch, 8, 2)
    x = random_array(rng, (6, 8))
    out_t, w_t = theirs(*(torch.tensor(x),) * 3)
    out_o, w_o = ours(*(tensorforge.tensor(x),) * 3)
    assert_close(out_o.detach().numpy(), out_t.detach().numpy(), 1e-12)
    assert_close(w_o.detach().numpy(), w_t.detach().numpy(), 1e-12)


def test_fused_and_explicit_paths_agree_in_float32(rng):
    m = nn.MultiheadAttention(32, 4)
    x = tensorforge.tensor(random_array(rng, (2, 33, 32)).astype(np.float32))
    fused, _ = m(x, x, x, need_weights=False, is_causal=True)
    explicit, _ = m(x, x, x, need_weights=True, is_causal=True)
    assert_close(fused.detach().numpy(), explicit.detach().numpy(), 1e-5)


def test_mha_dropout_only_in_training(rng):
    m = nn.MultiheadAttention(16, 2, dropout=0.5)
    x = tensorforge.tensor(random_array(rng, (2, 9, 16)).astype(np.float32))
    m.eval()
    a, _ = m(x, x, x, need_weights=False)
    b, _ = m(x, x, x, need_weights=False)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    m.train()
    c, _ = m(x, x, x, need_weights=False)
    assert not np.allclose(c.detach().numpy(), a.detach().numpy())


def test_mha_errors(rng):
    with pytest.raises(ValueError, match="multiple of num_heads"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(8, 2)
    x = tensorforge.tensor(random_array(rng, (2, 5, 8)).astype(np.float32))
    with pytest.raises(ValueError, match="embed_dim=8"):
        m(tensorforge.tensor(random_array(rng, (2, 5, 6)).astype(np.float32)), x, x)
    with pytest.raises(RuntimeError, match="attn_mask should have shape"):
        m(x, x, x, attn_mask=tensorforge.tensor(np.zeros((4, 5), bool)))
    with pytest.raises(RuntimeError, match="key_padding_mask should have shape"):
        m(x, x, x, key_padding_mask=tensorforge.tensor(np.zeros((2, 4), bool)))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_encoder_layer_matches_torch(rng, norm_first, activation):
    torch = torch_module()
    B, L, E, H, FF = 2, 9, 16, 4, 24
    theirs = torch.nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, activation=activation, batch_first=True,
                                              norm_first=norm_first, dtype=torch.float64)
    ours = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, activation=activation, batch_first=True,
                                      norm_first=norm_first, dtype=tensorforge.float64)
    load_from_torch(ours, theirs)
    x = random_array(rng, (B, L, E))
    causal = np.triu(np.ones((L, L), bool), 1)
    padding = np.zeros((B, L), bool)
    padding[1, -3:] = True
    xt = torch.tensor(x, requires_grad=True)
    xo = tensorforge.tensor(x, requires_grad=True)
    theirs.train()  # keeps torch on its reference (non fast-path) implementation
    out_t = theirs(xt, src_mask=torch.tensor(causal), src_key_padding_mask=torch.tensor(padding), is_causal=True)
    out_o = ours(xo, src_key_padding_mask=tensorforge.tensor(padding), is_causal=True)
    tol = 1e-12 if activation == "relu" else 1e-8  # our erf (in gelu) is good to ~1e-9
    assert_close(out_o.detach().numpy(), out_t.detach().numpy(), tol)
    g = random_array(rng, (B, L, E))
    out_t.backward(torch.tensor(g))
    out_o.backward(tensorforge.tensor(g))
    assert_close(xo.grad.numpy(), xt.grad.numpy(), 100 * tol)
    compare_grads(ours, theirs, 100 * tol)
