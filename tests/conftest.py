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
