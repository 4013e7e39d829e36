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

Result Reads::list_instances(const ListInstances& q) const {
  const std::uint64_t total = state_.count(q.machine, q.state);
  const std::size_t budget = page_budget();
  std::string items;
  std::size_t taken = 0;
  std::uint64_t skipped = 0;
  auto add = [&](const std::string& id, const storage::InstanceRecord& rec) {
    if (skipped < q.offset) {
      ++skipped;
      return true;
    }
    if (taken >= q.limit) return false;
    std::string item;
    ObjectWriter w(item);
    w.string("id", id)
        .string("machine", rec.machine)
        .number("version", rec.version)
        .string("state", rec.state);
    w.signed_number("created_at", rec.created_at).signed_number("updated_at", rec.updated_at);
    w.number("last_wal_offset", rec.last_wal_offset);
    w.finish();
    if (items.size() + item.size() + 1 > budget) return false;
    if (taken++ > 0) items += ',';
    items += item;
    return true;
  };

  if (q.limit > 0 || q.offset > 0) {
    if (!q.machine && !q.state) {
      store_.scan(Cf::Instances, "", "", [&](std::string_view key, std::string_view value) {
        storage::InstanceRecord rec;
        if (!storage::decode_instance(value, rec) || rec.deleted) return true;
        return add(std::string(key), rec);
      });
    } else {
      // The matching ids in id order: one index range, or for a state-only filter the
      // (machine, state) range of every machine merged. Only the first offset + limit ids
      // of each range can make the page, so each range is read no further than that.
      std::vector<std::string> prefixes;
      if (q.machine) {
        prefixes.push_back(q.state ? storage::index_by_machine_state_prefix(*q.machine, *q.state)
                                   : storage::index_by_machine_prefix(*q.machine));
      } else {
        bool more = false;
        for (const auto& m : state_.catalog().list(std::nullopt, 0, more)) {
          prefixes.push_back(storage::index_by_machine_state_prefix(m.machine, *q.state));
        }
      }
      const std::size_t wanted = static_cast<std::size_t>(q.offset) + q.limit;
      std::vector<std::string> ids;
      for (const auto& prefix : prefixes) {
        std::size_t taken_here = 0;
        store_.scan(Cf::Index, prefix, prefix, [&](std::string_view key, std::string_view) {
          ids.emplace_back(key.substr(prefix.size()));
          return ++taken_here < wanted;
        });
      }
      if (prefixes.size() > 1) std::sort(ids.begin(), ids.end());
      for (std::size_t i = q.offset; i < ids.size(); ++i) {
        auto bytes = store_.get(Cf::Instances, ids[i]);
        storage::InstanceRecord rec;
        if (!bytes || !storage::decode_instance(*bytes, rec) || rec.deleted) continue;
        skipped = q.offset;  // the offset was applied to `ids` already
        if (!add(ids[i], rec)) break;
      }
    }
  }
  const bool has_more = q.offset + taken < total;
  std::string out = "{\"instances\":[" + items + "],\"total\":" + std::to_string(total) +
                    ",\"has_more\":" + (has_more ? "true" : "false") + "}";
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
