import pytest
import torch
from fake_cifar import tiny_cifar  # noqa: F401 - a tiny CIFAR-10 folder, the fixture command-line tests use


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request):
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    return torch.device(request.param)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)


@pytest.fixture
def single_thread():
    """Tiny tensors gain nothing from intra-op threads, and on a busy machine the thread pool makes
    numeric gradient checks (thousands of tiny forward passes) an order of magnitude slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
