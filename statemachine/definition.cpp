#include "statemachine/definition.hpp"

#include "protocol/crc32c.hpp"
#include "protocol/json_text.hpp"

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>

#include <algorithm>
#include <charconv>
#include <utility>

namespace rstmdb::statemachine {

namespace {

using protocol::Error;

Error invalid_definition(std::string reason) {
  return protocol::bad_request_field("invalid machine definition: " + reason, "definition");
}

std::string transition_prefix(std::size_t index) {
  return "transition " + std::to_string(index) + ": ";
}

// Absent and null are the same thing for every optional key of a definition.
const boost::json::value* find_present(const boost::json::object& o, std::string_view key) {
  const auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

const boost::json::value* find_key(const boost::json::object& o, std::string_view key) {
  const auto it = o.find(key);
  return it == o.end() ? nullptr : &it->value();
}

// Rule 8: a string, or an array whose elements are all strings.
bool read_from(const boost::json::value* v, std::vector<std::string>& out) {
  if (v == nullptr) return false;
  if (const auto* s = v->if_string()) {
    out.emplace_back(*s);
    return true;
  }
  const auto* array = v->if_array();
  if (array == nullptr) return false;
  out.reserve(array->size());
  for (const auto& element : *array) {
    const auto* s = element.if_string();
    if (s == nullptr) return false;
    out.emplace_back(*s);
  }
  return true;
}

template <class Int>
void append_integer(std::string& out, Int value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

// `meta` is copied in full with object keys in byte order at every level (§19.4).
// std::string_view compares as unsigned char, which is UTF-8 byte order.
void append_sorted(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      out += "null";
      return;
    case boost::json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case boost::json::kind::int64:
      append_integer(out, v.get_int64());
      return;
    case boost::json::kind::uint64:
      append_integer(out, v.get_uint64());
      return;
    case boost::json::kind::double_:
      protocol::append_json_double(out, v.get_double());
      return;
    case boost::json::kind::string:
      protocol::append_json_string(out, v.get_string());
      return;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& element : v.get_array()) {
        if (!first) out += ',';
        first = false;
        append_sorted(out, element);
      }
      out += ']';
      return;
    }
    case boost::json::kind::object: {
      const auto& object = v.get_object();
      std::vector<const boost::json::key_value_pair*> members;
      members.reserve(object.size());
      for (const auto& member : object)
        members.push_back(&member);
      std::sort(members.begin(), members.end(),
                [](const auto* a, const auto* b) { return a->key() < b->key(); });
      out += '{';
      bool first = true;
      for (const auto* member : members) {
        if (!first) out += ',';
        first = false;
        protocol::append_json_string(out, member->key());
        out += ':';
        append_sorted(out, member->value());
      }
      out += '}';
      return;
    }
  }
}

void append_string_array(std::string& out, const boost::json::value* v) {
  out += '[';
  if (v != nullptr) {
    if (const auto* s = v->if_string()) {
      protocol::append_json_string(out, *s);
    } else if (const auto* array = v->if_array()) {
      bool first = true;
      for (const auto& element : *array) {
        if (!first) out += ',';
        first = false;
        if (const auto* es = element.if_string()) protocol::append_json_string(out, *es);
      }
    }
  }
  out += ']';
}

void append_string_member(std::string& out, const boost::json::object& o, std::string_view key) {
  const auto* v = find_key(o, key);
  const auto* s = v != nullptr ? v->if_string() : nullptr;
  protocol::append_json_string(out, s != nullptr ? std::string_view(*s) : std::string_view());
}

}  // namespace

std::size_t MachineDefinition::KeyHash::operator()(const KeyView& k) const noexcept {
  const std::size_t h1 = std::hash<std::string_view>{}(k.state);
  const std::size_t h2 = std::hash<std::string_view>{}(k.event);
  return h1 ^ (h2 + 0x9e3779b97f4a7c15ULL + (h1 << 6) + (h1 >> 2));
}

bool MachineDefinition::has_state(std::string_view state) const noexcept {
  return std::binary_search(sorted_states_.begin(), sorted_states_.end(), state,
                            [](std::string_view a, std::string_view b) { return a < b; });
}

std::span<const std::uint32_t> MachineDefinition::candidates(std::string_view state,
                                                             std::string_view event) const noexcept {
  const auto it = candidate_ranges_.find(KeyView{state, event});
  if (it == candidate_ranges_.end()) return {};
  return std::span<const std::uint32_t>(candidate_indices_.data() + it->second.begin,
                                        it->second.end - it->second.begin);
}

