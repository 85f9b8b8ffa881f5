"""The CUDA backend's Python surface, on every machine: with or without CUDA built, a driver, a GPU
or cupy. Argument checks run on fake __cuda_array_interface__ objects whose pointers are never
dereferenced (every check happens before a device is touched). The GPU cases are in
test_cuda_kernels.py."""
import glob
import os
import subprocess
import sys

import numpy as np
import pytest

import tensorforge
import tensorforge.cuda as tfc
from tensorforge import _C

BUILT = _C.cuda_is_built()
NO_GPU_HERE = not tfc.is_available()


class FakeCudaArray:
    """Just the interface dict; the address is made up and must never be read."""

    _next_ptr = 1 << 20

    def __init__(self, shape, typestr="<f4", strides=None, readonly=False, ptr=None):
        if ptr is None:
            ptr = FakeCudaArray._next_ptr
            FakeCudaArray._next_ptr += 1 << 30  # far apart: fakes never overlap unless asked to
        self.__cuda_array_interface__ = {
            "shape": tuple(shape),
            "typestr": typestr,
            "strides": strides,
            "data": (ptr, readonly),
            "version": 3,
        }


def F(*shape, **kw):
    return FakeCudaArray(shape, **kw)


def expect_error(exc, match):
    """In a CUDA build the argument check fires; in a CPU-only build every call says it was built without CUDA."""
    if BUILT:
        return pytest.raises(exc, match=match)
    return pytest.raises(RuntimeError, match="built without CUDA")


def adam_lists(*shapes):
    return ([F(*s) for s in shapes], [F(*s) for s in shapes], [F(*s) for s in shapes], [F(*s) for s in shapes])


# ---- queries -----------------------------------------------------------------------------------

def test_is_built_matches_the_build():
    assert tfc.is_built() is BUILT
    assert isinstance(tfc.build_info(), str) and tfc.build_info()
    if BUILT:
        assert tfc.build_info().startswith("CUDA ")
    else:
        assert "not built" in tfc.build_info()
    tensorforge.show_config()


def test_is_built_as_the_build_was_asked():
    """TENSORFORGE_EXPECT_CUDA=1/0 (or TENSORFORGE_CUDA=ON/OFF, as .ci/run exports) pins what the build must be."""
    want = os.environ.get("TENSORFORGE_EXPECT_CUDA", os.environ.get("TENSORFORGE_CUDA", "")).upper()
    if want in ("1", "ON"):
        assert tfc.is_built(), "expected a build with the CUDA kernels"
    elif want in ("0", "OFF"):
        assert not tfc.is_built(), "expected a CPU-only build"
    else:
        pytest.skip("set TENSORFORGE_EXPECT_CUDA=1 or 0 to check which build this is")


def test_availability_is_consistent():
    n = tfc.device_count()
    assert isinstance(n, int) and n >= 0
    assert tfc.is_available() == (tfc.is_built() and n > 0)
    if not BUILT:
        assert n == 0


@pytest.mark.skipif(bool(glob.glob("/dev/nvidia[0-9]*")), reason="this machine has an NVIDIA device node")
def test_no_device_on_a_machine_without_a_gpu():
    assert tfc.device_count() == 0
    assert not tfc.is_available()


def test_imports_without_cupy():
    code = ("import sys; sys.modules['cupy'] = None\n"
            "import tensorforge.cuda as c\n"
            "print(c.is_built(), c.device_count(), c.is_available(), c.current_stream())")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    built, count, avail, stream = out.stdout.split()
    assert built == str(BUILT) and stream == "0"


def test_stream_argument_forms():
    assert tfc._stream_arg(7, ()) == 7

    class S:
        ptr = 1234

    assert tfc._stream_arg(S(), ()) == 1234
    with pytest.raises(TypeError):
        tfc._stream_arg("0", ())
    with pytest.raises(TypeError):
        tfc._stream_arg(True, ())


# ---- clear errors where no GPU can run them --------------------------------------------------------

