"""One intra-op thread for this folder's tests: the tiny models gain nothing from more, and on a
busy machine thread hand-offs cost more than the arithmetic. The previous setting is restored."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
