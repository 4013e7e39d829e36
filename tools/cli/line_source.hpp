// Where the REPL's lines come from: a terminal (libedit: prompt, emacs key bindings, history
// file, tab completion of command names, Ctrl+C clears the line) or a pipe/file (plain lines,
// no prompt).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rstmdb::cli {

// Longest line read from a pipe: the protocol's payload limit (a batch or a definition on one
// line can be large, but nothing longer could be sent).
inline constexpr std::size_t kMaxInputLineBytes = 16 * 1024 * 1024;
// History entries kept (runtime.md §2.2).
inline constexpr int kHistoryLines = 1000;

class LineSource {
 public:
  enum class Status { Line, Eof, Interrupted, TooLong };

  virtual ~LineSource() = default;
  // The next line without its newline.
  virtual Status read(std::string& line) = 0;
  // Adds a line to the history (and saves the history file, if any).
  virtual void remember(const std::string& line) = 0;
};

// Lines from stdin through libedit. `history_path`: nullopt = no history file. Installs a
// SIGINT handler for its lifetime (Ctrl+C at the prompt abandons the line).
std::unique_ptr<LineSource> make_terminal_source(std::string prompt, std::optional<std::string> history_path,
                                                 std::vector<std::string> completions);

// Lines from stdin as they are (a pipe or a file), at most kMaxInputLineBytes each.
std::unique_ptr<LineSource> make_stream_source();

}  // namespace rstmdb::cli