@pytest.mark.skipif(not NO_GPU_HERE, reason="a GPU is visible")
def test_gemm_without_a_gpu_is_a_clear_error():
    msg = "no CUDA device is visible" if BUILT else "built without CUDA"
    with pytest.raises(RuntimeError, match=msg):
        _C.cuda_gemm(F(3, 4), F(4, 5), F(3, 5))
    with pytest.raises(RuntimeError, match=msg):
        tfc.gemm(F(3, 4), F(4, 5), F(3, 5))
    with pytest.raises(RuntimeError, match="no CUDA device|built without CUDA"):
        tfc.gemm(F(3, 4), F(4, 5))  # out=None


@pytest.mark.skipif(not NO_GPU_HERE, reason="a GPU is visible")
@pytest.mark.parametrize("precision", ["high", "medium"])
def test_tensor_core_gemm_without_a_gpu_is_a_clear_error(precision):
    msg = "no CUDA device is visible" if BUILT else "built without CUDA"
    with pytest.raises(RuntimeError, match=msg):
        tfc.gemm(F(3, 4), F(4, 5), F(3, 5), precision=precision)


@pytest.mark.skipif(not NO_GPU_HERE, reason="a GPU is visible")
def test_layer_norm_and_gelu_without_a_gpu_are_clear_errors():
    msg = "no CUDA device is visible" if BUILT else "built without CUDA"
    with pytest.raises(RuntimeError, match=msg):
        _C.cuda_layer_norm_forward(F(4, 6), 6, None, None, F(4, 6), F(4), F(4))
    with pytest.raises(RuntimeError, match=msg):
        _C.cuda_gelu_forward(F(4, 6), F(4, 6))


def test_layer_norm_and_gelu_reject_bad_arguments():
    with expect_error(ValueError, "cannot be normalized over its last 5"):
        _C.cuda_layer_norm_forward(F(4, 6), 5, None, None, F(4, 6), F(4), F(4))
    with expect_error(ValueError, "weight must have 6 elements"):
        _C.cuda_layer_norm_forward(F(4, 6), 6, F(5), None, F(4, 6), F(4), F(4))
    with expect_error(ValueError, "mean must have 4 elements"):
        _C.cuda_layer_norm_forward(F(4, 6), 6, None, None, F(4, 6), F(3), F(4))
    with expect_error(TypeError, "x must be float32"):
        _C.cuda_layer_norm_forward(F(4, 6, typestr="<f8"), 6, None, None, F(4, 6), F(4), F(4))
    with expect_error(ValueError, "grad_input must be contiguous"):
        _C.cuda_gelu_backward(F(4, 6), F(4, 6), F(4, 6, strides=(4, 24)))
    with expect_error(ValueError, "approximate must be 'none' or 'tanh'"):
        _C.cuda_gelu_forward(F(4, 6), F(4, 6), approximate="sigmoid")


@pytest.mark.skipif(not NO_GPU_HERE, reason="a GPU is visible")
def test_softmax_and_cross_entropy_without_a_gpu_are_clear_errors():
    msg = "no CUDA device is visible" if BUILT else "built without CUDA"
    with pytest.raises(RuntimeError, match=msg):
        _C.cuda_softmax_forward(F(4, 6), F(4, 6), log=True)
    with pytest.raises(RuntimeError, match=msg):
        _C.cuda_cross_entropy_forward(F(4, 6), F(4, typestr="<i8"), None, F(4), F(4, 2), F(4), F(1, typestr="<i8"))
    with pytest.raises(RuntimeError, match=msg):
        _C.cuda_cross_entropy_backward(F(4, 6), F(4, typestr="<i8"), F(6), F(4, 2), F(), F(4, 6))
    for call in (lambda: tfc.softmax_backward(F(4, 6), F(4, 6)), lambda: tfc.cross_entropy_forward(F(4, 6), F(4))):
        with pytest.raises(RuntimeError, match="no CUDA device is visible" if BUILT else "built without CUDA"):
            call()


