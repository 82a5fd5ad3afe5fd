.PHONY: run test lint format bench

run:
	scripts/run

test:
	scripts/test $(PYTEST_ARGS)

lint:
	scripts/bootstrap --dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench:
	@for b in bench/bench_*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done
