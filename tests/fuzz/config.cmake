# Fuzzes config::load_config_from_string (YAML file layer, validation, --print round trip).
rstmdb_fuzz_target(rstmdb_fuzz_config ${CMAKE_CURRENT_SOURCE_DIR}/config_fuzz.cpp rstmdb_config)

# The loader lives in the library, and libFuzzer only learns from instrumented code; anything else
# linking the instrumented library in this build needs the sanitizer runtimes, hence the link option.
target_compile_options(rstmdb_config PRIVATE -fsanitize=fuzzer-no-link,address,undefined
                                             -fno-sanitize-recover=undefined)
target_link_options(rstmdb_config INTERFACE -fsanitize=address,undefined)