def test_softmax_and_cross_entropy_reject_bad_arguments():
    i8 = {"typestr": "<i8"}
    with expect_error(ValueError, r"y must have shape \(4, 6\)"):
        _C.cuda_softmax_forward(F(4, 6), F(4, 5))
    with expect_error(ValueError, "x must have at least one dimension"):
        _C.cuda_softmax_forward(F(), F())
    with expect_error(TypeError, "x must be float32"):
        _C.cuda_softmax_forward(F(4, 6, typestr="<f8"), F(4, 6))
    with expect_error(ValueError, "grad_input must be contiguous"):
        _C.cuda_softmax_backward(F(4, 6), F(4, 6), F(4, 6, strides=(4, 24)))
    x = F(4, 6)
    with expect_error(ValueError, "y overlaps x"):
        _C.cuda_softmax_forward(x, x)
    ce_outs = (F(4), F(4, 2), F(4), F(1, **i8))
    with expect_error(TypeError, "target must be int64"):
        _C.cuda_cross_entropy_forward(F(4, 6), F(4, typestr="<i4"), None, *ce_outs)
    with expect_error(ValueError, "target must have shape"):
        _C.cuda_cross_entropy_forward(F(4, 6), F(5, **i8), None, *ce_outs)
    with expect_error(ValueError, "input must be 2-D"):
        _C.cuda_cross_entropy_forward(F(4, 6, 2), F(4, **i8), None, *ce_outs)
    with expect_error(ValueError, "input has no classes"):
        _C.cuda_cross_entropy_forward(F(4, 0), F(4, **i8), None, *ce_outs)
    with expect_error(ValueError, "weight must have shape"):
        _C.cuda_cross_entropy_forward(F(4, 6), F(4, **i8), F(5), *ce_outs)
    with expect_error(ValueError, "stats must have shape"):
        _C.cuda_cross_entropy_forward(F(4, 6), F(4, **i8), None, F(4), F(4), F(4), F(1, **i8))
    with expect_error(ValueError, r"label_smoothing must be in \[0, 1\]"):
        _C.cuda_cross_entropy_forward(F(4, 6), F(4, **i8), None, *ce_outs, label_smoothing=1.5)
    with expect_error(ValueError, "loss is read-only"):
        _C.cuda_cross_entropy_forward(F(4, 6), F(4, **i8), None, F(4, readonly=True), *ce_outs[1:])
    with expect_error(ValueError, "grad_output must be 0-d"):
        _C.cuda_cross_entropy_backward(F(4, 6), F(4, **i8), None, F(4, 2), F(3), F(4, 6))
    with expect_error(ValueError, r"grad_input must have shape \(4, 6\)"):
        _C.cuda_cross_entropy_backward(F(4, 6), F(4, **i8), None, F(4, 2), F(), F(6, 4))


@pytest.mark.skipif(not BUILT, reason="CUDA is not built")
def test_gemm_rejects_an_unknown_precision():
    with pytest.raises(ValueError, match="precision must be 'highest'.*got 'tf32'"):
        tfc.gemm(F(3, 4), F(4, 5), F(3, 5), precision="tf32")


@pytest.mark.skipif(not BUILT, reason="CUDA is not built")
def test_gemm_rejects_an_unknown_or_misplaced_tensor_core_choice():
    with pytest.raises(ValueError, match="tensor_core must be 'auto', 'wgmma' or 'mma_sync', got 'hgmma'"):
        tfc.gemm(F(3, 4), F(4, 5), F(3, 5), precision="high", tensor_core="hgmma")
    with pytest.raises(ValueError, match="tensor_core='wgmma' needs precision 'high' or 'medium'"):
        tfc.gemm(F(3, 4), F(4, 5), F(3, 5), tensor_core="wgmma")


@pytest.mark.skipif(not NO_GPU_HERE, reason="a GPU is visible")
def test_tensor_core_path_without_a_gpu_says_none():
    expected = "none (no CUDA device visible)" if BUILT else "none (built without CUDA)"
    assert tfc.tensor_core_path() == expected
    assert tensorforge.config()["cuda_tensor_cores"] == expected


@pytest.mark.skipif(not NO_GPU_HERE, reason="a GPU is visible")
def test_adamw_without_a_gpu_is_a_clear_error():
    msg = "no CUDA device is visible" if BUILT else "built without CUDA"
    p, g, m, v = adam_lists((3,), (2, 5))
    with pytest.raises(RuntimeError, match=msg):
        tfc.adamw_step(p, g, m, v, lr=1e-3, step=1)
    with pytest.raises(RuntimeError, match=msg):
        tfc.adam_step(p, g, m, v, lr=1e-3, step=1, weight_decay=0.1)
    with pytest.raises(RuntimeError, match=msg):
        _C.cuda_adamw_step(p, g, m, v, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, step=1)


