#include "engine/reads.hpp"

#include "engine/errors.hpp"
#include "engine/object_writer.hpp"
#include "engine/results.hpp"
#include "protocol/json_text.hpp"
#include "storage/keys.hpp"
#include "storage/records.hpp"

#include <algorithm>
#include <charconv>

namespace rstmdb::engine {

namespace json = boost::json;
using protocol::Error;
using protocol::ErrorCode;
using storage::Cf;

std::string_view entry_type(std::string_view entry) {
  constexpr std::string_view kPrefix = "{\"type\":\"";
  if (entry.substr(0, kPrefix.size()) != kPrefix) return "unknown";
  const auto end = entry.find('"', kPrefix.size());
  return end == std::string_view::npos ? "unknown" : entry.substr(kPrefix.size(), end - kPrefix.size());
}

std::int64_t entry_timestamp(std::string_view entry) {
  constexpr std::string_view kKey = "\"timestamp\":";
  const auto pos = entry.rfind(kKey);
  if (pos == std::string_view::npos) return 0;
  std::int64_t value = 0;
  const char* begin = entry.data() + pos + kKey.size();
  std::from_chars(begin, entry.data() + entry.size(), value);
  return value;
}

Result Reads::get_instance(const GetInstance& q) const {
  auto bytes = store_.get(Cf::Instances, q.instance_id);
  storage::InstanceRecord rec;
  if (!bytes || !storage::decode_instance(*bytes, rec) || rec.deleted)
    return instance_not_found(q.instance_id);
  return RawJson{instance_result(q.instance_id, rec)};
}

std::variant<InstancePosition, Error> Reads::instance_position(const GetInstance& q) const {
  auto bytes = store_.get(Cf::Instances, q.instance_id);
  storage::InstanceRecord rec;
  if (!bytes || !storage::decode_instance(*bytes, rec) || rec.deleted)
    return instance_not_found(q.instance_id);
  return InstancePosition{std::move(rec.state), rec.last_wal_offset};
}

void Reads::read_log(std::uint64_t from, std::uint64_t through,
                     const std::function<bool(std::uint64_t, std::string_view)>& visit) const {
  const std::uint64_t last = std::min(through, state_.latest_offset());
  if (from > last) return;
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;
  store_.scan(Cf::Log, "", storage::offset_key(from), [&](std::string_view key, std::string_view entry) {
    const std::uint64_t offset = storage::decode_offset_key(key);
    if (offset > last) return false;
    ++count;
    bytes += entry.size();
    return visit(offset, entry);
  });
  state_.count_reads(count, bytes);
}

Result Reads::get_machine(const GetMachine& q) const {
  MachinePtr m = state_.catalog().find(q.machine, q.version);
  if (!m) return machine_not_found(q.machine, q.version);
  return RawJson{machine_result(*m)};
}

Result Reads::list_machines(const ListMachines& q) const {
  bool more = false;
  auto listing = state_.catalog().list(q.cursor, q.limit, more);
  const std::size_t budget = page_budget();
  std::string items;
  std::string last;
  std::size_t taken = 0;
  for (const auto& m : listing) {
    std::string item;
    ObjectWriter w(item);
    w.string("machine", m.machine);
    std::string versions = "[";
    for (std::size_t i = 0; i < m.versions.size(); ++i) {
      if (i > 0) versions += ',';
      versions += std::to_string(m.versions[i]);
    }
    versions += ']';
    w.raw("versions", versions);
    w.finish();
    if (items.size() + item.size() + 1 > budget) {
      more = true;
      break;
    }
    if (taken++ > 0) items += ',';
    items += item;
    last = m.machine;
  }
  std::string out = "{\"items\":[" + items + "]";
  if (more && taken > 0) {
    out += ",\"nextCursor\":";
    protocol::append_json_string(out, last);
  }
  out += '}';
  return RawJson{std::move(out)};
}

namespace {

// LIST_INSTANCES cursors: "1:" and the hex of the last id returned. Opaque to clients; the
// version prefix leaves room for another encoding.
constexpr std::string_view kCursorPrefix = "1:";

std::string encode_cursor(std::string_view id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kCursorPrefix);
  for (unsigned char c : id) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::optional<std::string> decode_cursor(std::string_view text) {
  if (!text.starts_with(kCursorPrefix)) return std::nullopt;
  text.remove_prefix(kCursorPrefix.size());
  if (text.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string id;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id.push_back(static_cast<char>(hi << 4 | lo));
  }
  return id;
}

// The matching instance ids in id order, merged from several index ranges (one per machine for
// a state-only or unfiltered listing), each read lazily: a page costs what it returns plus one
// seek per range, never a scan of everything before it.
class IdMerge {
  struct Range;
  struct Greater {
    const std::vector<Range>* ranges;
    bool operator()(std::size_t a, std::size_t b) const;
  };
  Greater greater() const { return Greater{&ranges_}; }

