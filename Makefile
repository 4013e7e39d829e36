# The two commands of the README:
#   make run   — install dependencies, build, start rstmdbd on 127.0.0.1:7401 with data in ./data
#   make test  — install dependencies, build, run every test (unit + end-to-end)
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
PYTHON ?= /usr/bin/python3

.PHONY: run test deps build unit e2e format clean

run: deps build
	./$(BUILD_DIR)/server/rstmdbd

test: deps build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)
	RSTMDBD=$(CURDIR)/$(BUILD_DIR)/server/rstmdbd $(PYTHON) -m pytest tests/e2e -q

deps:
	bash deploy/install-deps.sh

build:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build $(BUILD_DIR) -j $(JOBS)

unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

e2e: build
	RSTMDBD=$(CURDIR)/$(BUILD_DIR)/server/rstmdbd $(PYTHON) -m pytest tests/e2e -q

format:
	find protocol config statemachine storage server tools tests -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