@pytest.mark.skipif(not NO_GPU_HERE, reason="a GPU is visible")
def test_synchronize_without_a_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no CUDA device is visible|built without CUDA"):
        tfc.synchronize()


@pytest.mark.skipif(BUILT, reason="CUDA is built")
def test_cpu_only_build_names_the_fix():
    with pytest.raises(RuntimeError, match="built without CUDA.*TENSORFORGE_CUDA=ON"):
        _C.cuda_gemm(F(3, 4), F(4, 5), F(3, 5))
    with pytest.raises(RuntimeError, match="built without CUDA"):
        _C.cuda_adam_table([], [], [], [])


def test_empty_adam_list_is_a_no_op():
    if BUILT:
        tfc.adamw_step([], [], [], [], lr=1e-3, step=1)
    else:
        with pytest.raises(RuntimeError, match="built without CUDA"):
            tfc.adamw_step([], [], [], [], lr=1e-3, step=1)


# ---- argument checks (before any device work) ---------------------------------------------------

def test_gemm_rejects_host_arrays():
    a = np.ones((3, 4), np.float32)
    with expect_error(TypeError, "a must be a CUDA array"):
        _C.cuda_gemm(a, F(4, 5), F(3, 5))


@pytest.mark.parametrize("bad, name", [(0, "a"), (1, "b"), (2, "out")])
def test_gemm_rejects_float64_and_others(bad, name):
    args = [F(3, 4), F(4, 5), F(3, 5)]
    args[bad] = F(*args[bad].__cuda_array_interface__["shape"], typestr="<f8")
    with expect_error(TypeError, f"{name} must be float32, got float64"):
        _C.cuda_gemm(*args)
    args[bad] = F(*args[bad].__cuda_array_interface__["shape"], typestr="<i4")
    with expect_error(TypeError, f"{name} must be float32, got int32"):
        _C.cuda_gemm(*args)


@pytest.mark.parametrize("shapes", [((3, 4), (5, 6), (3, 6)), ((3, 4), (4, 5), (3, 6)), ((3, 4), (4, 5), (2, 5)),
                                    ((2, 3, 4), (3, 4, 5), (2, 3, 5))])
def test_gemm_rejects_shape_mismatch(shapes):
    a, b, out = (F(*s) for s in shapes)
    with expect_error(ValueError, "shape mismatch"):
        _C.cuda_gemm(a, b, out)


def test_gemm_rejects_bad_ndim():
    with expect_error(ValueError, "a must have 2 to 3 dimensions"):
        _C.cuda_gemm(F(3), F(3, 4), F(1, 4))
    with expect_error(ValueError, "b must have 2 dimensions"):
        _C.cuda_gemm(F(3, 4), F(1, 4, 5), F(3, 5))


def test_gemm_rejects_readonly_out():
    with expect_error(ValueError, "out is read-only"):
        _C.cuda_gemm(F(3, 4), F(4, 5), F(3, 5, readonly=True))


def test_gemm_rejects_non_blas_layouts():
    # strides in bytes: neither of the last two dimensions is contiguous
    with expect_error(ValueError, "a must be contiguous along one of its last two dimensions"):
        _C.cuda_gemm(F(3, 4, strides=(64, 8)), F(4, 5), F(3, 5))
    with expect_error(ValueError, "out must be row-major"):
        _C.cuda_gemm(F(3, 4), F(4, 5), F(3, 5, strides=(4, 12)))
    with expect_error(ValueError, "not a multiple of the element size"):
        _C.cuda_gemm(F(3, 4, strides=(16, 2)), F(4, 5), F(3, 5))


def test_gemm_rejects_aliasing_and_zero_batch_stride_out():
    with expect_error(ValueError, "out overlaps a"):
        _C.cuda_gemm(F(4, 4, ptr=1 << 16), F(4, 4), F(4, 4, ptr=(1 << 16) + 32))
    with expect_error(ValueError, "batch stride 0"):
        _C.cuda_gemm(F(2, 3, 4), F(2, 4, 5), F(2, 3, 5, strides=(0, 20, 4)))


