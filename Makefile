# taglm: `make demo` trains and runs the small embedded NER demo, `make test` runs the tests.
# Both install what they need first (into the current Python environment).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
DEMO_DIR ?= runs/demo
INSTALL_STAMP := .install.stamp

.PHONY: install demo test clean

install:
	$(PIP) install -c constraints.txt -r requirements.txt
	$(PIP) install --no-deps -r requirements-allennlp.txt
	$(PIP) install --no-deps -e .
	$(PYTHON) -c "import allennlp, allennlp_models, taglm_plugin; print('taglm installed')"
	touch $(INSTALL_STAMP)

$(INSTALL_STAMP): requirements.txt constraints.txt requirements-allennlp.txt setup.cfg
	$(MAKE) install

demo: $(INSTALL_STAMP)
	$(PYTHON) -m allennlp train training_configs/demo/ner_sample.jsonnet -s $(DEMO_DIR) -f \
		--include-package taglm_plugin
	$(PYTHON) -m allennlp predict $(DEMO_DIR)/model.tar.gz examples/ner_sample/sentences.jsonl \
		--predictor taglm_tagger --include-package taglm_plugin --silent \
		--output-file $(DEMO_DIR)/predictions.jsonl
	$(PYTHON) -m taglm_plugin.commands.show_entities $(DEMO_DIR)/predictions.jsonl

test: $(INSTALL_STAMP)
	$(PYTHON) -m pytest -q

clean:
	rm -rf $(INSTALL_STAMP) runs .pytest_cache
