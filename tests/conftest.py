import os

import pytest

# Golden files are rewritten, not compared, when this is set (review the diff before committing).
UPDATE_GOLDENS = os.environ.get("MOVIOLA_UPDATE_GOLDENS") == "1"
# The model tests on an accelerator (benchmarks/device.sh): MOVIOLA_TEST_DEVICE=cuda puts every
# ModelManager there, MOVIOLA_TEST_DTYPE=bfloat16 every model in that dtype, whatever the tests'
# configurations name (they name cpu and float32 so that CI runs them anywhere).
TEST_DEVICE = os.environ.get("MOVIOLA_TEST_DEVICE")
TEST_DTYPE = os.environ.get("MOVIOLA_TEST_DTYPE")


@pytest.fixture(autouse=True)
def model_device(monkeypatch):
    if not (TEST_DEVICE or TEST_DTYPE):
        yield
        return
    from moviola.runtime import models

    pick_device, pick_dtype = models.pick_device, models.pick_dtype
    if TEST_DEVICE:
        monkeypatch.setattr(models, "pick_device", lambda preference="auto": pick_device(TEST_DEVICE))
    if TEST_DTYPE:
        monkeypatch.setattr(models, "pick_dtype",
                            lambda preference, device: pick_dtype(TEST_DTYPE, device))
    yield


@pytest.fixture
def batch_rounding() -> int:
    """Pixel levels a sample rendered in a batch may differ from the same sample alone by,
    beyond what a test allows in float32: another batch shape runs other kernels, and their
    rounding shows where the models compute in bfloat16 or float16 (MOVIOLA_TEST_DTYPE: 8 or
    11 bits of mantissa; 2–3 levels seen on the tiny models)."""
    return 4 if TEST_DTYPE in ("bfloat16", "float16") else 0


@pytest.fixture
def golden():
    """Compare text with a golden file, or write it when MOVIOLA_UPDATE_GOLDENS=1."""

    def compare(path, text: str) -> None:
        if UPDATE_GOLDENS or not path.exists():
            if not UPDATE_GOLDENS:
                pytest.fail(f"missing golden file {path}; run with MOVIOLA_UPDATE_GOLDENS=1")
            path.write_text(text, encoding="utf-8")
            return
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"{path.name} differs; rerun with MOVIOLA_UPDATE_GOLDENS=1 and review"

    return compare


@pytest.fixture(scope="module")
def torch_one_thread():
    """Model tests on CPU: one torch thread (tiny pipelines run far slower with more on 2 cores)
    and the libraries' logging and progress bars quiet."""
    import torch
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def manager():
    """A CPU model manager for one test, closed after it."""
    from moviola.runtime import models

    with models.ModelManager("cpu") as manager:
        yield manager
