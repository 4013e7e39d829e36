#include "server/event_builder.hpp"

#include "protocol/json_text.hpp"

#include <boost/json/value.hpp>

namespace rstmdb::server {

namespace json = boost::json;

namespace {

// Every change-log entry starts with its type (operations.md §25.2), so the type is known
// without parsing the entry.
constexpr std::string_view kApplyEventPrefix = R"({"type":"apply_event",)";

std::shared_ptr<const EventBody> build(std::uint64_t offset, const EventFacts& f, std::uint64_t version,
                                       const auto& append_payload, const auto& append_ctx,
                                       std::size_t size_hint) {
  auto body = std::make_shared<EventBody>();
  body->offset = offset;
  std::string& t = body->text;
  t.reserve(size_hint + f.instance_id.size() + f.machine.size() + f.event.size() + f.from_state.size() +
            f.to_state.size() + 128);
  t += "\"instance_id\":";
  protocol::append_json_string(t, f.instance_id);
  t += ",\"machine\":";
  protocol::append_json_string(t, f.machine);
  t += ",\"version\":";
  t += std::to_string(version);
  t += ",\"wal_offset\":";
  t += std::to_string(offset);
  t += ",\"from_state\":";
  protocol::append_json_string(t, f.from_state);
  t += ",\"to_state\":";
  protocol::append_json_string(t, f.to_state);
  t += ",\"event\":";
  protocol::append_json_string(t, f.event);
  t += ",\"payload\":";
  append_payload(t);
  body->ctx_pos = t.size();
  t += ",\"ctx\":";
  append_ctx(t);
  t += '}';
  return body;
}

const json::string* string_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? &v->get_string() : nullptr;
}

std::string_view view(const json::string& s) {
  return std::string_view(s.data(), s.size());
}

}  // namespace

std::shared_ptr<const EventBody> event_body(const engine::CommittedEvent& e) {
  return build(
      e.offset, facts_of(e), e.version, [&](std::string& t) { t += e.payload(); },
      [&](std::string& t) { t += e.ctx(); }, e.payload_len + e.ctx_len);
}

LogEntryEvent::Kind LogEntryEvent::parse(std::uint64_t offset, std::string_view entry) {
  body_.reset();
  if (!entry.starts_with(kApplyEventPrefix)) return Kind::NotAnEvent;
  json::value parsed;
  protocol::JsonParseError error;
  if (!protocol::parse_stored_json(entry, parsed, error) || !parsed.is_object()) return Kind::Unreadable;
  entry_ = std::move(parsed.get_object());
  const json::string* instance_id = string_field(entry_, "instance_id");
  const json::string* machine = string_field(entry_, "machine");
  const json::string* event = string_field(entry_, "event");
  const json::string* from_state = string_field(entry_, "from_state");
  const json::string* to_state = string_field(entry_, "to_state");
  const json::value* version = entry_.if_contains("version");
  const json::value* payload = entry_.if_contains("payload");
  const json::value* ctx = entry_.if_contains("ctx");
  if (instance_id == nullptr || machine == nullptr || event == nullptr || from_state == nullptr ||
      to_state == nullptr || version == nullptr || !(version->is_uint64() || version->is_int64()) ||
      payload == nullptr || !payload->is_object() || ctx == nullptr || !ctx->is_object()) {
    return Kind::Unreadable;
  }
  offset_ = offset;
  version_ = version->is_uint64() ? version->get_uint64() : static_cast<std::uint64_t>(version->get_int64());
  facts_ = EventFacts{view(*instance_id), view(*machine), view(*event), view(*from_state), view(*to_state)};
  return Kind::Event;
}

std::shared_ptr<const EventBody> LogEntryEvent::body() {
  if (!body_) {
    const json::value& payload = entry_.at("payload");
    const json::value& ctx = entry_.at("ctx");
    body_ = build(
        offset_, facts_, version_, [&](std::string& t) { protocol::append_json(t, payload); },
        [&](std::string& t) { protocol::append_json(t, ctx); }, 0);
  }
  return body_;
}

}  // namespace rstmdb::server
