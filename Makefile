# prodtags: `make` sets everything up and runs the main job; `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch goes in first, on its own: `pip install -e .` with a torch range would otherwise pull the newest
# torch (several GB). The default pair imports together everywhere we test; choose your own build with
#   make TORCH_SPEC="torch==2.11.0 torchvision==0.26.0"   or   TORCH_SPEC="torch --index-url .../cpu"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
# Developers and CI find the data beside the project; users get it downloaded (and checked) into the cache.
ifneq ($(wildcard ../shared/data/README.md),)
export PRODTAGS_DATA ?= $(abspath ../shared/data)
endif
DEMO_TITLES := "这款笔记本电脑配备了强大的处理器和高清屏幕。" "华为笔记本电脑轻薄本14英寸" "苹果iphone15手机壳"

.PHONY: all setup run test test-fast test-min notebooks lab studio browser readme bench clean
all: setup run

setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/python -m pip install $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[dev,all]"
	# A named kernel for this environment: the notebooks ask for it, so JupyterLab and nbconvert run them here.
	$(BIN)/python -m ipykernel install --sys-prefix --name prodtags --display-name prodtags
	touch $@

# The main job: train the quick best tagger (crf-lex, minutes on a laptop CPU) on real Taobao titles, record its
# results, tag a few titles.
run: setup
	$(BIN)/prodtags info
	$(BIN)/prodtags train crf-lex --data taobao --out models/crf-lex --results-dir results
	$(BIN)/prodtags tag --model models/crf-lex $(DEMO_TITLES)

# Every notebook under nbval (smoke profile), the unit tests, and the notebooks-vs-package sync checks.
# The studio's browser test needs Chromium (`browser`); CI sets PRODTAGS_REQUIRE_BROWSER=1 so that it fails, not skips.
test: setup browser
	PRODTAGS_PROFILE=smoke $(BIN)/python -m pytest tests nbs --nbval-lax --nbval-current-env -q

# The lowest versions pyproject.toml allows (base and every extra but minilm and studio) in a fresh environment,
# then the unit tests: needs the network and a few minutes, so it is not part of `make test`. KEEP_TORCH=1 reuses the
# installed torch and torchvision instead of downloading torch 2.4 (gigabytes); the other lower bounds are still checked.
test-min: setup
	$(BIN)/python tools/check_min_versions.py $(if $(KEEP_TORCH),--keep-torch)

# Re-run the notebooks in the cpu profile and store their outputs (what readers see), then clean and export.
# Progress bars are off in this batch run: a stored notebook would show them as stale widgets; the per-epoch
# lines that `fit` prints tell the same story. Interactive users still get the bars.
notebooks: setup
	$(BIN)/python tools/run_notebook.py --profile $${PROFILE:-cpu} nbs/[0-9]*.ipynb nbs/index.ipynb
	$(BIN)/nbdev-export && $(MAKE) readme

readme: setup
	$(BIN)/python tools/make_readme.py

lab: setup
	$(BIN)/jupyter lab nbs

# The tagging studio (91_studio) as a Voilà page on 127.0.0.1; it prints the address.
studio: setup
	$(BIN)/prodtags studio

# Debian's Chromium (and fonts for Chinese and emoji) for tests/test_studio_browser.py: apt-get, never a download by
# Playwright. Elsewhere install a Chromium yourself (or set PRODTAGS_CHROMIUM to its path).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || test -n "$$PRODTAGS_CHROMIUM" || \
	  { command -v apt-get >/dev/null 2>&1 && $(SUDO) apt-get update -qq && \
	    $(SUDO) apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-color-emoji; } || \
	  echo "Chromium is not installed: the studio's browser test will be skipped (CI fails it)."

# CPU latency of every tagger saved under models/ (a benchmark script, not a test; run it on a quiet machine)
bench: setup
	$(BIN)/python benchmarks/latency.py $(dir $(wildcard models/*/tagger/config.json))

clean:
	rm -rf models build dist *.egg-info .pytest_cache
