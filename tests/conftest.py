import os

import pytest
from hypothesis import settings

from prodtags.core import DataNotFoundError

# No per-example deadline (a busy 2-core CI machine is slow, not wrong); on CI the examples are derandomized so
# that a red run can be reproduced, locally they vary from run to run and keep finding new cases.
settings.register_profile("prodtags", deadline=None, derandomize=bool(os.environ.get("CI")))
settings.load_profile("prodtags")

# Tests run in the smoke profile unless told otherwise; the notebooks' stored outputs come from the cpu profile.
os.environ.setdefault("PRODTAGS_PROFILE", "smoke")


@pytest.fixture(scope="session")
def taobao():
    "The real Taobao splits, or a skip when no data folder is set and there is no network."
    from prodtags.data import load_taobao
    try:
        return {s: load_taobao(s) for s in ("train", "dev", "test", "dev_clean", "test_clean")}
    except DataNotFoundError as e:
        pytest.skip(f"Taobao data not available: {e}")


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    "A private cache folder, so tests never touch the user's."
    monkeypatch.setenv("PRODTAGS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
