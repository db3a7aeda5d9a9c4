# Shortcuts for the scripts; the scripts are the contract (see README.md).
.PHONY: setup demo test sanity lint clean

setup:
	./scripts/setup

demo:
	./scripts/demo

test:
	./scripts/test

sanity: setup
	./scripts/sanity

lint: setup
	./scripts/lint

clean:
	rm -rf .venv build .ansible
