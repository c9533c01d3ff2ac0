# What every functions/<name>/Makefile builds for `sam build` (BuildMethod: makefile): the
# handler's own .py files with CPython 3.13 bytecode (tools/compile_bytecode.py); the code
# lives in the layers. The including Makefile sets REPO (the repository's root).
PYTHON ?= python3

build-%:
	mkdir -p "$(ARTIFACTS_DIR)"
	cp *.py "$(ARTIFACTS_DIR)/"
	$(PYTHON) "$(REPO)/tools/compile_bytecode.py" "$(ARTIFACTS_DIR)" --ddir /var/task
