#include "tools/bench/local_server.hpp"

#include "tools/bench/connection.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

extern char** environ;

namespace rstmdb::bench {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(30);
// Above the server's default drain grace (network.shutdown_grace_secs = 5) plus its final sync.
constexpr auto kStopTimeout = std::chrono::seconds(30);
constexpr auto kPollInterval = std::chrono::milliseconds(50);
constexpr std::size_t kLogTailLines = 20;
// The server's default network.max_connections (docs/configuration.md), and the room left
// above the bench's own connections when it is raised (a CLI or a metrics scrape alongside).
constexpr std::uint64_t kServerDefaultMaxConnections = 1000;
constexpr std::uint64_t kSpareConnections = 16;

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A port the kernel just handed out; it stays free in practice until the server binds it.
std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw BenchError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) throw BenchError(std::string("cannot find a free port: ") + std::strerror(saved));
  return ntohs(a.sin_port);
}

bool accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_in a = loopback(port);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

std::unique_ptr<LocalServer> LocalServer::start(const std::string& binary,
                                                const std::optional<std::string>& fsync_policy,
                                                std::uint64_t connections) {
  std::unique_ptr<LocalServer> s(new LocalServer());
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/rstmdb-bench-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    s->stopped_ = true;
    throw BenchError("cannot create a temporary directory: " + std::string(std::strerror(errno)));
  }
  s->dir_ = templ;
  s->port_ = free_loopback_port();

  const std::string bind = s->address();
  const std::string data_dir = s->dir_ + "/data";
  const std::string log_path = s->dir_ + "/rstmdbd.log";
  std::vector<std::string> args = {binary, "--bind", bind, "--data-dir", data_dir, "--log-level", "warn"};
  if (fsync_policy) {
    args.emplace_back("--set");
    args.push_back("storage.fsync_policy=" + *fsync_policy);
  }
  if (connections + kSpareConnections > kServerDefaultMaxConnections) {
    // The server raises its own soft RLIMIT_NOFILE to fit (runtime.md §5.5).
    args.emplace_back("--set");
    args.push_back("network.max_connections=" + std::to_string(connections + kSpareConnections));
  }
  std::vector<char*> argv;
  for (std::string& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, binary.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    s->stop();
    throw BenchError("cannot start " + binary + ": " + std::strerror(rc));
  }
  s->pid_ = pid;
  std::fprintf(stderr, "rstmdb-bench: started %s (pid %d) on %s, data in %s, fsync_policy %s\n",
               binary.c_str(), static_cast<int>(pid), bind.c_str(), data_dir.c_str(),
               fsync_policy ? fsync_policy->c_str() : "(server default)");

  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (!accepts(s->port_)) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      s->pid_ = -1;
      const std::string tail = s->log_tail();
      s->stop();
      throw BenchError(binary + " exited during startup (" + describe_status(status) + "); its log:\n" +
                       tail);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      const std::string tail = s->log_tail();
      s->stop();
      throw BenchError(binary + " did not accept connections within 30 s; its log:\n" + tail);
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return s;
}

bool LocalServer::stop() {
  if (stopped_) return true;
  stopped_ = true;
  bool clean = true;
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
    pid_t r = 0;
    while ((r = ::waitpid(pid_, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(kPollInterval);
    }
    if (r == 0) {
      std::fprintf(stderr, "rstmdb-bench: local server did not stop after SIGTERM; killing it\n");
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      clean = false;
    } else if (r == pid_ && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      std::fprintf(stderr, "rstmdb-bench: local server ended with %s; its log:\n%s",
                   describe_status(status).c_str(), log_tail().c_str());
      clean = false;
    }
    pid_ = -1;
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    if (ec) std::fprintf(stderr, "rstmdb-bench: cannot remove %s: %s\n", dir_.c_str(), ec.message().c_str());
  }
  return clean;
}

std::string LocalServer::log_tail() const {
  std::ifstream in(dir_ + "/rstmdbd.log");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(std::move(line));
    if (lines.size() > kLogTailLines) lines.erase(lines.begin());
  }
  std::string out;
  for (const std::string& l : lines)
    out += "  " + l + "\n";
  return out.empty() ? "  (empty)\n" : out;
}

}  // namespace rstmdb::bench
