// Splits a REPL line into words the way a POSIX shell does, without expansions: blanks
// separate words; 'single quotes' keep everything literally; "double quotes" keep everything
// but let a backslash escape " \ $ ` and newline; outside quotes a backslash escapes the next
// character. So JSON with spaces can be passed as one word: put-machine -n m -v 1 '{"a": 1}'.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rstmdb::cli {

struct ShellWordsError {
  std::string message;  // "unterminated single quote", ...
};

std::variant<std::vector<std::string>, ShellWordsError> split_shell_words(std::string_view line);

}  // namespace rstmdb::cli
