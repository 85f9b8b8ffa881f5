import os
import subprocess
import sys

import numpy as np
import pytest

import tensorforge
from tensorforge import _C


def test_show_config_reports_build_and_runtime(capsys):
    tensorforge.show_config()
    out = capsys.readouterr().out
    assert tensorforge.__version__ in out
    assert "SIMD in use" in out and _C.active_isa() in out
    assert "CUDA kernels" in out


def test_python_m_tensorforge_prints_config():
    out = subprocess.run([sys.executable, "-m", "tensorforge"], capture_output=True, text=True, check=True).stdout
    assert "tensorforge" in out and "threads" in out


def test_set_num_threads_roundtrip():
    old = tensorforge.get_num_threads()
    try:
        tensorforge.set_num_threads(1)
        assert tensorforge.get_num_threads() == 1
        tensorforge.set_num_threads(3)
        assert tensorforge.get_num_threads() == 3
    finally:
        tensorforge.set_num_threads(old)


@pytest.mark.parametrize("bad", [0, -2])
def test_set_num_threads_rejects_nonpositive(bad):
    with pytest.raises(ValueError, match="n must be >= 1"):
        tensorforge.set_num_threads(bad)


def test_set_num_threads_rejects_non_int():
    with pytest.raises(TypeError):
        tensorforge.set_num_threads(2.5)


def test_env_var_sets_thread_count():
    env = dict(os.environ, TENSORFORGE_NUM_THREADS="3")
    code = "import tensorforge; print(tensorforge.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "3"


def test_cuda_queries_work_without_a_gpu():
    assert isinstance(_C.cuda_is_built(), bool)
    assert _C.cuda_device_count() >= 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kernels_work_in_forked_child_after_pool_started(rng):
    tensorforge.set_num_threads(2)
    a = rng.standard_normal((300, 200)).astype(np.float32)
    b = rng.standard_normal((200, 100)).astype(np.float32)
    out = np.empty((300, 100), np.float32)
    _C.gemm(a, b, out)  # starts the worker threads in the parent
    pid = os.fork()
    if pid == 0:  # child: must not hang waiting on the parent's threads
        try:
            child_out = np.empty_like(out)
            _C.gemm(a, b, child_out)
            os._exit(0 if np.allclose(child_out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3) else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
