// Process-wide logging setup (runtime.md §4.4): spdlog to stdout, text or JSON lines, UTC
// timestamps. Loggers are named by component ("server", "request", "storage", ...).
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>

namespace rstmdb::server {

enum class LogFormat { Text, Json };

// Installs the stdout sink with the given format and level ("trace".."critical", "off").
// Call once, before any other thread logs.
void init_logging(LogFormat format, std::string_view level);

// A logger sharing the process sink, created on first use.
std::shared_ptr<spdlog::logger> get_logger(const std::string& name);

}  // namespace rstmdb::server
