// --local: a private rstmdbd for one run. The server gets a free loopback port, a fresh
// temporary data directory and (optionally) an fsync policy; its output goes to a log file in
// that directory, whose tail is printed if the server fails. It runs in its own process group,
// so a Ctrl+C at the terminal reaches only the bench, which then stops the server itself.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace rstmdb::bench {

class LocalServer {
 public:
  // Starts `binary` and waits (up to kStartTimeout) until it accepts connections.
  // `connections`: how many the bench will open at once; above the server's default
  // network.max_connections the server is started with a limit that fits them.
  // Throws BenchError on failure (after cleaning up).
  static std::unique_ptr<LocalServer> start(const std::string& binary,
                                            const std::optional<std::string>& fsync_policy,
                                            std::uint64_t connections = 0);

  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;
  ~LocalServer() { stop(); }

  std::uint16_t port() const noexcept { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // SIGTERM, wait for exit (SIGKILL after kStopTimeout), remove the temporary directory.
  // Returns false if the server did not exit with status 0. Idempotent.
  bool stop();

 private:
  LocalServer() = default;
  std::string log_tail() const;

  std::string dir_;  // temporary directory: data/ and rstmdbd.log
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  bool stopped_ = false;
};

}  // namespace rstmdb::bench
