// In-memory catalog of every stored machine version, compiled. Machine versions are few
// (bounded by what users define, not by history), so they are all loaded at startup and
// looked up without touching RocksDB. Thread-safe: readers share a lock; only the sequencer
// changes the catalog, after the commit that stored the change.
#pragma once

#include "statemachine/definition.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

namespace rstmdb::engine {

struct MachineVersion {
  std::string machine;
  std::uint32_t version = 0;
  statemachine::MachineDefinition definition;
  std::string definition_json;  // as submitted (compact JSON text)
  std::int64_t created_at = 0;
};

using MachinePtr = std::shared_ptr<const MachineVersion>;

class MachineCatalog {
 public:
  MachinePtr find(const std::string& machine, std::uint32_t version) const;
  std::vector<std::uint32_t> versions(const std::string& machine) const;  // ascending
  std::size_t size() const;                                               // (machine, version) pairs

  struct Listing {
    std::string machine;
    std::vector<std::uint32_t> versions;  // ascending
  };
  // Machines whose name sorts after `cursor` (UTF-8 byte order), at most `limit` (0 = all).
  // `more` is set when further machines remain.
  std::vector<Listing> list(const std::optional<std::string>& cursor, std::uint32_t limit, bool& more) const;

  void insert(MachinePtr version);
  void clear();

 private:
  mutable std::shared_mutex mutex_;
  // std::string's ordering compares bytes as unsigned char: UTF-8 byte order.
  std::map<std::string, std::map<std::uint32_t, MachinePtr>> machines_;
  std::size_t count_ = 0;
};

}  // namespace rstmdb::engine
