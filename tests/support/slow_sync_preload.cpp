// Test-only LD_PRELOAD library: a slow disk. fdatasync() and fsync() sleep
// RSTMDB_TEST_SYNC_DELAY_MS milliseconds (default 0) before doing the real call, so an e2e test
// can show what the server does while a sync is in progress (tests/e2e/test_slow_sync.py).
// Each call also appends one byte to RSTMDB_TEST_SYNC_COUNT_FILE, when set, so the test can see
// the library was in effect. Never linked into anything we ship.
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>

namespace {

long delay_ms() {
  static const long ms = [] {
    const char* v = std::getenv("RSTMDB_TEST_SYNC_DELAY_MS");
    return v != nullptr ? std::atol(v) : 0L;
  }();
  return ms;
}

void before_sync() {
  if (const char* path = std::getenv("RSTMDB_TEST_SYNC_COUNT_FILE")) {
    const int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
      [[maybe_unused]] const ssize_t n = ::write(fd, "s", 1);
      ::close(fd);
    }
  }
  const long ms = delay_ms();
  if (ms <= 0) return;
  timespec left{ms / 1000, (ms % 1000) * 1000000L};
  while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

template <class Fn>
Fn real(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int fdatasync(int fd) {
  static const auto next = real<int (*)(int)>("fdatasync");
  const int saved = errno;
  before_sync();
  errno = saved;
  return next(fd);
}

extern "C" int fsync(int fd) {
  static const auto next = real<int (*)(int)>("fsync");
  const int saved = errno;
  before_sync();
  errno = saved;
  return next(fd);
}
