// A fresh directory for one test, removed with everything in it when the test is done.
// Header-only: shared by the unit tests of every module (tests/CMakeLists.txt puts tests/ on
// their include path). Used by one thread at a time per object; any thread may make one.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace rstmdb::test {

// A name no other test process, and no other call in this one, uses:
// "<prefix>-<pid>-<counter>-<random>". For directories, sockets and files of a test.
inline std::string unique_name(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  std::random_device random;
  return std::string(prefix) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(random());
}

class TempDir {
 public:
  // A new directory named unique_name(prefix) under `root` (created if missing). Throws if
  // none can be made (a name already taken is retried; kAttempts bounds the retries).
  explicit TempDir(std::string_view prefix = "rstmdb-test",
                   const std::filesystem::path& root = std::filesystem::temp_directory_path()) {
    std::filesystem::create_directories(root);
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      auto candidate = root / unique_name(prefix);
      if (std::filesystem::create_directory(candidate)) {
        path_ = std::move(candidate);
        return;
      }
    }
    throw std::runtime_error("cannot create a temp directory under " + root.string());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  // A clash needs the same pid, counter and random number: a second attempt is already rare.
  static constexpr int kAttempts = 100;
  std::filesystem::path path_;
};

}  // namespace rstmdb::test
