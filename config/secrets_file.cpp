#include "config/secrets_file.hpp"

#include "config/value_parsers.hpp"

namespace rstmdb::config {

namespace {

bool has_control_char(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

SecretsFile parse_secrets_text(std::string_view text) {
  SecretsFile out;
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (text.substr(0, kBom.size()) == kBom) text.remove_prefix(kBom.size());
  std::size_t line_no = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = trim(text.substr(start, end - start));
    start = end + 1;
    ++line_no;
    if (line.empty() || line.front() == '#') continue;

    std::size_t split = 0;
    while (split < line.size() && line[split] != ' ' && line[split] != '\t')
      ++split;
    std::string_view hash_text = line.substr(0, split);
    std::string_view label = trim(line.substr(split));
    if (!label.empty() && label.front() == '#') label = {};

    auto hash = normalize_token_hash(hash_text);
    if (!hash) {
      out.problems.push_back(
          {line_no, "expected a SHA-256 hash (64 hex digits) and an optional label, got a " +
                        std::to_string(hash_text.size()) + "-character first field"});
      continue;
    }
    if (label.size() > kMaxTokenLabelBytes || has_control_char(label)) {
      out.problems.push_back({line_no, "label must be at most " + std::to_string(kMaxTokenLabelBytes) +
                                           " bytes without control characters"});
      continue;
    }
    out.entries.push_back({*hash, std::string(label), line_no});
  }
  return out;
}

}  // namespace rstmdb::config
