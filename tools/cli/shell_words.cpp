#include "tools/cli/shell_words.hpp"

namespace rstmdb::cli {
namespace {

// End of the JSON value that starts at `i` ('{' or '['): one past its balanced closing
// bracket, or the end of the line when it is unbalanced (the JSON parser reports that).
std::size_t json_value_end(std::string_view line, std::size_t i) {
  std::size_t depth = 0;
  bool in_string = false;
  for (; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return line.size();
}

}  // namespace

std::variant<std::vector<std::string>, ShellWordsError> split_shell_words(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // a word has started (even if empty, as in '')
  std::size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) {
        words.push_back(std::move(word));
        word.clear();
        in_word = false;
      }
      ++i;
      continue;
    }
    if (!in_word && (c == '{' || c == '[')) {
      const std::size_t end = json_value_end(line, i);
      word.append(line.substr(i, end - i));
      in_word = true;
      i = end;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const std::size_t close = line.find('\'', i + 1);
      if (close == std::string_view::npos) return ShellWordsError{"unterminated single quote"};
      word.append(line.substr(i + 1, close - i - 1));
      i = close + 1;
    } else if (c == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        const char d = line[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < line.size()) {
          const char e = line[i + 1];
          if (e == '"' || e == '\\' || e == '$' || e == '`') {
            word.push_back(e);
            i += 2;
            continue;
          }
          if (e == '\n') {  // line continuation
            i += 2;
            continue;
          }
        }
        word.push_back(d);
        ++i;
      }
      if (!closed) return ShellWordsError{"unterminated double quote"};
    } else if (c == '\\') {
      if (i + 1 >= line.size()) return ShellWordsError{"trailing backslash"};
      if (line[i + 1] != '\n') word.push_back(line[i + 1]);
      i += 2;
    } else {
      word.push_back(c);
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

}  // namespace rstmdb::cli
