#include "engine/catalog.hpp"

#include <mutex>

namespace rstmdb::engine {

MachinePtr MachineCatalog::find(const std::string& machine, std::uint32_t version) const {
  std::shared_lock lock(mutex_);
  auto it = machines_.find(machine);
  if (it == machines_.end()) return nullptr;
  auto v = it->second.find(version);
  return v == it->second.end() ? nullptr : v->second;
}

std::vector<std::uint32_t> MachineCatalog::versions(const std::string& machine) const {
  std::shared_lock lock(mutex_);
  std::vector<std::uint32_t> out;
  if (auto it = machines_.find(machine); it != machines_.end()) {
    for (const auto& [version, _] : it->second)
      out.push_back(version);
  }
  return out;
}

std::size_t MachineCatalog::size() const {
  std::shared_lock lock(mutex_);
  return count_;
}

std::vector<MachineCatalog::Listing> MachineCatalog::list(const std::optional<std::string>& cursor,
                                                          std::uint32_t limit, bool& more) const {
  std::shared_lock lock(mutex_);
  std::vector<Listing> out;
  more = false;
  auto it = cursor ? machines_.upper_bound(*cursor) : machines_.begin();
  for (; it != machines_.end(); ++it) {
    if (limit != 0 && out.size() == limit) {
      more = true;
      break;
    }
    Listing listing{it->first, {}};
    listing.versions.reserve(it->second.size());
    for (const auto& [version, _] : it->second)
      listing.versions.push_back(version);
    out.push_back(std::move(listing));
  }
  return out;
}

void MachineCatalog::insert(MachinePtr version) {
  std::unique_lock lock(mutex_);
  auto& versions = machines_[version->machine];
  if (versions.emplace(version->version, version).second) ++count_;
}

void MachineCatalog::clear() {
  std::unique_lock lock(mutex_);
  machines_.clear();
  count_ = 0;
}

}  // namespace rstmdb::engine
