#include "tools/cli/output.hpp"

#include "protocol/json_text.hpp"

namespace rstmdb::cli {
namespace json = boost::json;

void Output::write(std::FILE* f, std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), f);
  std::fflush(f);
}

void Output::result(const std::string& human, const json::object& result) {
  if (json_) {
    write(out_, protocol::to_json(result) + "\n");
  } else {
    write(out_, human + "\n");
  }
}

void Output::line(std::string_view text) {
  std::string s(text);
  s.push_back('\n');
  write(out_, s);
}

void Output::note(std::string_view text) {
  if (json_) return;
  std::string s(text);
  s.push_back('\n');
  write(err_, s);
}

void Output::note_json(const json::object& o) {
  write(err_, protocol::to_json(o) + "\n");
}

void Output::server_error(const protocol::ResponseMessage& response) {
  if (json_) {
    json::object wrapper;
    wrapper["error"] = response.error;
    write(err_, protocol::to_json(wrapper) + "\n");
    return;
  }
  write(err_, err_style_.red("Error") + ": server error: " + std::string(response.error_code()) + " - " +
                  std::string(response.error_message()) + "\n");
}

void Output::error(std::string_view code, std::string_view message, std::string_view prefix) {
  if (json_) {
    json::object e;
    e["code"] = code;
    e["message"] = message;
    json::object wrapper;
    wrapper["error"] = std::move(e);
    write(err_, protocol::to_json(wrapper) + "\n");
    return;
  }
  write(err_, err_style_.red(prefix) + ": " + std::string(message) + "\n");
}

void Output::error_text(std::string_view code, std::string_view text) {
  if (json_) {
    error(code, text);
    return;
  }
  std::string s(text);
  s.push_back('\n');
  write(err_, s);
}

}  // namespace rstmdb::cli
