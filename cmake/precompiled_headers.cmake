# Precompiled headers: the build-time half of CI (four full compiles: Release, ASan, TSan and
# the image's) is mostly GCC parsing the same Boost, RocksDB and Catch2 headers again in every
# translation unit. Each set below is compiled once, by a small owner library, and reused
# (REUSE_FROM) by every target of its layer; all of them compile with rstmdb_warnings' flags,
# so one .gch is valid for all (-Winvalid-pch with -Werror fails the build if one is not).
#
# A set is force-included into its targets, so it holds only what every one of them may use
# (design.md's module rules): `core` only the standard library and Boost.JSON (protocol/ and
# statemachine/ may use nothing else), `net` adds Boost.Asio for server/ and tools/, `tests`
# adds Catch2. RocksDB, Beast, spdlog and yaml-cpp stay out: each is included by a handful of
# translation units, which would then pay for loading them in every other one.
#
# Opt-in (-DRSTMDB_PCH=ON) until every build type is verified with it: with these headers
# precompiled, GCC 12 at -O3 inlines differently and reports false out-of-bounds memcpy
# warnings (its bug 105329 family) that -Werror turns into errors; one was fixed in
# sd_notify_test.cpp, one remains in tools/client/server_address.cpp, and the ASan and TSan
# builds have not been built with it yet (docs/decisions.md). Under a compiler launcher
# (ccache) keep it off in any case: ccache does not cache a compile that uses a precompiled
# header unless its sloppiness settings are changed.
option(RSTMDB_PCH "Precompile the heavy third-party headers (opt-in; see cmake/precompiled_headers.cmake)" OFF)

set(RSTMDB_PCH_CORE
  <algorithm> <array> <atomic> <charconv> <chrono> <cstddef> <cstdint> <cstdio> <cstring>
  <filesystem> <functional> <map> <memory> <mutex> <optional> <random> <set> <string>
  <string_view> <thread> <unordered_map> <utility> <variant> <vector>
  <boost/json.hpp>)
set(RSTMDB_PCH_NET ${RSTMDB_PCH_CORE}
  <boost/asio/as_tuple.hpp> <boost/asio/awaitable.hpp> <boost/asio/co_spawn.hpp>
  <boost/asio/detached.hpp> <boost/asio/io_context.hpp> <boost/asio/ip/tcp.hpp>
  <boost/asio/post.hpp> <boost/asio/ssl.hpp> <boost/asio/steady_timer.hpp>
  <boost/asio/strand.hpp> <boost/asio/use_awaitable.hpp> <boost/asio/write.hpp>)
set(RSTMDB_PCH_TESTS ${RSTMDB_PCH_CORE} <catch2/catch.hpp>)

# rstmdb_precompile(<set> <target>...): <target>s use the precompiled header set <set>
# (core, net or tests). Targets that do not exist in this configuration are skipped.
function(rstmdb_precompile set)
  if(NOT RSTMDB_PCH)
    return()
  endif()
  string(TOUPPER ${set} upper)
  set(owner rstmdb_pch_${set})
  if(NOT TARGET ${owner})
    # The owner compiles one empty file; its flags are the ones of the targets it serves.
    add_library(${owner} OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch_owner.cpp)
    target_link_libraries(${owner} PRIVATE rstmdb_warnings Boost::json)
    if(set STREQUAL "net")
      target_link_libraries(${owner} PRIVATE Boost::headers OpenSSL::SSL)
    elseif(set STREQUAL "tests")
      target_link_libraries(${owner} PRIVATE Catch2::Catch2)
    endif()
    target_precompile_headers(${owner} PRIVATE ${RSTMDB_PCH_${upper}})
  endif()
  foreach(target IN LISTS ARGN)
    if(TARGET ${target})
      target_precompile_headers(${target} REUSE_FROM ${owner})
    endif()
  endforeach()
endfunction()