 public:
  IdMerge(const storage::Store& store, std::vector<std::string> prefixes,
          const std::optional<std::string>& after) {
    for (auto& prefix : prefixes) {
      auto cursor = store.cursor(Cf::Index, prefix);
      // Ids are the raw suffix after the prefix; the first key after prefix+id is prefix+id+'\0'.
      cursor.seek(after ? prefix + *after + '\0' : prefix);
      ranges_.push_back(Range{std::move(prefix), std::move(cursor)});
    }
    for (std::size_t i = 0; i < ranges_.size(); ++i) {
      if (ranges_[i].cursor.valid()) heap_.push_back(i);
    }
    std::make_heap(heap_.begin(), heap_.end(), greater());
  }

  bool done() const { return heap_.empty(); }
  std::string next() {
    std::pop_heap(heap_.begin(), heap_.end(), greater());
    Range& r = ranges_[heap_.back()];
    std::string id(r.cursor.key().substr(r.prefix.size()));
    r.cursor.next();
    if (r.cursor.valid()) {
      std::push_heap(heap_.begin(), heap_.end(), greater());
    } else {
      heap_.pop_back();
    }
    return id;
  }

 private:
  struct Range {
    std::string prefix;
    storage::Store::Cursor cursor;
    std::string_view id() const { return cursor.key().substr(prefix.size()); }
  };
  std::vector<Range> ranges_;
  std::vector<std::size_t> heap_;  // indexes into ranges_, min-heap by current id
};

bool IdMerge::Greater::operator()(std::size_t a, std::size_t b) const {
  return (*ranges)[a].id() > (*ranges)[b].id();
}

}  // namespace

Result Reads::list_instances(const ListInstances& q) const {
  const std::uint64_t total = state_.count(q.machine, q.state);
  std::optional<std::string> after;
  if (q.cursor) {
    after = decode_cursor(*q.cursor);
    if (!after) {
      json::object d;
      d["field"] = "cursor";
      return Error{ErrorCode::BadRequest,
                   "invalid request: invalid value for field 'cursor': not a cursor this server returned",
                   std::move(d)};
    }
  }
  std::vector<std::string> prefixes;
  if (q.machine) {
    prefixes.push_back(q.state ? storage::index_by_machine_state_prefix(*q.machine, *q.state)
                               : storage::index_by_machine_prefix(*q.machine));
  } else {
    bool more = false;
    for (const auto& m : state_.catalog().list(std::nullopt, 0, more)) {
      prefixes.push_back(q.state ? storage::index_by_machine_state_prefix(m.machine, *q.state)
                                 : storage::index_by_machine_prefix(m.machine));
    }
  }

  const std::size_t budget = page_budget();
  std::string items;
  std::size_t taken = 0;
  std::string last_id;
  bool more_after_page = false;
  if (q.limit > 0 || q.offset > 0 || q.cursor) {
    IdMerge merge(store_, std::move(prefixes), after);
    for (std::uint32_t skipped = 0; skipped < q.offset && !merge.done(); ++skipped)
      merge.next();
    while (!merge.done()) {
      if (taken >= q.limit) {
        more_after_page = true;
        break;
      }
      const std::string id = merge.next();
      auto bytes = store_.get(Cf::Instances, id);
      storage::InstanceRecord rec;
      // An index entry without a live record would be a bug; such an id is skipped, not listed.
      if (!bytes || !storage::decode_instance(*bytes, rec) || rec.deleted) continue;
      std::string item;
      ObjectWriter w(item);
      w.string("id", id)
          .string("machine", rec.machine)
          .number("version", rec.version)
          .string("state", rec.state);
      w.signed_number("created_at", rec.created_at).signed_number("updated_at", rec.updated_at);
      w.number("last_wal_offset", rec.last_wal_offset);
      w.finish();
      // Room for this item and for a next_cursor naming it ("next_cursor":"1:<hex>").
      const std::size_t cursor_bytes = 20 + kCursorPrefix.size() + 2 * id.size();
      if (items.size() + item.size() + 1 + cursor_bytes > budget) {
        more_after_page = true;
        break;
      }
      if (taken++ > 0) items += ',';
      items += item;
      last_id = id;
    }
  }
  // Without a cursor has_more follows the spec's formula over the counters; after a cursor the
  // position is not a count, so it says whether the merge had more.
  const bool has_more = q.cursor ? more_after_page : q.offset + taken < total;
  std::string out = "{\"instances\":[" + items + "],\"total\":" + std::to_string(total) +
                    ",\"has_more\":" + (has_more ? "true" : "false");
  if (has_more && taken > 0) {
    out += ",\"next_cursor\":";
    protocol::append_json_string(out, encode_cursor(last_id));
  }
  out += '}';
  return RawJson{std::move(out)};
}

Result Reads::wal_read(const WalRead& q) const {
  const std::uint64_t latest = state_.latest_offset();
  const std::uint64_t oldest = state_.oldest_offset();
  const std::uint32_t limit = std::min(q.limit, kMaxWalReadLimit);
  const std::uint64_t start = std::max(q.from_offset, oldest);
  const std::size_t budget = page_budget();

  std::string records;
  std::string entries;
  std::uint32_t count = 0;
  std::uint64_t last = 0;
  std::uint64_t bytes = 0;
  std::optional<std::uint64_t> too_large;
  if (limit > 0 && start <= latest) {
    store_.scan(Cf::Log, "", storage::offset_key(start), [&](std::string_view key, std::string_view entry) {
      const std::uint64_t offset = storage::decode_offset_key(key);
      if (offset > latest || count >= limit) return false;
      const std::string n = std::to_string(offset);
      std::string record = "{\"offset\":" + n + ",\"sequence\":" + n + ",\"entry\":";
      record += entry;
      record += '}';
      std::string item = "{\"offset\":" + n + ",\"type\":";
      protocol::append_json_string(item, entry_type(entry));
      item += ",\"data\":";
      item += entry;
      item += ",\"timestamp\":" + std::to_string(entry_timestamp(entry)) + "}";
      if (records.size() + entries.size() + record.size() + item.size() + 2 > budget) {
        if (count == 0) too_large = offset;
        return false;
      }
      if (count > 0) {
        records += ',';
        entries += ',';
      }
      records += record;
      entries += item;
      bytes += entry.size();
      last = offset;
      ++count;
      return true;
    });
  }
  if (too_large) {
    json::object d;
    d["offset"] = *too_large;
    return Error{ErrorCode::BadRequest,
                 "log entry at offset " + std::to_string(*too_large) + " is too large to return",
                 std::move(d)};
  }
  state_.count_reads(count, bytes);
  const std::uint64_t next = count > 0 ? last + 1 : q.from_offset;
  const bool has_more = latest >= std::max(next, oldest) && latest > 0;
  const std::string next_text = std::to_string(next);
  std::string out;
  out.reserve(records.size() + entries.size() + 96);
  out += "{\"records\":[" + records + "],\"next_offset\":" + next_text + ",\"entries\":[" + entries +
         "],\"hasMore\":" + (has_more ? "true" : "false") + ",\"nextOffset\":" + next_text + "}";
  return RawJson{std::move(out)};
}

Result Reads::wal_stats() const {
  const std::uint64_t latest = state_.latest_offset();
  const auto files = store_.cf_files(Cf::Log);
  const IoStats io = state_.io_stats();
  json::object r;
  r["entry_count"] = latest;
  r["segment_count"] = std::max<std::uint64_t>(1, files.file_count);
  r["total_size_bytes"] = files.total_bytes;
  if (latest > 0) {
    r["latest_offset"] = latest;
    r["oldest_offset"] = state_.oldest_offset();
  }
  json::object stats;
  stats["bytes_written"] = io.bytes_written;
  stats["bytes_read"] = io.bytes_read;
  stats["writes"] = io.writes;
  stats["reads"] = io.reads;
  stats["fsyncs"] = io.fsyncs;
  r["io_stats"] = std::move(stats);
  return r;
}

}  // namespace rstmdb::engine
