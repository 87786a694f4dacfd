# grunt: make demo | make test | make check | make bench | make dist | make install [PREFIX=~] [BINDIR=] [DESTDIR=]
PYTHON ?= python3
PYTEST = $(PYTHON) -m pytest -q -p no:cacheprovider
# the other interpreters the version claims are checked on (pyenv's; the CI image has them)
PYENV_ROOT ?= $(or $(shell pyenv root 2>/dev/null),$(HOME)/.pyenv)
PY38 ?= $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/3.8.*/bin/python3)))
PY313 ?= $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/3.13.*/bin/python3)))
# GNU's names: the programs go to $(BINDIR), by default $(PREFIX)/bin, which is ~/bin
# (PREFIX=/usr/local puts them in /usr/local/bin)
PREFIX ?= $(HOME)
BINDIR ?= $(PREFIX)/bin
# where the completions go: for a user, where bash-completion looks (loaded on first
# use of grunt) and a zsh site-functions folder to add to $$fpath; for a system-wide
# PREFIX, the folders below it that bash-completion and zsh read
ifeq ($(PREFIX),$(HOME))
BASHCOMPDIR ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/bash-completion/completions
ZSHCOMPDIR ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/zsh/site-functions
else
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
endif
DESTDIR ?=

.PHONY: test deps demo bench chaos dist install check clean

## the whole test suite (what CI runs; installs what the tests need first): the fast
## tier on both cores; then the tests with a real sshd, Slurm, Grid Engine and tmux,
## and grund on Python 3.6, while the fast tier runs again on 3.8 and 3.13 beside them
## (the system tests mostly wait on their servers: the second core is free)
OTHER_LOG = /tmp/grunt-test-other-pythons.log
test: deps
	$(PYTEST) -n 2 -m "not system" tests
	@( for py in "$(PY38)" "$(PY313)"; do \
	    if [ -z "$$py" ]; then echo "make test: no pyenv Python 3.8 or 3.13 here: its fast tier is not run"; continue; fi; \
	    echo "$$py -m pytest -m 'not system'"; \
	    $$py -m pytest -q -p no:cacheprovider -m "not system" --basetemp=/tmp/grunt-test-$$($$py -c 'import sys; print("%d%d" % sys.version_info[:2])') tests || exit 1; \
	  done ) > $(OTHER_LOG) 2>&1 & other=$$!; \
	echo "$(PYTEST) -m system tests  (and the fast tier on 3.8 and 3.13 beside it: $(OTHER_LOG))"; \
	$(PYTEST) -m system tests; rc=$$?; \
	wait $$other; orc=$$?; \
	if [ $$orc -eq 0 ]; then grep -E "pytest -m|passed|skipped|make test:" $(OTHER_LOG); \
	else cat $(OTHER_LOG); echo "make test: the fast tier failed on another Python (above)"; fi; \
	[ $$rc -eq 0 ] && [ $$orc -eq 0 ]

## the fast tier: every test that needs no sshd, Slurm or tmux (under a minute on 2 cores)
check:
	@bash tests/install-deps.sh --python
	$(PYTEST) -n 2 -m "not system" tests

## install test dependencies: openssh-server, Slurm + munge (apt, as root), pytest (pip)
deps:
	@bash tests/install-deps.sh

## the whole loop on this machine: temp homes, newproj, grund, submit, wait, update, jobs, out, diff
demo:
	@bash tests/demo.sh

## timings over a real loopback sshd (needs root for the server user)
bench: deps
	$(PYTHON) tests/bench.py

## reliability figures: concurrent clients, kill -9 of grund, interrupted submits, locally and over a loopback sshd (CHAOS_SEED=n repeats a run)
chaos:
	$(PYTHON) tests/chaos.py

## single-file executables: dist/grunt and dist/grund (copy them into ~/bin), and the bash completion
dist:
	@rm -rf dist && mkdir -p dist/build
	@for t in grunt grund; do \
	  mkdir -p dist/build/$$t && cp -r lib grunter_example.py dist/build/$$t/ && \
	  find dist/build/$$t/lib -name __pycache__ -prune -exec rm -rf {} + && \
	  sed -n '/^import os/,$$p' $$t | grep -v '^sys.path.insert' > dist/build/$$t/__main__.py && \
	  $(PYTHON) -m compileall -q -b dist/build/$$t/lib dist/build/$$t/__main__.py && \
	  $(PYTHON) -m zipapp dist/build/$$t -o dist/$$t -p '/usr/bin/env python3' || exit 1; \
	done
	@cp grunt.bash-completion grunt.zsh-completion dist/ && rm -rf dist/build && ls -l dist

## grunt and grund into $(DESTDIR)$(BINDIR) (default ~/bin), mode 0755 (a group install
## runs for others), the completions into $(DESTDIR)$(BASHCOMPDIR) and $(DESTDIR)$(ZSHCOMPDIR)
install: dist
	@install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(BASHCOMPDIR)" "$(DESTDIR)$(ZSHCOMPDIR)"
	@install -m 0755 dist/grunt dist/grund "$(DESTDIR)$(BINDIR)/"
	@install -m 0644 dist/grunt.bash-completion "$(DESTDIR)$(BASHCOMPDIR)/grunt"
	@install -m 0644 dist/grunt.zsh-completion "$(DESTDIR)$(ZSHCOMPDIR)/_grunt"
	@echo "installed grunt and grund in $(DESTDIR)$(BINDIR), the bash completion in $(DESTDIR)$(BASHCOMPDIR)/grunt, the zsh one in $(DESTDIR)$(ZSHCOMPDIR)/_grunt"

clean:
	rm -rf dist .pytest_cache && find . -name __pycache__ -prune -exec rm -rf {} +
