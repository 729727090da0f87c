"""fpo_policy test settings: torch on one thread (small networks on a shared 2-core machine run
many times slower with intra-op threads contending with other processes)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
