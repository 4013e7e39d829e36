#include "tools/bench/request_builder.hpp"

#include "protocol/json_text.hpp"

#include <charconv>

namespace rstmdb::bench {
namespace {

constexpr std::string_view kHead = R"({"type":"request","id":")";

// Alphanumeric filler: JSON-safe, and not one repeated byte, so storage compression does
// not make the payload unrealistically cheap.
std::string payload_text(std::uint32_t bytes) {
  static constexpr std::string_view kAlphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string s(bytes, 'x');
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = kAlphabet[x % kAlphabet.size()];
  }
  return s;
}

void append_request(std::string& out, std::string_view id, std::string_view op, std::string_view params) {
  out += kHead;
  out += id;
  out += R"(","op":")";
  out += op;
  out += R"(","params":)";
  out += params;
  out += '}';
}

}  // namespace

void format_uuid(char* out, std::uint32_t connection, std::uint64_t seq) noexcept {
  const auto mix = [](std::uint64_t z) {  // splitmix64's finaliser: a bijection on 64 bits
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  const std::uint64_t hi = mix((static_cast<std::uint64_t>(connection) << 40) ^ seq);
  const std::uint64_t lo = mix(hi ^ 0x9E3779B97F4A7C15ull);
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t n = 0;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out[n++] = '-';
    const std::uint64_t word = i < 16 ? hi : lo;
    out[n++] = kHex[(word >> (60 - 4 * (i % 16))) & 0xF];
  }
}

std::string_view format_u64(char* buf, std::uint64_t v) noexcept {
  const auto res = std::to_chars(buf, buf + 20, v);
  return {buf, static_cast<std::size_t>(res.ptr - buf)};
}

RequestBuilder::RequestBuilder(std::string machine, std::uint32_t payload_bytes, CreateIds create_ids)
    : machine_(std::move(machine)), create_ids_(create_ids) {
  const std::string m = R"("machine":")" + machine_ + '"';
  const std::string version = R"("version":)" + std::to_string(kMachineVersion);
  const std::string limit = R"("limit":)" + std::to_string(kListPageSize);
  const auto set = [this](RequestKind k, std::string middle, std::string tail) {
    middle_[static_cast<std::size_t>(k)] = std::move(middle);
    tail_[static_cast<std::size_t>(k)] = std::move(tail);
  };
  // Instance ops: middle ends right before the instance id's characters.
  const auto instance_op = [&set](RequestKind k, std::string_view op, const std::string& rest) {
    set(k, R"(","op":")" + std::string(op) + R"(","params":{"instance_id":")", "\"" + rest + "}}");
  };

  set(RequestKind::Ping, R"(","op":"PING","params":{}})", "");
  set(RequestKind::Info, R"(","op":"INFO","params":{}})", "");
  set(RequestKind::GetMachine, R"(","op":"GET_MACHINE","params":{)" + m + ',' + version + "}}", "");
  set(RequestKind::ListMachines, R"(","op":"LIST_MACHINES","params":{)" + limit + "}}", "");
  set(RequestKind::ListInstances, R"(","op":"LIST_INSTANCES","params":{)" + m + ',' + limit + "}}", "");
  set(RequestKind::WalStats, R"(","op":"WAL_STATS","params":{}})", "");
  set(RequestKind::WalRead, R"(","op":"WAL_READ","params":{"from_offset":)", "," + limit + "}}");
  instance_op(RequestKind::CreateInstance, "CREATE_INSTANCE", "," + m + ',' + version);
  instance_op(RequestKind::GetInstance, "GET_INSTANCE", "");
  instance_op(RequestKind::SnapshotInstance, "SNAPSHOT_INSTANCE", "");
  instance_op(RequestKind::DeleteInstance, "DELETE_INSTANCE", "");
  instance_op(RequestKind::ApplyEvent, "APPLY_EVENT",
              R"(,"event":")" + std::string(kCycleEvent) + R"(","payload":{"data":")" +
                  payload_text(payload_bytes) + "\"}");
}

void RequestBuilder::append(std::string& out, RequestKind kind, std::string_view id,
                            std::string_view arg) const {
  const auto k = static_cast<std::size_t>(kind);
  out += kHead;
  out += id;
  out += middle_[k];
  if (!tail_[k].empty()) {
    out += arg;
    out += tail_[k];
  }
}

std::string RequestBuilder::hello(std::string_view id) {
  std::string out;
  append_request(out, id, "HELLO",
                 R"({"protocol_version":1,"wire_modes":["binary_json"],"client_name":"rstmdb-bench",)"
                 R"("client_version":")" RSTMDB_VERSION R"("})");
  return out;
}

std::string RequestBuilder::auth(std::string_view id, std::string_view token) {
  std::string params = R"({"method":"bearer","token":)";
  protocol::append_json_string(params, token);
  params += '}';
  std::string out;
  append_request(out, id, "AUTH", params);
  return out;
}

std::string RequestBuilder::simple(std::string_view id, std::string_view op) {
  std::string out;
  append_request(out, id, op, "{}");
  return out;
}

std::string RequestBuilder::machine_definition() {
  std::string states;
  std::string transitions;
  for (unsigned i = 0; i < kCycleStates; ++i) {
    const std::string from = "s" + std::to_string(i);
    const std::string to = "s" + std::to_string((i + 1) % kCycleStates);
    if (i > 0) {
      states += ',';
      transitions += ',';
    }
    states += '"' + from + '"';
    transitions +=
        R"({"from":")" + from + R"(","event":")" + std::string(kCycleEvent) + R"(","to":")" + to + "\"}";
  }
  return R"({"states":[)" + states + R"(],"initial":"s0","transitions":[)" + transitions + "]}";
}

std::string RequestBuilder::put_machine(std::string_view id) const {
  const std::string params = R"({"machine":")" + machine_ + R"(","version":)" +
                             std::to_string(kMachineVersion) + R"(,"definition":)" + machine_definition() +
                             '}';
  std::string out;
  append_request(out, id, "PUT_MACHINE", params);
  return out;
}

std::string RequestBuilder::watch_all(std::string_view id) const {
  std::string out;
  append_request(out, id, "WATCH_ALL", R"({"machines":[")" + machine_ + R"("]})");
  return out;
}

std::optional<std::uint64_t> RequestBuilder::working_index(std::string_view instance_id) const noexcept {
  if (instance_id.size() <= machine_.size() + 2 || instance_id.substr(0, machine_.size()) != machine_ ||
      instance_id.substr(machine_.size(), 2) != "-w") {
    return std::nullopt;
  }
  const std::string_view digits = instance_id.substr(machine_.size() + 2);
  std::uint64_t k = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), k);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return k;
}

}  // namespace rstmdb::bench