def test_gemm_rejects_malformed_interfaces():
    class NoDict:
        __cuda_array_interface__ = 5

    with expect_error(TypeError, "must be a dict"):
        _C.cuda_gemm(NoDict(), F(4, 5), F(3, 5))

    class Masked:
        __cuda_array_interface__ = {"shape": (3, 4), "typestr": "<f4", "data": (1 << 40, False), "mask": object(),
                                    "version": 3}

    with expect_error(ValueError, "masked"):
        _C.cuda_gemm(Masked(), F(4, 5), F(3, 5))
    with expect_error(ValueError, "null data pointer"):
        _C.cuda_gemm(F(3, 4, ptr=0), F(4, 5), F(3, 5))
    with expect_error(TypeError, "big-endian"):
        _C.cuda_gemm(F(3, 4, typestr=">f4"), F(4, 5), F(3, 5))


def test_gemm_empty_output_is_a_no_op():
    if BUILT:
        _C.cuda_gemm(F(0, 4), F(4, 5), F(0, 5))  # nothing to write: returns before touching a device
    else:
        with pytest.raises(RuntimeError, match="built without CUDA"):
            _C.cuda_gemm(F(0, 4), F(4, 5), F(0, 5))


def test_gemm_out_none_needs_zero_beta():
    with pytest.raises(ValueError, match="beta != 0"):
        tfc.gemm(F(3, 4), F(4, 5), beta=1.0)


def test_adam_table_lists_addresses_and_sizes():
    p, g, m, v = adam_lists((3,), (2, 5), (0,))
    if not BUILT:
        with pytest.raises(RuntimeError, match="built without CUDA"):
            _C.cuda_adam_table(p, g, m, v)
        return
    t = _C.cuda_adam_table(p, g, m, v)
    assert t.dtype == np.int64 and t.shape == (5, 3)
    for row, lst in enumerate((p, g, m, v)):
        assert list(t[row]) == [x.__cuda_array_interface__["data"][0] for x in lst]
    assert list(t[4]) == [3, 10, 0]


def test_adam_rejects_bad_lists():
    p, g, m, v = adam_lists((3,), (4,))
    with expect_error(ValueError, "same length"):
        _C.cuda_adam_table(p, g[:1], m, v)
    with expect_error(ValueError, r"grads\[1\] has shape \(5,\) but params\[1\] has shape \(4,\)"):
        _C.cuda_adam_table(p, [g[0], F(5)], m, v)
    with expect_error(TypeError, r"exp_avgs\[0\] must be float32, got float16"):
        _C.cuda_adam_table(p, g, [F(3, typestr="<f2"), m[1]], v)
    with expect_error(ValueError, r"params\[0\] is read-only"):
        _C.cuda_adam_table([F(3, readonly=True), p[1]], g, m, v)
    with expect_error(ValueError, r"exp_avg_sqs\[1\] must be contiguous"):
        _C.cuda_adam_table(p, g, m, [v[0], F(4, strides=(8,))])
    with expect_error(ValueError, r"params\[0\] overlaps exp_avgs\[0\]"):
        q = F(3, ptr=1 << 12)
        _C.cuda_adam_table([q, p[1]], g, [F(3, ptr=(1 << 12) + 8), m[1]], v)
    with expect_error(TypeError, "must be a CUDA array"):
        _C.cuda_adam_table([np.zeros(3, np.float32)], g[:1], m[:1], v[:1])
    # grads may be read-only
    if BUILT:
        _C.cuda_adam_table(p, [F(3, readonly=True), g[1]], m, v)


@pytest.mark.parametrize("kw, match", [(dict(lr=-1.0), "learning rate"), (dict(beta1=1.0), "beta1"),
                                       (dict(beta2=-0.1), "beta2"), (dict(eps=-1.0), "epsilon"),
                                       (dict(weight_decay=-1.0), "weight_decay"), (dict(step=0), "step must be >= 1")])
def test_adam_rejects_bad_hyperparameters(kw, match):
    p, g, m, v = adam_lists((3,))
    args = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, step=1)
    args.update(kw)
    with expect_error(ValueError, match):
        _C.cuda_adamw_step(p, g, m, v, **args)


