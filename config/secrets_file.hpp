// The token secrets file (runtime.md §3.1): UTF-8, one "HASH [LABEL]" per line. Upstream files
// (hash only) load unchanged; the label names the audit principal.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rstmdb::config {

struct SecretsEntry {
  std::string hash;   // lower-cased 64 hex digits
  std::string label;  // "" when the line has none
  std::size_t line = 0;
};

struct SecretsProblem {
  std::size_t line = 0;
  std::string problem;  // never quotes the line: it may hold a raw token pasted by mistake
};

struct SecretsFile {
  std::vector<SecretsEntry> entries;
  std::vector<SecretsProblem> problems;
};

// Longest label accepted; labels end up in every audit line.
inline constexpr std::size_t kMaxTokenLabelBytes = 128;

// Parses the file's text. Lines are trimmed; blank lines and lines starting with '#' are skipped;
// a label starting with '#' is a trailing comment, not a label. CRLF line ends and a UTF-8 BOM are
// tolerated.
SecretsFile parse_secrets_text(std::string_view text);

}  // namespace rstmdb::config
