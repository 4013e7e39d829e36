# Fuzzes statemachine::parse_guard and GuardExpr::evaluate (operations.md §20; docs/fuzzing.md).
rstmdb_fuzz_target(rstmdb_fuzz_guard ${CMAKE_CURRENT_SOURCE_DIR}/guard_fuzz.cpp rstmdb_statemachine)

# The parser lives in the library, and libFuzzer only learns from instrumented code; anything else
# linking the instrumented library in this build needs the sanitizer runtimes, hence the link option.
target_compile_options(rstmdb_statemachine PRIVATE -fsanitize=fuzzer-no-link,address,undefined
                                                   -fno-sanitize-recover=undefined)
target_link_options(rstmdb_statemachine INTERFACE -fsanitize=address,undefined)
