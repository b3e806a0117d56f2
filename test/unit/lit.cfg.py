# -*- Python -*-
# lit configuration of Loom's GoogleTest unit tests: every binary named
# *Tests in the build's test/unit folder, each test case a lit test.

import os

import lit.formats

config.name = "Loom-Unit"
config.suffixes = []
config.test_exec_root = os.path.join(config.loom_obj_root, "test", "unit")
config.test_source_root = config.test_exec_root
config.test_format = lit.formats.GoogleTest(".", "Tests")
# Tests that read ../shared/models find it from the source root.
config.environment["LOOM_SOURCE_DIR"] = config.loom_src_root