def test_torch_cpu_tensors_are_rejected_clearly():
    torch = pytest.importorskip("torch")
    a, b, out = torch.zeros(3, 4), torch.zeros(4, 5), torch.zeros(3, 5)
    with expect_error(TypeError, "a must be a CUDA array"):
        tfc.gemm(a, b, out)
    with expect_error(TypeError, r"params\[0\] must be a CUDA array"):
        tfc.adamw_step([a], [a.clone()], [a.clone()], [a.clone()], lr=1e-3, step=1)


# ---- conv2d, pooling, attention ------------------------------------------------------------------

@pytest.mark.skipif(not NO_GPU_HERE, reason="a GPU is visible")
def test_conv_pool_attention_without_a_gpu_are_clear_errors():
    msg = "no CUDA device is visible" if BUILT else "built without CUDA"
    calls = [
        lambda: _C.cuda_conv2d_forward(F(2, 3, 7, 7), F(4, 3, 3, 3), None, F(2, 4, 5, 5), (1, 1), (0, 0), (1, 1), 1),
        lambda: _C.cuda_conv2d_grad_input(F(2, 4, 5, 5), F(4, 3, 3, 3), F(2, 3, 7, 7), (1, 1), (0, 0), (1, 1), 1),
        lambda: _C.cuda_conv2d_grad_weight(F(2, 3, 7, 7), F(2, 4, 5, 5), F(4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1),
        lambda: _C.cuda_max_pool2d_forward(F(2, 3, 8, 8), F(2, 3, 4, 4), F(2, 3, 4, 4, typestr="<i8"), (2, 2), (2, 2),
                                           (0, 0), (1, 1)),
        lambda: _C.cuda_avg_pool2d_backward(F(2, 3, 4, 4), F(2, 3, 8, 8), (2, 2), (2, 2), (0, 0), True, None),
        lambda: _C.cuda_attention_forward(F(2, 3, 5, 8), F(2, 3, 7, 8), F(2, 3, 7, 8), None, F(2, 3, 5, 8),
                                          F(2, 3, 5)),
        lambda: _C.cuda_attention_backward(F(2, 3, 5, 8), F(2, 3, 7, 8), F(2, 3, 7, 8), F(5, 7, typestr="|b1"),
                                           F(2, 3, 5, 8), F(2, 3, 5, 8), F(2, 3, 5), F(2, 3, 5, 8), F(2, 3, 7, 8),
                                           F(2, 3, 7, 8), is_causal=True),
        lambda: tfc.conv2d_forward(F(2, 3, 7, 7), F(4, 3, 3, 3)),
        lambda: tfc.attention_forward(F(2, 3, 5, 8), F(2, 3, 7, 8), F(2, 3, 7, 8)),
        lambda: tfc.max_pool2d_forward(F(2, 3, 8, 8), 2),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match=msg):
            call()


def test_conv_pool_attention_argument_checks():
    conv = _C.cuda_conv2d_forward
    with expect_error(ValueError, "groups"):
        conv(F(2, 3, 7, 7), F(4, 3, 3, 3), None, F(2, 4, 5, 5), (1, 1), (0, 0), (1, 1), 2)
    with expect_error(ValueError, "stride must be >= 1"):
        conv(F(2, 3, 7, 7), F(4, 3, 3, 3), None, F(2, 4, 5, 5), (0, 1), (0, 0), (1, 1), 1)
    with expect_error(TypeError, "float32"):
        conv(F(2, 3, 7, 7, typestr="<f8"), F(4, 3, 3, 3), None, F(2, 4, 5, 5), (1, 1), (0, 0), (1, 1), 1)
    with expect_error(ValueError, "C-contiguous"):
        conv(F(2, 3, 7, 7, strides=(4, 8 * 49, 28, 4)), F(4, 3, 3, 3), None, F(2, 4, 5, 5), (1, 1), (0, 0), (1, 1), 1)
    with expect_error(ValueError, "bias"):
        conv(F(2, 3, 7, 7), F(4, 3, 3, 3), F(5), F(2, 4, 5, 5), (1, 1), (0, 0), (1, 1), 1)
    with expect_error(ValueError, "read-only"):
        conv(F(2, 3, 7, 7), F(4, 3, 3, 3), None, F(2, 4, 5, 5, readonly=True), (1, 1), (0, 0), (1, 1), 1)
    with expect_error(TypeError, "int64"):
        _C.cuda_max_pool2d_forward(F(2, 3, 8, 8), F(2, 3, 4, 4), F(2, 3, 4, 4), (2, 2), (2, 2), (0, 0), (1, 1))
    att = _C.cuda_attention_forward
    with expect_error(ValueError, "> 128"):
        att(F(1, 1, 5, 130), F(1, 1, 7, 130), F(1, 1, 7, 130), None, F(1, 1, 5, 130), F(1, 1, 5))
    with expect_error(ValueError, "expected"):
        att(F(1, 2, 5, 8), F(1, 1, 7, 8), F(1, 1, 7, 8), None, F(1, 2, 5, 8), F(1, 2, 5))
    with expect_error(ValueError, "does not broadcast"):
        att(F(1, 2, 5, 8), F(1, 2, 7, 8), F(1, 2, 7, 8), F(5, 6), F(1, 2, 5, 8), F(1, 2, 5))
    with expect_error(TypeError, "float32 or bool"):
        att(F(1, 2, 5, 8), F(1, 2, 7, 8), F(1, 2, 7, 8), F(5, 7, typestr="<i4"), F(1, 2, 5, 8), F(1, 2, 5))
    with expect_error(ValueError, "last dimension"):
        att(F(1, 2, 5, 8, strides=(320, 160, 32, 8)), F(1, 2, 7, 8), F(1, 2, 7, 8), None, F(1, 2, 5, 8), F(1, 2, 5))
    with expect_error(ValueError, "lse"):
        att(F(1, 2, 5, 8), F(1, 2, 7, 8), F(1, 2, 7, 8), None, F(1, 2, 5, 8), F(1, 2, 6))
    shared = 1 << 50
    with expect_error(ValueError, "overlaps"):
        att(F(1, 2, 5, 8, ptr=shared), F(1, 2, 7, 8), F(1, 2, 7, 8), None, F(1, 2, 5, 8, ptr=shared), F(1, 2, 5))
    with expect_error(ValueError, "precision must be"):
        att(F(1, 2, 5, 8), F(1, 2, 7, 8), F(1, 2, 7, 8), None, F(1, 2, 5, 8), F(1, 2, 5), precision="fp16")
    with expect_error(ValueError, "precision must be"):
        _C.cuda_attention_backward(F(1, 2, 5, 8), F(1, 2, 7, 8), F(1, 2, 7, 8), None, F(1, 2, 5, 8), F(1, 2, 5, 8),
                                   F(1, 2, 5), F(1, 2, 5, 8), F(1, 2, 7, 8), F(1, 2, 7, 8), precision="low")


def test_attention_precision_setting():
    """tensorforge.set_float32_matmul_precision (also tensorforge.cuda.*): torch's three names, "highest" by
    default, checked (also by the attention wrappers, before they look for a device)."""
    import tensorforge

    assert tfc.set_float32_matmul_precision is tensorforge.set_float32_matmul_precision
    assert tfc.get_float32_matmul_precision() == "highest"
    try:
        for p in ("high", "medium", "highest"):
            tfc.set_float32_matmul_precision(p)
            assert tfc.get_float32_matmul_precision() == p
        with pytest.raises(ValueError, match="precision must be one of"):
            tfc.set_float32_matmul_precision("tf32")
        assert tfc.get_float32_matmul_precision() == "highest"
    finally:
        tfc.set_float32_matmul_precision("highest")
    with pytest.raises(ValueError, match="precision must be one of"):
        tfc.attention_forward(F(1, 1, 5, 8), F(1, 1, 7, 8), F(1, 1, 7, 8), precision="bf16")
    with pytest.raises(ValueError, match="precision must be one of"):
        tfc.attention_backward(F(1, 1, 5, 8), F(1, 1, 5, 8), F(1, 1, 7, 8), F(1, 1, 7, 8), F(1, 1, 5, 8), F(1, 1, 5),
                               precision=None)