std::variant<MachineDefinition, protocol::Error> parse_machine_definition(
    const boost::json::value& definition) {
  MachineDefinition def;

  // Rule 1.
  const auto* root = definition.if_object();
  if (root == nullptr) return invalid_definition("definition must be an object");

  // Rule 2.
  const auto* states = find_key(*root, "states");
  const auto* states_array = states != nullptr ? states->if_array() : nullptr;
  if (states_array == nullptr || states_array->empty()) {
    return invalid_definition("'states' must be a non-empty array of strings");
  }
  def.states_.reserve(states_array->size());
  for (const auto& state : *states_array) {
    const auto* s = state.if_string();
    if (s == nullptr) return invalid_definition("'states' must be a non-empty array of strings");
    def.states_.emplace_back(*s);
  }
  def.sorted_states_ = def.states_;
  std::sort(def.sorted_states_.begin(), def.sorted_states_.end());
  def.sorted_states_.erase(std::unique(def.sorted_states_.begin(), def.sorted_states_.end()),
                           def.sorted_states_.end());

  // Rule 3.
  const auto* initial = find_key(*root, "initial");
  const auto* initial_string = initial != nullptr ? initial->if_string() : nullptr;
  if (initial_string == nullptr) return invalid_definition("'initial' must be a string");
  if (!def.has_state(*initial_string)) {
    return invalid_definition("initial state '" + std::string(*initial_string) + "' not in states list");
  }
  def.initial_ = std::string(*initial_string);

  // Rule 4.
  const auto* transitions = find_key(*root, "transitions");
  const auto* transitions_array = transitions != nullptr ? transitions->if_array() : nullptr;
  if (transitions_array == nullptr) return invalid_definition("'transitions' must be an array");

  // Rules 5-9, one transition at a time.
  def.transitions_.reserve(transitions_array->size());
  for (std::size_t i = 0; i < transitions_array->size(); ++i) {
    const auto* t = (*transitions_array)[i].if_object();
    if (t == nullptr) return invalid_definition(transition_prefix(i) + "must be an object");
    Transition transition;

    const auto* event = find_key(*t, "event");
    const auto* event_string = event != nullptr ? event->if_string() : nullptr;
    if (event_string == nullptr) return invalid_definition(transition_prefix(i) + "'event' must be a string");
    transition.event = std::string(*event_string);

    const auto* to = find_key(*t, "to");
    const auto* to_string = to != nullptr ? to->if_string() : nullptr;
    if (to_string == nullptr) return invalid_definition(transition_prefix(i) + "'to' must be a string");
    if (!def.has_state(*to_string)) {
      return invalid_definition(transition_prefix(i) + "target state '" + std::string(*to_string) +
                                "' not in states list");
    }
    transition.to = std::string(*to_string);

    if (!read_from(find_key(*t, "from"), transition.from)) {
      return invalid_definition(transition_prefix(i) + "'from' must be a string or an array of strings");
    }
    for (const auto& source : transition.from) {
      if (!def.has_state(source)) {
        return invalid_definition(transition_prefix(i) + "source state '" + source + "' not in states list");
      }
    }

    if (const auto* guard = find_present(*t, "guard")) {
      const auto* guard_string = guard->if_string();
      if (guard_string == nullptr) {
        return invalid_definition(transition_prefix(i) + "'guard' must be a string or null");
      }
      auto parsed = parse_guard(*guard_string);
      if (auto* error = std::get_if<GuardParseError>(&parsed)) {
        Error e =
            protocol::bad_request_field("invalid guard expression in transition " + std::to_string(i) + ": " +
                                            error->reason + " at byte " + std::to_string(error->position),
                                        "definition");
        e.details["transition_index"] = static_cast<std::int64_t>(i);
        return e;
      }
      transition.guard = std::move(std::get<GuardExpr>(parsed));
    }
    def.transitions_.push_back(std::move(transition));
  }

  // Candidate index: group transition indices by (source state, event), in definition order.
  std::unordered_map<MachineDefinition::Key, std::vector<std::uint32_t>, MachineDefinition::KeyHash,
                     MachineDefinition::KeyEqual>
      groups;
  for (std::uint32_t i = 0; i < def.transitions_.size(); ++i) {
    const Transition& t = def.transitions_[i];
    for (const auto& source : t.from) {
      auto it = groups.find(MachineDefinition::KeyView{source, t.event});
      if (it == groups.end())
        it = groups.emplace(MachineDefinition::Key{source, t.event}, std::vector<std::uint32_t>{}).first;
      // A `from` that lists a state twice still makes the transition one candidate.
      if (it->second.empty() || it->second.back() != i) it->second.push_back(i);
    }
  }
  def.candidate_ranges_.reserve(groups.size());
  for (auto& [key, indices] : groups) {
    MachineDefinition::Range range;
    range.begin = static_cast<std::uint32_t>(def.candidate_indices_.size());
    def.candidate_indices_.insert(def.candidate_indices_.end(), indices.begin(), indices.end());
    range.end = static_cast<std::uint32_t>(def.candidate_indices_.size());
    def.candidate_ranges_.emplace(key, range);
  }

  def.checksum_ = definition_checksum(canonical_definition_json(*root));
  return def;
}

std::string canonical_definition_json(const boost::json::object& definition) {
  std::string out;
  out += "{\"states\":";
  append_string_array(out, find_key(definition, "states"));
  out += ",\"initial\":";
  append_string_member(out, definition, "initial");
  out += ",\"transitions\":[";
  if (const auto* transitions = find_key(definition, "transitions"); transitions != nullptr) {
    if (const auto* array = transitions->if_array()) {
      bool first = true;
      for (const auto& element : *array) {
        const auto* t = element.if_object();
        if (t == nullptr) continue;
        if (!first) out += ',';
        first = false;
        out += "{\"from\":";
        append_string_array(out, find_key(*t, "from"));
        out += ",\"event\":";
        append_string_member(out, *t, "event");
        out += ",\"to\":";
        append_string_member(out, *t, "to");
        if (const auto* guard = find_present(*t, "guard")) {
          out += ",\"guard\":";
          append_sorted(out, *guard);
        }
        out += '}';
      }
    }
  }
  out += ']';
  if (const auto* meta = find_present(definition, "meta")) {
    out += ",\"meta\":";
    append_sorted(out, *meta);
  }
  out += '}';
  return out;
}

std::string definition_checksum(std::string_view canonical_json) {
  const std::uint32_t crc = protocol::crc32c(canonical_json);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(8, '0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = kHex[(crc >> (28 - 4 * i)) & 0xF];
  return out;
}

}  // namespace rstmdb::statemachine
