# Fuzz targets for protocol/ (docs/fuzzing.md).
rstmdb_fuzz_target(rstmdb_fuzz_frame_decoder ${CMAKE_CURRENT_SOURCE_DIR}/frame_decoder_fuzz.cpp rstmdb_protocol)

# libFuzzer only learns from code built with coverage instrumentation, and the fuzz target
# function instruments just the target's own source; the decoder lives in the library.
target_compile_options(rstmdb_protocol PRIVATE -fsanitize=fuzzer-no-link,address,undefined
                                               -fno-sanitize-recover=undefined)
