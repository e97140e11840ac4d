# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install gallery bench clean

# The venv is rebuilt whenever the package metadata or the pins change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,dask,optimizers]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/optviz run configs/peaks.yaml --report
	@echo
	@echo "Figures are in outputs/peaks/ (loss.png, path.png, surface.png, diagnostics.png, internals.png, animation.gif)."
	@echo "Open the report in a browser (it works offline): $(CURDIR)/outputs/peaks/report.html"

# Two workers: the engine computes on one thread, so a 2-core machine runs two tests at once;
# worksteal hands a slow tail of tests to whichever worker is idle.
test: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -n 2 --dist worksteal

# Redraws the README's pictures (docs/*.png, docs/peaks-race.gif) from configs/.
gallery: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python docs/gallery.py

bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; MPLBACKEND=Agg $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) outputs build *.egg-info
