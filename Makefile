# liqmap: `make demo` runs the product on the bundled sample, `make test` runs every test.
# Both install what they need first (uv from PyPI, then the locked dependencies).
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
RUN := $(UV) run --locked
SAMPLE := data/sample/sim-dev
# the sample's symbols: ETHUSDT is derived from the synthetic BTCUSDT (data/sample/README.md)
SAMPLE_SYMBOLS := BTCUSDT ETHUSDT

.PHONY: install nautilus browser demo test lint bench plotly

install:
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || python3 -m pip install --quiet --user "uv>=0.5"
	$(UV) sync --locked --quiet

.env:
	@sed -e "s/^DEBUG=.*/DEBUG=true/" \
	     -e "s/^SECRET_KEY=.*/SECRET_KEY=$$(python3 -c 'import secrets; print(secrets.token_urlsafe(40))')/" \
	     .env.example > .env
	@echo "wrote .env (DEBUG on, a fresh SECRET_KEY): edit it for anything but a laptop"

demo: install .env
	$(RUN) python manage.py migrate --noinput -v0
	for symbol in $(SAMPLE_SYMBOLS); do \
	  $(RUN) python manage.py ingest --source $(SAMPLE) --symbol $$symbol --start 2024-01-01 --end 2024-01-10 && \
	  $(RUN) python manage.py calibrate --symbol $$symbol && \
	  $(RUN) python manage.py calculate --symbol $$symbol --model all || exit 1; \
	done
	$(RUN) python manage.py backtest --symbol BTCUSDT --start 2024-01-02 --end 2024-01-09
	$(RUN) python manage.py setup_schedules --symbols BTCUSDT,ETHUSDT
	$(RUN) python manage.py demo_user
	$(RUN) python manage.py runserver 127.0.0.1:8000

# the Nautilus Trader client's own environment (nautilus_trader needs pandas < 3): its tests
# run a real Nautilus backtest against liqmap
nautilus: install
	$(UV) sync --frozen --quiet --project clients/nautilus

# the end-to-end tests drive Debian's Chromium and compare screenshots drawn in DejaVu fonts
browser:
	@[ -x /usr/bin/chromium ] && [ -d /usr/share/fonts/truetype/dejavu ] || { \
	  echo "make test needs Chromium and the DejaVu fonts for its end-to-end tests:"; \
	  echo "  sudo apt-get install -y chromium fonts-dejavu-core"; exit 1; }

test: install browser nautilus
	$(RUN) pytest

lint: install
	$(RUN) ruff check . && $(RUN) ruff format --check .

bench: install
	$(RUN) python bench/ingest.py
	$(RUN) python bench/compute.py
	$(RUN) python bench/incremental.py
	$(RUN) python bench/api.py
	$(RUN) python bench/bots.py
	$(RUN) python bench/first_draw.py
	$(RUN) python bench/accuracy.py $(SAMPLE)

# Rebuild static/vendor/plotly.min.js (committed; needs Node and npm, nothing else does)
plotly:
	cd tools/plotly && npm ci --no-audit --no-fund && npm run build
