"""Fixtures; named tolerances and helpers live in ``helpers.py``."""
from pathlib import Path

import numpy as np
import pytest

from helpers import SHARED_MNIST, shared_file


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True, scope="session")
def _torch_single_thread():
    """PyTorch references run single-threaded (restored at the end of the session).

    The references are tiny; a two-thread pool only adds synchronisation, which on a
    busy 2-core machine made a 9 x 4 QR take 8 ms instead of 8 us.
    """
    try:
        import torch
    except ImportError:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def shared_mnist() -> Path:
    """The path of ``../shared/data/mnist.npz`` (:func:`helpers.shared_file`)."""
    return shared_file(SHARED_MNIST)
