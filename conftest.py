"""pytest settings shared by the unit tests and the notebook tests (nbval)."""
import os

# The test suite runs every notebook in the smoke profile: seconds per notebook, same code paths.
os.environ.setdefault("PRODTAGS_PROFILE", "smoke")


def pytest_collection_modifyitems(items):
    # nbdev-clean sets every execution count to null, and nbval refuses stored outputs of "unrun" cells
    # ("Unrun reference cell has outputs"). The outputs must stay for readers, so count such cells as run.
    # Outputs are still only compared where a cell says # NBVAL_CHECK_OUTPUT (we run nbval with --nbval-lax).
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is not None and cell.get("execution_count") is None and cell.get("outputs"):
            cell["execution_count"] = 1
