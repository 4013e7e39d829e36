// Splits a REPL line into words the way a POSIX shell does, without expansions: blanks
// separate words; 'single quotes' keep everything literally; "double quotes" keep everything
// but let a backslash escape " \ $ ` and newline; outside quotes a backslash escapes the next
// character. So JSON with spaces can be passed as one word: put-machine -n m -v 1 '{"a": 1}'.
//
// One addition for JSON typed as it is (upstream's REPL took `{"a":1}` literally): a word that
// starts with '{' or '[' runs to its balanced closing bracket, with JSON strings skipped and
// no quote or backslash processing, so `c order 1 o-1 {"note": "two words"}` gives the JSON
// unchanged as one word.
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
