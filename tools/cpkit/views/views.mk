# Self-test of the report views (tools/cpkit/views/), included from tools/tools.mk.
#   make views-check   renders synthetic report.json objects and reads every view back
.PHONY: views-check
views-check:
	$(PYTHON) tools/cpkit/views/test_views.py

CHECK_TARGETS += views-check
