import os

import pytest

# Golden files are rewritten, not compared, when this is set (review the diff before committing).
UPDATE_GOLDENS = os.environ.get("MOVIOLA_UPDATE_GOLDENS") == "1"


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
